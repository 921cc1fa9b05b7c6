"""The ``merges`` collection: the audit record of each contact merge, enough to undo it."""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from ._base import now

NAME = "merges"
INDEXES = {
    NAME: [
        IndexModel([("survivorId", ASCENDING), ("createdAt", DESCENDING)], name="survivor"),
        IndexModel([("duplicateIds", ASCENDING)], name="duplicates"),
    ]
}


async def insert(db: AsyncDatabase, record: dict[str, Any], session: Any = None) -> None:
    await db[NAME].insert_one(record, session=session)


async def get(db: AsyncDatabase, merge_id: ObjectId, session: Any = None) -> dict[str, Any] | None:
    return await db[NAME].find_one({"_id": merge_id}, session=session)


async def mark_undone(db: AsyncDatabase, merge_id: ObjectId, session: Any = None) -> None:
    await db[NAME].update_one({"_id": merge_id}, {"$set": {"undoneAt": now()}}, session=session)


async def of_survivor(db: AsyncDatabase, contact_id: ObjectId, limit: int) -> list[dict[str, Any]]:
    """The latest ``limit`` merges into a contact, newest first."""
    cursor = db[NAME].find({"survivorId": contact_id}).sort("createdAt", -1).limit(limit)
    return await cursor.to_list()
