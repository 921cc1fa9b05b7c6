"""The reads of segment plans (:mod:`leadgraph.rules.mongo`): ids and links of whole
collections, ids matching a compiled filter, and interaction counts per contact."""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

COLLECTIONS = {"contact": "contacts", "lead": "leads", "account": "accounts"}


async def contact_accounts(db: AsyncDatabase) -> dict[ObjectId, Any]:
    """contact id -> account id (or None), for every contact."""
    found = db["contacts"].find({}, {"_id": 1, "accountId": 1})
    return {d["_id"]: d.get("accountId") async for d in found}


async def lead_parents(db: AsyncDatabase) -> dict[ObjectId, ObjectId]:
    """lead id -> parent contact id, for the leads that have a parent contact."""
    found = db["leads"].find({"parentContactId": {"$ne": None}}, {"_id": 1, "parentContactId": 1})
    return {d["_id"]: d["parentContactId"] async for d in found}


async def account_ids(db: AsyncDatabase) -> set[ObjectId]:
    return {d["_id"] async for d in db["accounts"].find({}, {"_id": 1})}


async def ids_where(db: AsyncDatabase, entity: str, query: dict[str, Any]) -> set[ObjectId]:
    """The ids of the ``entity`` records (contact, lead, account) matching ``query``."""
    return {d["_id"] async for d in db[COLLECTIONS[entity]].find(query, {"_id": 1})}


async def event_counts(db: AsyncDatabase, pipeline: list[dict[str, Any]]) -> dict[Any, int]:
    """``{contact id: n}`` from an interactions pipeline grouping by contact."""
    return {d["_id"]: d["n"] async for d in await db["interactions"].aggregate(pipeline)}
