"""Helpers shared by the collection modules."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

# Batch size for finds whose whole result is wanted at once (``$in`` batches of a DataLoader,
# pages): the server then answers in one reply (up to its 16 MiB message limit) instead of a
# 101-document first batch followed by getMore round trips.
BATCH_ALL = 100_000


def now() -> datetime:
    # MongoDB stores milliseconds; truncate so a value read back equals the one written.
    t = datetime.now(UTC)
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


async def find_by_ids(
    collection: AsyncCollection, ids: list[ObjectId], projection: dict[str, Any] | None = None
) -> dict[ObjectId, dict[str, Any]]:
    """One ``$in`` query for many ids; returns a dict id -> document."""
    unique = list(dict.fromkeys(ids))
    if not unique:
        return {}
    docs = await collection.find(
        {"_id": {"$in": unique}}, projection, batch_size=BATCH_ALL
    ).to_list()
    return {d["_id"]: d for d in docs}


async def insert_all(
    collection: AsyncCollection, docs: list[dict[str, Any]], session: Any = None
) -> None:
    """Store complete documents (``_id`` included) with one unordered bulk insert."""
    if docs:
        await collection.insert_many(docs, ordered=False, session=session)


async def update_returning(
    collection: AsyncCollection, oid: ObjectId, update: dict[str, Any], session: Any = None
) -> dict[str, Any] | None:
    return await collection.find_one_and_update(
        {"_id": oid}, update, return_document=ReturnDocument.AFTER, session=session
    )


def between(field: str, after: Any = None, before: Any = None) -> dict[str, Any]:
    """``{field: {$gte: after, $lt: before}}`` with the bounds given; ``{}`` with neither."""
    bounds = {op: v for op, v in (("$gte", after), ("$lt", before)) if v is not None}
    return {field: bounds} if bounds else {}
