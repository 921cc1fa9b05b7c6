"""The ``segment_members`` collection: who is on a static segment's list (one document per
segment and contact, so adding and removing are idempotent and concurrent-safe)."""

from __future__ import annotations

from bson import ObjectId
from pymongo import ASCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from ..types import Session
from ._base import BATCH_ALL, now

NAME = "segment_members"
INDEXES = {
    NAME: [
        IndexModel(
            [("segmentId", ASCENDING), ("contactId", ASCENDING)],
            name="segment_contact",
            unique=True,
        ),
        IndexModel([("contactId", ASCENDING)], name="contact"),
    ]
}


async def ids(db: AsyncDatabase, segment_id: ObjectId) -> set[ObjectId]:
    """The contacts on the list."""
    found = db[NAME].find({"segmentId": segment_id}, {"contactId": 1}, batch_size=BATCH_ALL)
    return {d["contactId"] async for d in found}


async def listed(db: AsyncDatabase, contact_id: ObjectId) -> set[ObjectId]:
    """The static segments (ids) whose list holds the contact."""
    found = db[NAME].find({"contactId": contact_id}, {"segmentId": 1})
    return {d["segmentId"] async for d in found}


async def add(
    db: AsyncDatabase,
    segment_id: ObjectId,
    contact_ids: list[ObjectId],
    session: Session | None = None,
) -> int:
    """Put the contacts on the list; returns how many were not on it yet."""
    if not contact_ids:
        return 0
    stamp = now()
    ops = [
        UpdateOne(
            {"segmentId": segment_id, "contactId": c},
            {"$setOnInsert": {"addedAt": stamp}},
            upsert=True,
        )
        for c in dict.fromkeys(contact_ids)
    ]
    result = await db[NAME].bulk_write(ops, ordered=False, session=session)
    return result.upserted_count


async def remove(
    db: AsyncDatabase,
    segment_id: ObjectId,
    contact_ids: list[ObjectId],
    session: Session | None = None,
) -> int:
    """Take the contacts off the list; returns how many were on it."""
    query = {"segmentId": segment_id, "contactId": {"$in": list(contact_ids)}}
    return (await db[NAME].delete_many(query, session=session)).deleted_count


async def drop_segment(
    db: AsyncDatabase, segment_id: ObjectId, session: Session | None = None
) -> None:
    await db[NAME].delete_many({"segmentId": segment_id}, session=session)
