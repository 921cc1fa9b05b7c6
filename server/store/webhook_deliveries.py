"""The ``webhook_deliveries`` collection: one document per (webhook, event) to deliver.

``{_id, webhook, event, type, status: pending | delivered | failed | cancelled, attempts,
nextAttemptAt, retryUntil, claim, lastAttemptAt, lastStatus, lastError, lastResponse,
deliveredAt, createdAt}``.

A worker claims a due pending delivery by moving its ``nextAttemptAt`` to the end of a lease
and stamping a fresh ``claim`` token, in one ``find_one_and_update``: no other worker (in this
process or another) sees it as due until the lease ends, and the attempt's outcome is written
only while the claim is still the worker's.  A worker killed mid-attempt leaves the delivery
due again when its lease ends.  The unique (webhook, event) index makes enqueueing an event
twice (a dispatch retried after a crash) a no-op.  A TTL index on ``createdAt`` keeps a
delivery as long as its event is kept (``LEADGRAPH_EVENT_RETENTION_DAYS``,
:func:`ensure_retention`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, OperationFailure

from ..cursors import Order, Page
from ..types import Session
from ._base import get_by_id
from .pagination import paginate

NAME = "webhook_deliveries"
INDEXES = {
    NAME: [
        IndexModel(
            [("webhook", ASCENDING), ("event", ASCENDING)], name="webhook_event", unique=True
        ),
        IndexModel([("status", ASCENDING), ("nextAttemptAt", ASCENDING)], name="due"),
        IndexModel([("webhook", ASCENDING), ("_id", DESCENDING)], name="webhook_newest"),
    ]
}
NEWEST_FIRST = Order("_id", descending=True)
TTL_INDEX = "created_ttl"


async def ensure_retention(db: AsyncDatabase, days: float) -> None:
    """The TTL index on ``createdAt`` expiring deliveries after ``days``, as events expire
    (created, or changed in place with ``collMod`` when the setting changed)."""
    seconds = max(int(days * 86400), 1)
    model = IndexModel([("createdAt", ASCENDING)], name=TTL_INDEX, expireAfterSeconds=seconds)
    try:
        await db[NAME].create_indexes([model])
    except OperationFailure as exc:
        if exc.code not in (85, 86):  # IndexOptionsConflict / IndexKeySpecsConflict
            raise
        await db.command("collMod", NAME, index={"name": TTL_INDEX, "expireAfterSeconds": seconds})


async def enqueue(db: AsyncDatabase, docs: list[dict[str, Any]]) -> int:
    """Store the deliveries of ``docs`` ((webhook, event) pairs not stored yet); how many
    were new.  Two processes enqueueing the same pair store it once."""
    if not docs:
        return 0
    ops = [
        UpdateOne({"webhook": d["webhook"], "event": d["event"]}, {"$setOnInsert": d}, upsert=True)
        for d in docs
    ]
    try:
        result = await db[NAME].bulk_write(ops, ordered=False)
    except BulkWriteError as exc:  # a concurrent upsert of the same pair won the unique index
        details = exc.details
        if any(e.get("code") != 11000 for e in details.get("writeErrors", [])):
            raise
        return int(details.get("nUpserted", 0))
    return result.upserted_count


async def claim(db: AsyncDatabase, at: datetime, lease_until: datetime) -> dict[str, Any] | None:
    """Lease the delivery due longest (pending, its next attempt at or before ``at``) until
    ``lease_until``; the delivery as claimed (its ``claim`` token names this lease)."""
    return await db[NAME].find_one_and_update(
        {"status": "pending", "nextAttemptAt": {"$lte": at}},
        {"$set": {"nextAttemptAt": lease_until, "claim": ObjectId()}},
        sort=[("nextAttemptAt", ASCENDING)],
        return_document=ReturnDocument.AFTER,
    )


async def settle(
    db: AsyncDatabase, oid: ObjectId, claim: ObjectId, changes: dict[str, Any]
) -> bool:
    """Write an attempt's outcome if the lease ``claim`` is still held (False: it ran out
    and another worker has the delivery now)."""
    result = await db[NAME].update_one(
        {"_id": oid, "claim": claim}, {"$set": {**changes, "claim": None}}
    )
    return bool(result.matched_count)


async def get(db: AsyncDatabase, oid: ObjectId) -> dict[str, Any] | None:
    return await get_by_id(db[NAME], oid)


async def page(
    db: AsyncDatabase, webhook: ObjectId, *, first: int | None, after: str | None
) -> Page:
    """A webhook's deliveries, newest first."""
    return await paginate(db[NAME], {"webhook": webhook}, NEWEST_FIRST, first=first, after=after)


async def count(db: AsyncDatabase, webhook: ObjectId) -> int:
    return await db[NAME].count_documents({"webhook": webhook})


async def requeue(
    db: AsyncDatabase, oid: ObjectId, at: datetime, retry_until: datetime
) -> dict[str, Any] | None:
    """Deliver again from ``at`` on (retried until ``retry_until``), whatever its status."""
    return await db[NAME].find_one_and_update(
        {"_id": oid},
        {
            "$set": {
                "status": "pending",
                "nextAttemptAt": at,
                "retryUntil": retry_until,
                "claim": None,
            },
        },
        return_document=ReturnDocument.AFTER,
    )


async def delete_of_webhook(
    db: AsyncDatabase, webhook: ObjectId, session: Session | None = None
) -> int:
    return (await db[NAME].delete_many({"webhook": webhook}, session=session)).deleted_count
