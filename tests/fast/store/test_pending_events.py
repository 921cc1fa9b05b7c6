"""The events sweep's read (``leadgraph.store.events.pending``): oldest first through the
partial ``pending`` index, and the same answer on a database whose indexes are not made yet
(a first start whose sweep runs ahead of ``ensure_indexes`` logged a failed round before)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bson import ObjectId
from leadgraph.store import events
from pymongo.asynchronous.database import AsyncDatabase


async def _stored(db: AsyncDatabase) -> list[ObjectId]:
    old = datetime.now(UTC) - timedelta(minutes=5)
    ids = [ObjectId.from_datetime(old + timedelta(seconds=s)) for s in (3, 1, 2)]
    await db[events.NAME].insert_many(
        [{"_id": i, "type": "contact.created", "pending": True} for i in ids]
        + [{"_id": ObjectId.from_datetime(old), "type": "contact.created"}]  # dispatched
    )
    return sorted(ids)


async def test_pending_oldest_first_through_the_index(db: AsyncDatabase) -> None:
    ids = await _stored(db)
    found = await events.pending(db, datetime.now(UTC), limit=2)
    assert [d["_id"] for d in found] == ids[:2]


async def test_pending_without_the_index(db: AsyncDatabase) -> None:
    await db[events.NAME].drop_index("pending")
    ids = await _stored(db)
    found = await events.pending(db, datetime.now(UTC), limit=10)
    assert [d["_id"] for d in found] == ids
    recent = await events.pending(db, datetime.now(UTC) - timedelta(hours=1), limit=10)
    assert recent == []
