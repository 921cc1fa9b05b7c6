"""Indexes an earlier version created and a compound index now serves are dropped at start-up
(``ensure_indexes``), and dropping one that is already gone is no error."""

from __future__ import annotations

from typing import Any

from leadgraph.db import ensure_indexes
from leadgraph.store import INDEXES, RETIRED_INDEXES
from pymongo import ASCENDING


async def test_retired_indexes_are_dropped_and_the_compound_ones_made(api: Any) -> None:
    db = api.db
    await db.leads.create_index([("stage", ASCENDING)], name="stage")
    await db.contacts.create_index([("marketingOnly", ASCENDING)], name="marketingOnly")
    await ensure_indexes(db)
    await ensure_indexes(db)  # again: every retired index already gone
    for collection, names in RETIRED_INDEXES.items():
        have = {i["name"] async for i in await db[collection].list_indexes()}
        assert not have & set(names), (collection, have & set(names))
        declared = {m.document["name"] for m in INDEXES.get(collection, [])}
        assert declared <= have, declared - have


def test_no_retired_name_is_declared_again() -> None:
    for collection, names in RETIRED_INDEXES.items():
        declared = {m.document["name"] for m in INDEXES.get(collection, [])}
        assert not declared & set(names)
