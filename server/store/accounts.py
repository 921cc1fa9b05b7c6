"""The ``accounts`` collection."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from .. import normalize
from ..documents import ACCOUNTS
from ..types import AccountDoc, Session
from ._base import (
    between,
    delete_by_id,
    find_by_ids,
    get_by_id,
    in_chunks,
    insert_all,
    insert_new,
    matching_ids,
    now,
    set_changes,
    stored,
    stored_or_none,
)

NAME = ACCOUNTS

INDEXES = {
    NAME: [
        IndexModel([("nameNormalized", ASCENDING), ("_id", ASCENDING)], name="nameNormalized_id"),
        IndexModel([("domain", ASCENDING)], name="domain"),
        IndexModel([("createdAt", DESCENDING), ("_id", DESCENDING)], name="createdAt_id"),
        IndexModel([("updatedAt", DESCENDING), ("_id", DESCENDING)], name="updatedAt_id"),
        # one per filter of the accounts connection, ending in its default order (createdAt)
        *(
            IndexModel([(path, ASCENDING), ("createdAt", ASCENDING), ("_id", ASCENDING)], name=path)
            for path in ("industry", "country")
        ),
    ]
}


def apply_fields(doc: dict[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    changes = dict(fields)
    if "domain" in fields:
        changes["domain"] = normalize.domain(fields["domain"]) if fields["domain"] else None
    if "name" in fields:
        changes["nameNormalized"] = normalize.name(fields["name"] or "")
    doc.update(changes)
    return changes


def new_document(fields: Mapping[str, Any]) -> AccountDoc:
    t = now()
    doc: dict[str, Any] = {
        "name": None,
        "nameNormalized": "",
        "domain": None,
        "industry": None,
        "numberOfEmployees": None,
        "annualRevenue": None,
        "country": None,
        "createdAt": t,
        "updatedAt": t,
    }
    apply_fields(doc, fields)
    return stored(doc, AccountDoc)


async def create(
    db: AsyncDatabase, fields: dict[str, Any], session: Session | None = None
) -> AccountDoc:
    """Store a new account made from validated input ``fields`` (:func:`new_document` fills in
    the defaults); returns it with its ``_id``."""
    doc = await insert_new(db[NAME], dict(new_document(fields)), session=session)
    return stored(doc, AccountDoc)


async def get(
    db: AsyncDatabase, oid: ObjectId, session: Session | None = None
) -> AccountDoc | None:
    return stored_or_none(await get_by_id(db[NAME], oid, session=session), AccountDoc)


async def update(
    db: AsyncDatabase, oid: ObjectId, fields: dict[str, Any], session: Session | None = None
) -> AccountDoc | None:
    changes = apply_fields({}, fields)
    return stored_or_none(await set_changes(db[NAME], oid, changes, session=session), AccountDoc)


def filter_query(
    *,
    name_contains: str | None = None,
    domain: str | None = None,
    industry: str | None = None,
    country: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> dict[str, Any]:
    query: dict[str, Any] = {}
    if name_contains:
        query["nameNormalized"] = {"$regex": re.escape(normalize.name(name_contains))}
    if domain:
        query["domain"] = normalize.domain(domain)
    if industry is not None:
        query["industry"] = industry
    if country is not None:
        query["country"] = country
    query.update(between("createdAt", created_after, created_before))
    return query


async def by_ids(db: AsyncDatabase, ids: list[ObjectId]) -> dict[ObjectId, dict[str, Any]]:
    """Accounts by id (one ``$in`` read)."""
    return await matching_ids(db[NAME], ids)


async def claim_rollups(db: AsyncDatabase, ids: list[ObjectId]) -> dict[ObjectId, int]:
    """Announce a new roll-up of these accounts' scores: their ``rollupRev`` goes up by one;
    returns each existing account's revision after that (see :func:`set_rollups`)."""
    if len(ids) == 1:  # the live case (one contact engaged): one round trip
        doc = await db[NAME].find_one_and_update(
            {"_id": ids[0]},
            {"$inc": {"rollupRev": 1}},
            projection={"rollupRev": 1},
            return_document=ReturnDocument.AFTER,
        )
        return {doc["_id"]: int(doc["rollupRev"])} if doc else {}
    await db[NAME].update_many({"_id": {"$in": ids}}, {"$inc": {"rollupRev": 1}})
    found = await find_by_ids(db[NAME], ids, {"rollupRev": 1})
    return {oid: int(doc.get("rollupRev") or 0) for oid, doc in found.items()}


async def set_rollups(
    db: AsyncDatabase, rollups: list[tuple[ObjectId, int, list[dict[str, Any]]]], version: str
) -> None:
    """Store each ``(account, revision claimed, scores)`` unless a later roll-up of the account
    was claimed meanwhile (it read newer scores, and stores them).  One unordered bulk write."""
    if not rollups:
        return
    t = now()
    ops = [
        UpdateOne(
            {"_id": oid, "rollupRev": rev},
            {"$set": {"scores": scores, "scoresAt": t, "scoresVersion": version}},
        )
        for oid, rev, scores in rollups
    ]
    await db[NAME].bulk_write(ops, ordered=False)


async def id_batches(db: AsyncDatabase, size: int) -> AsyncIterator[list[ObjectId]]:
    """Every account id in ``_id`` order, ``size`` at a time."""
    cursor = db[NAME].find({}, {"_id": 1}).sort("_id", 1).batch_size(size)
    async for chunk in in_chunks(cursor, size):
        yield [doc["_id"] for doc in chunk]


async def delete(db: AsyncDatabase, oid: ObjectId, session: Session | None = None) -> bool:
    """Delete one account; False when there was none."""
    return await delete_by_id(db[NAME], oid, session=session)


async def insert_documents(db: AsyncDatabase, docs: Sequence[Mapping[str, Any]]) -> None:
    """Store complete account documents as they are (``_id`` included): the demo seed."""
    await insert_all(db[NAME], docs)
