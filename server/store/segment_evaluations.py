"""The ``segment_evaluations`` collection: a segment's members as evaluated at a time, stored
compactly (the sorted 12-byte ids concatenated), with what changed since the evaluation
before; ``segmentDiff`` compares them and ``segmentMembershipChanged`` follows new ones."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bson import Binary, ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.change_stream import AsyncChangeStream
from pymongo.asynchronous.database import AsyncDatabase

from ..types import Session
from ._base import now

NAME = "segment_evaluations"
INDEXES = {
    NAME: [IndexModel([("segment", ASCENDING), ("at", DESCENDING)], name="segment_at")],
}


def pack(ids: list[ObjectId]) -> Binary:
    return Binary(b"".join(i.binary for i in sorted(ids)))


def unpack(data: bytes) -> list[ObjectId]:
    return [ObjectId(bytes(data[i : i + 12])) for i in range(0, len(data), 12)]


async def latest(
    db: AsyncDatabase, segment: str, at_or_before: datetime | None = None
) -> dict[str, Any] | None:
    """The segment's last evaluation (at or before a time, when given)."""
    query: dict[str, Any] = {"segment": segment}
    if at_or_before is not None:
        query["at"] = {"$lte": at_or_before}
    return await db[NAME].find_one(query, sort=[("at", DESCENDING), ("_id", DESCENDING)])


async def record(
    db: AsyncDatabase,
    segment: str,
    members: list[ObjectId],
    added: list[ObjectId],
    removed: list[ObjectId],
    reason: str,
    session: Session | None = None,
) -> dict[str, Any]:
    doc = {
        "segment": segment,
        "at": now(),
        "count": len(members),
        "members": pack(members),
        "added": added,
        "removed": removed,
        "reason": reason,
    }
    doc["_id"] = (await db[NAME].insert_one(doc, session=session)).inserted_id
    return doc


async def get(db: AsyncDatabase, oid: ObjectId) -> dict[str, Any] | None:
    return await db[NAME].find_one({"_id": oid})


async def drop_segment(db: AsyncDatabase, segment: str, session: Session | None = None) -> None:
    await db[NAME].delete_many({"segment": segment}, session=session)


async def watch_inserts(
    db: AsyncDatabase, resume_after: Mapping[str, Any] | None = None
) -> AsyncChangeStream[dict[str, Any]]:
    """A change stream of new evaluations (the live feed of ``segmentMembershipChanged``)."""
    pipeline = [{"$match": {"operationType": "insert"}}]
    return await db[NAME].watch(pipeline, resume_after=resume_after)
