"""The ``webhooks`` collection: the endpoints events are delivered to.

``{_id, url, events: ["contact.updated", "lead.*", "*"], secret: "whsec_...", active,
description, disabledReason, failureCount, failingSince, createdAt, updatedAt}`` —
``failureCount`` counts the endpoint's failed attempts since its last success (since
``failingSince``): a long enough run of them disables it (:mod:`leadgraph.services.delivery`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from ..types import Session
from ._base import delete_by_id, get_by_id, insert_new, now, set_changes

NAME = "webhooks"
# a handful of documents, read whole (``active``): no index but _id's. "active" (a boolean
# index no planner would pick for them) was dropped.
INDEXES: dict[str, list[IndexModel]] = {NAME: []}
RETIRED = {NAME: ["active"]}


async def create(
    db: AsyncDatabase, doc: dict[str, Any], session: Session | None = None
) -> dict[str, Any]:
    at = now()
    return await insert_new(
        db[NAME],
        {**doc, "failureCount": 0, "failingSince": None, "createdAt": at, "updatedAt": at},
        session=session,
    )


async def get(
    db: AsyncDatabase, oid: ObjectId, session: Session | None = None
) -> dict[str, Any] | None:
    return await get_by_id(db[NAME], oid, session=session)


async def every(db: AsyncDatabase) -> list[dict[str, Any]]:
    """Every webhook, oldest first."""
    return await db[NAME].find().sort("_id", ASCENDING).to_list()


async def active(db: AsyncDatabase) -> list[dict[str, Any]]:
    """The webhooks events are delivered to, oldest first."""
    return await db[NAME].find({"active": True}).sort("_id", ASCENDING).to_list()


async def count(db: AsyncDatabase) -> int:
    return await db[NAME].count_documents({})


async def update(
    db: AsyncDatabase, oid: ObjectId, changes: dict[str, Any], session: Session | None = None
) -> dict[str, Any] | None:
    return await set_changes(db[NAME], oid, changes, session=session)


async def delete(db: AsyncDatabase, oid: ObjectId, session: Session | None = None) -> bool:
    return await delete_by_id(db[NAME], oid, session=session)


async def succeeded(db: AsyncDatabase, oid: ObjectId) -> None:
    """An attempt succeeded: the run of failures (if any) is over."""
    await db[NAME].update_one(
        {"_id": oid, "failureCount": {"$ne": 0}},
        {"$set": {"failureCount": 0, "failingSince": None}},
    )


async def failed(db: AsyncDatabase, oid: ObjectId, at: datetime) -> dict[str, Any] | None:
    """One more failed attempt in the endpoint's run of failures; the webhook after."""
    doc = await db[NAME].find_one_and_update(
        {"_id": oid}, {"$inc": {"failureCount": 1}}, return_document=ReturnDocument.AFTER
    )
    if doc is not None and doc.get("failingSince") is None:  # the first of a run
        await db[NAME].update_one(
            {"_id": oid, "failingSince": None}, {"$set": {"failingSince": at}}
        )
        doc["failingSince"] = at
    return doc


async def disable(
    db: AsyncDatabase, oid: ObjectId, reason: str, session: Session | None = None
) -> dict[str, Any] | None:
    """Stop delivering to an endpoint (if it was active), saying why; the endpoint as it was,
    or None when it was not active."""
    found: dict[str, Any] | None = await db[NAME].find_one_and_update(
        {"_id": oid, "active": True},
        {"$set": {"active": False, "disabledReason": reason, "updatedAt": now()}},
        session=session,
    )
    return found
