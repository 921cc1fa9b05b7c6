"""``rulesStatus``, ``reloadRules`` and segments over GraphQL (the mixins in a small schema)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import strawberry
from bson import ObjectId
from leadgraph.api.rules import RulesMutation, RulesQuery
from leadgraph.api.segments.resolvers import SegmentQuery
from leadgraph.config import Settings
from leadgraph.rules.manager import RulesManager
from leadgraph.web.auth import Principal
from leadgraph.web.context import Context
from leadgraph.web.loaders import Loaders
from pymongo.asynchronous.database import AsyncDatabase

from .gen import NOW
from .helpers import INVALID, copy_rules


@strawberry.type
class Query(RulesQuery, SegmentQuery):
    pass


@strawberry.type
class Mutation(RulesMutation):
    pass


SCHEMA = strawberry.Schema(query=Query, mutation=Mutation)
STATUS = "{ version loadedAt errors { file line column message } }"


async def run(query: str, manager: RulesManager, db: AsyncDatabase, role: str = "admin") -> Any:
    context = Context(
        db=db,
        loaders=Loaders(db),
        settings=Settings(),
        principal=Principal("test", role),
        rules=manager,
    )
    return await SCHEMA.execute(query, context_value=context)


async def test_rules_status_and_reload(db: AsyncDatabase, tmp_path: Path) -> None:
    directory = copy_rules(tmp_path / "rules")
    manager = RulesManager(directory)
    assert manager.reload()
    result = await run(f"{{ rulesStatus {STATUS} }}", manager, db)
    assert result.errors is None
    assert result.data["rulesStatus"]["version"] == manager.version
    assert result.data["rulesStatus"]["errors"] == []

    (directory / "oops.yaml").write_text((INVALID / "unknown_field.yml").read_text())
    result = await run(f"mutation {{ reloadRules {STATUS} }}", manager, db)
    assert result.errors is None
    status = result.data["reloadRules"]
    assert status["version"] == manager.version  # still the previous, good rules
    assert {"file": "oops.yaml", "line": 8, "column": 5} in [
        {k: e[k] for k in ("file", "line", "column")} for e in status["errors"]
    ]


async def test_only_admins_see_or_reload_rules(db: AsyncDatabase, tmp_path: Path) -> None:
    manager = RulesManager(copy_rules(tmp_path / "rules"))
    assert manager.reload()
    for query in (f"{{ rulesStatus {STATUS} }}", f"mutation {{ reloadRules {STATUS} }}"):
        result = await run(query, manager, db, role="marketer")
        assert result.errors and "rules:admin" in str(result.errors[0].message)


async def test_segment_members_are_paged(db: AsyncDatabase, tmp_path: Path) -> None:
    manager = RulesManager(copy_rules(tmp_path / "rules"))
    assert manager.reload()
    ids = sorted(ObjectId() for _ in range(5))
    await db.contacts.insert_many(
        [
            {
                "_id": i,
                "firstName": f"c{n}",
                "role": "decisionMaker",
                "createdAt": NOW,
                "updatedAt": NOW,
            }
            for n, i in enumerate(ids)
        ]
    )
    await db.leads.insert_many(
        [{"topic": "Contoso Ltd Conference", "parentContactId": i} for i in ids[:3]]
    )
    query = """query($after: String) { segments { name }
      segment(name: "contoso-conference-decision-makers") {
        memberCount
        members(first: 2, after: $after) {
          pageInfo { hasNextPage endCursor } edges { node { firstName } } } } }"""
    context = Context(
        db=db,
        loaders=Loaders(db),
        settings=Settings(),
        principal=Principal("test", "read-only"),
        rules=manager,
    )
    first = await SCHEMA.execute(query, context_value=context)
    assert first.errors is None and first.data is not None, first.errors
    segment = first.data["segment"]
    assert segment["memberCount"] == 3
    assert [e["node"]["firstName"] for e in segment["members"]["edges"]] == ["c0", "c1"]
    assert segment["members"]["pageInfo"]["hasNextPage"] is True
    assert "contoso-conference-decision-makers" in [s["name"] for s in first.data["segments"]]
    cursor = segment["members"]["pageInfo"]["endCursor"]
    context.extras.clear()
    second = await SCHEMA.execute(query, variable_values={"after": cursor}, context_value=context)
    assert second.errors is None and second.data is not None, second.errors
    page = second.data["segment"]["members"]
    assert [e["node"]["firstName"] for e in page["edges"]] == ["c2"]
    assert page["pageInfo"]["hasNextPage"] is False
