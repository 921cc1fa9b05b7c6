"""Orphan leads stored before the seeds' recommended setup (or while it was off) are linked
at start-up as new ones are (issue 20, orphan leads): through the matching service (the lead's
email finds an existing contact first, else a ``marketingOnly`` contact is created), then
scored; the matching file's ``link_orphan_leads: false`` leaves them orphans."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from conftest import Api, serving
from foundation import gid
from pymongo import AsyncMongoClient
from shipped import SHIPPED

LEADS = """{ leads(filter: {orphan: false}) { totalCount edges { node {
  id topic orphan scores { model } parentContact { id email marketingOnly } } } } }"""


def _orphan(topic: str, email: str) -> dict[str, Any]:
    t = datetime.now(UTC)
    return {
        "topic": topic,
        "email": email,
        "emailNormalized": email,
        "lastName": topic.title(),
        "parentContactId": None,
        "parentAccountId": None,
        "stage": "inquiry",
        "stageHistory": [],
        "scores": [],
        "status": "open",
        "rev": 0,
        "createdAt": t,
        "updatedAt": t,
    }


@asynccontextmanager
async def _started(
    client: AsyncMongoClient, uri: str, rules: Path = SHIPPED
) -> AsyncIterator[tuple[Api, Any]]:
    """A database holding an existing contact and two orphan leads (stored before the server
    started), then a server of its own started on it."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    db = client[name]
    t = datetime.now(UTC)
    known = await db.contacts.insert_one(
        {
            "lastName": "Ito",
            "email": "ito@contoso.com",
            "emailNormalized": "ito@contoso.com",
            "marketingOnly": False,
            "createdAt": t,
            "updatedAt": t,
        }
    )
    await db.leads.insert_many(
        [_orphan("platform", "ito@contoso.com"), _orphan("walk-in", "new@walkin.example")]
    )
    try:
        async with serving(client, uri, name, rules) as app, httpx.AsyncClient(timeout=60) as http:
            await app.state.leadgraph.orphan_link  # the start-up step, run to its end
            yield Api(base_url=app.base_url, http=http, db=db), known.inserted_id
    finally:
        await client.drop_database(name)


async def test_stored_orphan_leads_are_linked_at_start_up(
    mongo_client: AsyncMongoClient, mongo_uri: str
) -> None:
    async with _started(mongo_client, mongo_uri) as (api, known):
        data = (await api.gql(LEADS))["leads"]
        assert data["totalCount"] == 2
        by_topic = {e["node"]["topic"]: e["node"] for e in data["edges"]}
        matched = by_topic["platform"]["parentContact"]
        assert matched == {
            "id": gid("Contact", known),
            "email": "ito@contoso.com",
            "marketingOnly": False,
        }  # the existing contact, found by email
        created = by_topic["walk-in"]["parentContact"]
        assert created["email"] == "new@walkin.example" and created["marketingOnly"] is True
        assert all(n["scores"] for n in by_topic.values())  # linked, then scored
        orphans = await api.gql("{ leads(filter: {orphan: true}) { totalCount } }")
        assert orphans["leads"]["totalCount"] == 0
        assert await api.db.contacts.count_documents({}) == 2


async def test_link_orphan_leads_false_leaves_them(
    mongo_client: AsyncMongoClient, mongo_uri: str, tmp_path: Path
) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(SHIPPED, rules)
    matching = rules / "matching.yaml"
    text = matching.read_text()
    assert "link_orphan_leads: true" in text
    matching.write_text(text.replace("link_orphan_leads: true", "link_orphan_leads: false"))
    async with _started(mongo_client, mongo_uri, rules) as (api, _):
        orphans = await api.gql("{ leads(filter: {orphan: true}) { totalCount } }")
        assert orphans["leads"]["totalCount"] == 2
        assert await api.db.contacts.count_documents({}) == 1
