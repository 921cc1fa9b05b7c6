"""The ``subscription_lists`` collection: the lists contacts subscribe to.

``{_id, name (unique), status: active | archived, createdAt, updatedAt}``.  A contact's
membership lives in the contact document (``subscriptions`` / ``unsubscribed``: list names),
so a rename updates both arrays of every contact in the same transaction
(:func:`leadgraph.store.contacts.rename_subscription`).
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, IndexModel, ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from ..types import Session
from ._base import get_by_id, now

NAME = "subscription_lists"
STATUSES = ("active", "archived")

INDEXES = {NAME: [IndexModel([("name", ASCENDING)], name="name_unique", unique=True)]}


async def create(db: AsyncDatabase, name: str, session: Session | None = None) -> dict[str, Any]:
    """A new active list (a taken name raises ``DuplicateKeyError``)."""
    t = now()
    doc: dict[str, Any] = {"name": name, "status": "active", "createdAt": t, "updatedAt": t}
    doc["_id"] = (await db[NAME].insert_one(doc, session=session)).inserted_id
    return doc


async def ensure(db: AsyncDatabase, names: list[str]) -> None:
    """Make sure active lists named ``names`` exist (the demo seed; idempotent; one
    ``bulk_write`` of upserts)."""
    if not names:
        return
    t = now()
    new = {"$setOnInsert": {"status": "active", "createdAt": t, "updatedAt": t}}
    await db[NAME].bulk_write(
        [UpdateOne({"name": name}, new, upsert=True) for name in names], ordered=False
    )


async def get(
    db: AsyncDatabase, oid: ObjectId, session: Session | None = None
) -> dict[str, Any] | None:
    return await get_by_id(db[NAME], oid, session=session)


async def by_names(
    db: AsyncDatabase, names: list[str], session: Session | None = None
) -> dict[str, dict[str, Any]]:
    """The lists named ``names`` that exist, by name (one ``$in`` find)."""
    if not names:
        return {}
    cursor = db[NAME].find({"name": {"$in": list(dict.fromkeys(names))}}, session=session)
    return {d["name"]: d async for d in cursor}


async def all_lists(
    db: AsyncDatabase, status: str | None = None, session: Session | None = None
) -> list[dict[str, Any]]:
    """Every list (of ``status`` when given), by name."""
    query = {"status": status} if status else {}
    return await db[NAME].find(query, session=session).sort("name", ASCENDING).to_list()


async def names(db: AsyncDatabase) -> list[str]:
    """The name of every list, whatever its status (what a condition or segment may name)."""
    return [d["name"] async for d in db[NAME].find({}, {"name": 1, "_id": 0})]


async def set_fields(
    db: AsyncDatabase, oid: ObjectId, fields: dict[str, Any], session: Session | None = None
) -> dict[str, Any] | None:
    """``$set`` on one list; the list after, or None.  A taken name raises
    ``DuplicateKeyError``."""
    return await db[NAME].find_one_and_update(
        {"_id": oid},
        {"$set": {**fields, "updatedAt": now()}},
        return_document=ReturnDocument.AFTER,
        session=session,
    )
