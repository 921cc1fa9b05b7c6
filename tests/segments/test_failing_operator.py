"""A segment whose evaluation raises (here a plugin operator whose MongoDB filter raises) answers
``SEGMENT_EVALUATION_FAILED`` on its own fields; the list and the other segments answer."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Api, serving
from leadgraph import hookimpl
from leadgraph.plugin_manager import get_plugin_manager
from pymongo import AsyncMongoClient
from shipped import SHIPPED

from .helpers import contact

RULES = """\
segments:
  - name: exploding
    where: {fact: contact.role, op: explodes, value: user}
"""


class _Explodes:
    """An operator that accepts its value on load and fails when a query is built."""

    def test(self, values: list[Any], value: Any) -> bool:
        raise RuntimeError("the partner's operator broke")

    def mongo(self, path: str, value: Any) -> dict[str, Any]:
        raise RuntimeError("the partner's operator broke")


class _Partner:
    @hookimpl
    def leadgraph_condition_operators(self) -> dict[str, Any]:
        return {"explodes": _Explodes()}


@pytest.fixture
async def partner(
    tmp_path: Path, mongo_client: AsyncMongoClient, mongo_uri: str
) -> AsyncIterator[Api]:
    rules = tmp_path / "rules"
    shutil.copytree(SHIPPED, rules)
    (rules / "partner.yaml").write_text(RULES)
    pm = get_plugin_manager()
    pm.register(_Partner(), name="partner")
    name = f"t_{uuid.uuid4().hex[:12]}"
    async with serving(mongo_client, mongo_uri, name, rules, pm=pm) as app:
        assert app.state.leadgraph.rules.current is not None, app.state.leadgraph.rules.errors
        async with httpx.AsyncClient(timeout=60) as http:
            yield Api(base_url=app.base_url, http=http, db=mongo_client[name])
    await mongo_client.drop_database(name)


async def test_a_raising_operator_fails_only_its_own_segment(partner: Api) -> None:
    await contact(partner, "dm@example.com", role="DECISION_MAKER")
    response = await partner.post("{ segments { name memberCount } }", role="read-only")
    body = response.json()
    counts = {s["name"]: s["memberCount"] for s in body["data"]["segments"]}
    assert counts["exploding"] is None
    assert counts["contoso-conference-decision-makers"] == 0
    (error,) = body["errors"]
    assert error["path"] == ["segments", list(counts).index("exploding"), "memberCount"]
    assert error["extensions"]["code"] == "SEGMENT_EVALUATION_FAILED"
    assert error["extensions"]["segment"] == "exploding"
    assert "broke" not in error["message"]  # the plugin's words stay in the server log
