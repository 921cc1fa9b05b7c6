"""The ``contacts`` collection."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from .. import normalize
from ..documents import CONTACTS, DEFAULT_PREFERENCES
from ..types import ContactDoc, Session
from ._base import (
    BATCH_ALL,
    between,
    delete_by_id,
    get_by_id,
    grouped_by,
    in_chunks,
    insert_all,
    insert_new,
    matching_ids,
    now,
    set_changes,
    stored,
    stored_or_none,
    unlink,
)

NAME = CONTACTS

# indexes earlier versions created that a compound index above now serves: dropped at start-up
RETIRED = {NAME: ["marketingOnly"]}

INDEXES = {
    NAME: [
        IndexModel([("emailNormalized", ASCENDING)], name="emailNormalized"),
        IndexModel([("accountId", ASCENDING), ("sortName", ASCENDING)], name="account_sortName"),
        IndexModel([("sortName", ASCENDING), ("_id", ASCENDING)], name="sortName_id"),
        IndexModel([("createdAt", DESCENDING), ("_id", DESCENDING)], name="createdAt_id"),
        IndexModel([("updatedAt", DESCENDING), ("_id", DESCENDING)], name="updatedAt_id"),
        # the marketingOnly filter, in the default order (equality, then sort: no SORT stage)
        IndexModel(
            [("marketingOnly", ASCENDING), ("createdAt", ASCENDING), ("_id", ASCENDING)],
            name="marketingOnly_createdAt_id",
        ),
        # one per filter of the contacts connection, ending in its default order (createdAt)
        *(
            IndexModel([(path, ASCENDING), ("createdAt", ASCENDING), ("_id", ASCENDING)], name=path)
            for path in (
                "role",
                "contactType",
                "preferences.allowBulkEmail",
                "preferences.allowEmail",
                "preferences.allowPrefill",
                "preferences.trackEmail",
                "consent.level",
                "consent.isChild",
            )
        ),
    ]
}


def new_document(fields: Mapping[str, Any]) -> ContactDoc:
    """A complete contact document from validated input fields (defaults filled in)."""
    t = now()
    doc: dict[str, Any] = {
        "firstName": None,
        "lastName": None,
        "email": None,
        "emailNormalized": None,
        "phone": None,
        "jobTitle": None,
        "role": None,
        "contactType": None,
        "accountId": None,
        "marketingSource": None,
        "preferences": dict(DEFAULT_PREFERENCES),
        "subscriptions": [],
        "unsubscribed": [],
        "consent": {"level": None, "isChild": False, "guardian": None},
        "marketingOnly": False,
        "insights": {"total": 0, "counts": {}, "lastActivityAt": None},
        "interactionDays": True,  # no interactions yet: its days (none) are counted
        "createdAt": t,
        "updatedAt": t,
    }
    apply_fields(doc, fields)
    return stored(doc, ContactDoc)


def apply_fields(doc: dict[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    """Merge input fields into ``doc`` and recompute the derived ones; returns the $set map."""
    changes: dict[str, Any] = {}
    for key, value in fields.items():
        if key in ("preferences", "consent") and isinstance(value, dict):
            for sub, subvalue in value.items():
                doc.setdefault(key, {})[sub] = subvalue
                changes[f"{key}.{sub}"] = subvalue
        else:
            doc[key] = value
            changes[key] = value
    if "email" in fields:
        doc["emailNormalized"] = changes["emailNormalized"] = (
            normalize.email(fields["email"]) if fields["email"] else None
        )
    if "firstName" in fields or "lastName" in fields:
        doc["sortName"] = changes["sortName"] = normalize.sort_name(
            doc.get("firstName"), doc.get("lastName")
        )
    doc.setdefault("sortName", normalize.sort_name(doc.get("firstName"), doc.get("lastName")))
    return changes


async def create(
    db: AsyncDatabase, fields: dict[str, Any], session: Session | None = None
) -> ContactDoc:
    """Store a new contact made from validated input ``fields`` (:func:`new_document` fills in
    the defaults); returns it with its ``_id``.  (``insert`` names, across store/, storing a
    document the caller made complete.)"""
    doc = await insert_new(db[NAME], dict(new_document(fields)), session=session)
    return stored(doc, ContactDoc)


async def update(
    db: AsyncDatabase, oid: ObjectId, fields: dict[str, Any], session: Session | None = None
) -> ContactDoc | None:
    current = await get_by_id(db[NAME], oid, session=session)
    if current is None:
        return None
    changes = apply_fields(current, fields)
    return stored_or_none(await set_changes(db[NAME], oid, changes, session=session), ContactDoc)


def filter_query(
    *,
    email: str | None = None,
    name_contains: str | None = None,
    account_id: ObjectId | None = None,
    marketing_only: bool | None = None,
    role: str | None = None,
    contact_type: str | None = None,
    preferences: dict[str, bool] | None = None,
    consent_level: str | None = None,
    is_child: bool | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    ids: list[ObjectId] | None = None,
) -> dict[str, Any]:
    query: dict[str, Any] = {}
    if email is not None:
        query["emailNormalized"] = email.strip().lower()
    if name_contains:
        query["sortName"] = {"$regex": re.escape(normalize.name(name_contains))}
    if account_id is not None:
        query["accountId"] = account_id
    if marketing_only is not None:
        query["marketingOnly"] = marketing_only
    if role is not None:
        query["role"] = role
    if contact_type is not None:
        query["contactType"] = contact_type
    for key, value in (preferences or {}).items():
        query[f"preferences.{key}"] = value
    if consent_level is not None:
        query["consent.level"] = consent_level
    if is_child is not None:
        query["consent.isChild"] = is_child
    query.update(between("createdAt", created_after, created_before))
    if ids is not None:
        query["_id"] = {"$in": ids}
    return query


async def by_ids(db: AsyncDatabase, ids: list[ObjectId]) -> dict[ObjectId, dict[str, Any]]:
    """Contacts by id (one ``$in`` read)."""
    return await matching_ids(db[NAME], ids)


async def of_accounts(
    db: AsyncDatabase, account_ids: list[ObjectId]
) -> dict[ObjectId, list[dict[str, Any]]]:
    """The contacts of each account (one ``$in`` find), grouped by account id."""
    return await grouped_by(db[NAME], "accountId", account_ids)


async def accounts_of_members(
    db: AsyncDatabase, account_ids: list[ObjectId]
) -> dict[ObjectId, ObjectId]:
    """``{contact id: account id}`` for the contacts of these accounts (one ``$in`` find of
    ids only)."""
    query = {"accountId": {"$in": account_ids}}
    cursor = db[NAME].find(query, {"accountId": 1}, batch_size=BATCH_ALL)  # one reply
    return {doc["_id"]: doc["accountId"] async for doc in cursor}


async def every_membership(db: AsyncDatabase) -> dict[ObjectId, ObjectId]:
    """``{contact id: account id}`` of every contact with an account (ids only)."""
    cursor = db[NAME].find({"accountId": {"$ne": None}}, {"accountId": 1})
    return {doc["_id"]: doc["accountId"] async for doc in cursor}


async def member_ids(db: AsyncDatabase, account_id: ObjectId) -> list[ObjectId]:
    """The ids of the account's contacts (its ``accountId`` index, ids only)."""
    cursor = db[NAME].find({"accountId": account_id}, {"_id": 1})
    return [doc["_id"] async for doc in cursor]


async def insights_summed(db: AsyncDatabase, match: dict[str, Any]) -> dict[str, Any]:
    """The ``insights`` of the contacts matching ``match`` added up by the database:
    ``{total, counts: {type: n}, lastActivityAt}`` (two indexed aggregations: the totals,
    and the counts by type)."""
    return (await _insights_grouped(db, match, None)).get(None) or _summed({}, {})


async def insights_by_account(
    db: AsyncDatabase, account_ids: list[ObjectId]
) -> dict[ObjectId, dict[str, Any]]:
    """:func:`insights_summed` of each account's contacts, for many accounts in the same two
    aggregations (grouped by ``accountId``); an account without contacts has zeros."""
    found = await _insights_grouped(db, {"accountId": {"$in": account_ids}}, "$accountId")
    return {a: found.get(a) or _summed({}, {}) for a in account_ids}


async def _insights_grouped(
    db: AsyncDatabase, match: dict[str, Any], by: str | None
) -> dict[Any, dict[str, Any]]:
    totals: list[dict[str, Any]] = [
        {"$match": match},
        {
            "$group": {
                "_id": by,
                "total": {"$sum": "$insights.total"},
                "last": {"$max": "$insights.lastActivityAt"},
            }
        },
    ]
    by_type: list[dict[str, Any]] = [
        {"$match": match},
        {
            "$project": {
                "g": by if by is not None else {"$literal": None},
                "c": {"$objectToArray": {"$ifNull": ["$insights.counts", {}]}},
            }
        },
        {"$unwind": "$c"},
        {"$group": {"_id": {"g": "$g", "k": "$c.k"}, "n": {"$sum": "$c.v"}}},
    ]
    aggregate = db[NAME].aggregate
    rows = {r["_id"]: r for r in await (await aggregate(totals, batchSize=BATCH_ALL)).to_list()}
    counts: dict[Any, dict[str, int]] = {}
    async for r in await aggregate(by_type, batchSize=BATCH_ALL):
        counts.setdefault(r["_id"].get("g"), {})[r["_id"]["k"]] = int(r["n"])
    return {g: _summed(rows.get(g) or {}, counts.get(g) or {}) for g in {*rows, *counts}}


def _summed(row: dict[str, Any], counts: dict[str, int]) -> dict[str, Any]:
    return {
        "total": int(row.get("total") or 0),
        "counts": {k: n for k, n in sorted(counts.items()) if n},
        "lastActivityAt": row.get("last"),
    }


async def get(
    db: AsyncDatabase, oid: ObjectId, session: Session | None = None
) -> ContactDoc | None:
    return stored_or_none(await get_by_id(db[NAME], oid, session=session), ContactDoc)


async def by_ids_list(
    db: AsyncDatabase, ids: list[ObjectId], session: Session | None = None
) -> list[dict[str, Any]]:
    """The contacts of ``ids`` that exist, in the database's order (one ``$in`` find)."""
    return await db[NAME].find({"_id": {"$in": ids}}, session=session).to_list()


async def any_exist(db: AsyncDatabase, ids: list[ObjectId], session: Session | None = None) -> bool:
    return bool(await db[NAME].count_documents({"_id": {"$in": ids}}, limit=1, session=session))


async def insert_documents(
    db: AsyncDatabase, docs: Sequence[Mapping[str, Any]], session: Session | None = None
) -> None:
    """Store complete contact documents as they are (``_id`` included): the demo seed, a
    merge undone."""
    await insert_all(db[NAME], docs, session=session)


async def set_paths(
    db: AsyncDatabase, oid: ObjectId, fields: dict[str, Any], session: Session | None = None
) -> None:
    """``$set`` of ``{path: value}`` on one contact (the caller computed derived fields)."""
    await db[NAME].update_one({"_id": oid}, {"$set": fields}, session=session)


async def delete(db: AsyncDatabase, oid: ObjectId, session: Session | None = None) -> bool:
    """Delete one contact; False when there was none."""
    return await delete_by_id(db[NAME], oid, session=session)


async def delete_ids(db: AsyncDatabase, ids: list[ObjectId], session: Session | None = None) -> int:
    return (await db[NAME].delete_many({"_id": {"$in": ids}}, session=session)).deleted_count


async def unlink_account(
    db: AsyncDatabase, account_id: ObjectId, session: Session | None = None
) -> None:
    """The account was deleted: its contacts no longer belong to one."""
    await unlink(db[NAME], "accountId", account_id, session=session)


async def names_with_phone_or_account(db: AsyncDatabase) -> AsyncIterator[dict[str, Any]]:
    """``sortName``, ``phone`` and ``accountId`` of every contact with a phone or an account."""
    projection = {"sortName": 1, "phone": 1, "accountId": 1}
    query = {"$or": [{"phone": {"$type": "string"}}, {"accountId": {"$type": "objectId"}}]}
    async for doc in db[NAME].find(query, projection):
        yield doc


async def is_empty(db: AsyncDatabase) -> bool:
    """True when there is no contact at all (from the collection's metadata: no scan)."""
    return await db[NAME].estimated_document_count() == 0


async def set_marketing_only(
    db: AsyncDatabase, oid: ObjectId, value: bool, session: Session | None = None
) -> None:
    await db[NAME].update_one(
        {"_id": oid}, {"$set": {"marketingOnly": value, "updatedAt": now()}}, session=session
    )


async def created_by_import(
    db: AsyncDatabase, import_id: str, size: int
) -> AsyncIterator[list[dict[str, Any]]]:
    """The contacts an import created, ``size`` at a time."""
    cursor = db[NAME].find({"createdVia.importId": import_id}).sort("_id", 1)
    async for chunk in in_chunks(cursor, size):
        yield chunk


#: The consent-bearing fields of a contact: only the consent service writes them
#: (:mod:`leadgraph.services.consent`).
CONSENT_PROJECTION = {
    "preferences": 1,
    "consent": 1,
    "subscriptions": 1,
    "unsubscribed": 1,
    "emailNormalized": 1,
}


async def consent_states(
    db: AsyncDatabase, ids: list[ObjectId], session: Session | None = None
) -> dict[ObjectId, dict[str, Any]]:
    """The consent-bearing fields of the contacts ``ids`` (one ``$in`` find)."""
    query = {"_id": {"$in": list(dict.fromkeys(ids))}}
    cursor = db[NAME].find(query, CONSENT_PROJECTION, session=session)
    return {d["_id"]: d async for d in cursor}


async def set_many(
    db: AsyncDatabase,
    changes: list[tuple[ObjectId, dict[str, Any]]],
    session: Session | None = None,
) -> None:
    """``$set`` of ``{path: value}`` (stamped ``updatedAt``) on each contact, in one bulk write."""
    if not changes:
        return
    t = now()
    ops = [UpdateOne({"_id": oid}, {"$set": {**sets, "updatedAt": t}}) for oid, sets in changes]
    await db[NAME].bulk_write(ops, ordered=False, session=session)


def _renamed(array: str, old: str, new: str) -> dict[str, Any]:
    """The pipeline expression of ``array`` with ``old`` renamed ``new`` (dropped when the
    array already holds ``new``)."""
    path = f"${array}"
    return {
        "$cond": [
            {"$in": [new, {"$ifNull": [path, []]}]},
            {"$filter": {"input": path, "as": "s", "cond": {"$ne": ["$$s", old]}}},
            {
                "$map": {
                    "input": path,
                    "as": "s",
                    "in": {"$cond": [{"$eq": ["$$s", old]}, new, "$$s"]},
                }
            },
        ]
    }


async def rename_subscription(
    db: AsyncDatabase, old: str, new: str, session: Session | None = None
) -> int:
    """A subscription list was renamed: both membership arrays of every contact follow."""
    total = 0
    for array in ("subscriptions", "unsubscribed"):
        result = await db[NAME].update_many(
            {array: old}, [{"$set": {array: _renamed(array, old, new)}}], session=session
        )
        total += result.modified_count
    return total
