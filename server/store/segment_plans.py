"""The reads of segment plans (:mod:`leadgraph.store.segment_query`): ids (with the field linking
them
to their parent) of the records matching a compiled filter, counts that estimate how selective
a filter is, and interaction counts per contact."""

from __future__ import annotations

import time
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from ._base import BATCH_ALL
from .condition_filters import merge_filters

COLLECTIONS = {
    "contact": "contacts",
    "lead": "leads",
    "account": "accounts",
    "interaction": "interactions",
    "opportunity": "opportunities",
}
#: The field linking a record to the one above it: a lead to its contact, a contact to its
#: account (read together with the ids, so a plan never reads a record twice).
LINKS = {"lead": "parentContactId", "contact": "accountId", "opportunity": "contactId"}
#: The records that reach people: the field naming their contact, and their account's (a
#: record with no contact but an account reaches each of the account's contacts).
REACH = {"lead": ("parentContactId", "parentAccountId"), "opportunity": ("contactId", "accountId")}


async def linked_ids(db: AsyncDatabase, entity: str, query: dict[str, Any]) -> dict[ObjectId, Any]:
    """id -> link (see :data:`LINKS`; None for accounts) of the ``entity`` records matching
    ``query``."""
    link = LINKS.get(entity)
    projection = {"_id": 1, link: 1} if link else {"_id": 1}
    found = db[COLLECTIONS[entity]].find(query, projection, batch_size=BATCH_ALL)
    return {d["_id"]: d.get(link) if link else None async for d in found}


async def reaching(
    db: AsyncDatabase, entity: str, query: dict[str, Any]
) -> dict[ObjectId, tuple[Any, Any]]:
    """id -> (contact id, account id) of the ``entity`` records (see :data:`REACH`) matching
    ``query``: whom each reaches, in one read."""
    contact, account = REACH[entity]
    projection = {"_id": 1, contact: 1, account: 1}
    found = db[COLLECTIONS[entity]].find(query, projection, batch_size=BATCH_ALL)
    return {d["_id"]: (d.get(contact), d.get(account)) async for d in found}


def with_contact(entity: str) -> dict[str, Any]:
    """The ``entity`` records (see :data:`REACH`) that have a contact."""
    return {REACH[entity][0]: {"$ne": None}}


def account_based(entity: str) -> dict[str, Any]:
    """The ``entity`` records with no contact but an account: they reach its contacts."""
    contact, account = REACH[entity]
    return {contact: None, account: {"$ne": None}}


async def records_of(
    db: AsyncDatabase, entity: str, contact_ids: list[ObjectId]
) -> dict[ObjectId, ObjectId]:
    """record id -> contact id, for the ``entity`` records of the given contacts."""
    link = REACH[entity][0]
    found = db[COLLECTIONS[entity]].find(
        {link: {"$in": contact_ids}}, {"_id": 1, link: 1}, batch_size=BATCH_ALL
    )
    return {d["_id"]: d[link] async for d in found}


async def account_records(
    db: AsyncDatabase, entity: str, query: dict[str, Any]
) -> dict[ObjectId, ObjectId]:
    """record id -> account id, for the account-based ``entity`` records matching ``query``."""
    based, link = account_based(entity), REACH[entity][1]
    found = db[COLLECTIONS[entity]].find(
        {"$and": [query, based]} if query else based, {"_id": 1, link: 1}, batch_size=BATCH_ALL
    )
    return {d["_id"]: d[link] async for d in found}


async def members_of(
    db: AsyncDatabase, account_ids: list[ObjectId], extra: dict[str, Any] | None = None
) -> dict[ObjectId, list[ObjectId]]:
    """account id -> the ids of its contacts (those matching ``extra`` too, when given: a
    plain contact filter, so the read stays on the ``accountId`` index)."""
    out: dict[ObjectId, list[ObjectId]] = {}
    query = merge_filters({"accountId": {"$in": account_ids}}, extra or {})
    async for d in db["contacts"].find(query, {"_id": 1, "accountId": 1}, batch_size=BATCH_ALL):
        out.setdefault(d["accountId"], []).append(d["_id"])
    return out


#: How long a count of :func:`count` is reused, and how many are kept (a plan cache: the counts
#: only choose the join order, never the answer).
ESTIMATE_TTL_S = 300.0
ESTIMATES_KEPT = 1024
_estimates: dict[str, tuple[float, int]] = {}


async def count(db: AsyncDatabase, entity: str, query: dict[str, Any]) -> int:
    """How many ``entity`` records match ``query``: an estimate that orders a plan's parts
    (callers pass filters on indexed fields, which MongoDB counts from the index). Reused for
    :data:`ESTIMATE_TTL_S` seconds per database and filter, as MongoDB's plan cache reuses a
    query shape's winning plan: a segment asked again is not counted again."""
    key = f"{db.name}\0{entity}\0{query!r}"
    at = time.monotonic()
    found = _estimates.get(key)
    if found is not None and at - found[0] < ESTIMATE_TTL_S:
        return found[1]
    n = await db[COLLECTIONS[entity]].count_documents(query)
    if len(_estimates) >= ESTIMATES_KEPT:
        _estimates.clear()
    _estimates[key] = (at, n)
    return n


async def event_counts(db: AsyncDatabase, pipeline: list[dict[str, Any]]) -> dict[Any, int]:
    """``{contact id: n}`` from an interactions pipeline grouping by contact (``n`` is 1 when
    the pipeline does not count)."""
    cursor = await db["interactions"].aggregate(pipeline, batchSize=BATCH_ALL)
    return {d["_id"]: d.get("n", 1) async for d in cursor}


def indexed_fields() -> dict[str, set[str]]:
    """entity -> the fields that lead an index of its collection (a plan counts filters on
    them to estimate selectivity)."""
    from . import INDEXES  # the union of every module's indexes

    out: dict[str, set[str]] = {}
    for entity, name in COLLECTIONS.items():
        out[entity] = {next(iter(m.document["key"])) for m in INDEXES.get(name, [])} | {"_id"}
    return out


async def contact_facts(db: AsyncDatabase, contact_id: ObjectId) -> dict[str, Any] | None:
    """One contact with its account, leads, opportunities and interactions (what a segment
    reads of it), or None when there is no such contact."""
    contact = await db["contacts"].find_one({"_id": contact_id})
    if contact is None:
        return None
    account_id = contact.get("accountId")
    account = await db["accounts"].find_one({"_id": account_id}) if account_id else None
    # its own leads, and its account's account-based ones (they reach people through the
    # account's contacts)
    mine: dict[str, Any] = {"parentContactId": contact_id}
    query = (
        {"$or": [mine, {"parentContactId": None, "parentAccountId": account_id}]}
        if account_id
        else mine
    )
    leads = await db["leads"].find(query).sort("_id", 1).to_list()
    interactions = await db["interactions"].find({"contactId": contact_id}).to_list()
    own: dict[str, Any] = {"contactId": contact_id}
    of_account = {"contactId": None, "accountId": account_id}
    found = {"$or": [own, of_account]} if account_id else own
    opportunities = await db["opportunities"].find(found).sort("_id", 1).to_list()
    return {
        "contact": contact,
        "account": account,
        "leads": leads,
        "interactions": interactions,
        "opportunities": opportunities,
    }


async def existing_contacts(db: AsyncDatabase, ids: list[ObjectId]) -> set[ObjectId]:
    """Those of ``ids`` that are contacts."""
    found = db["contacts"].find({"_id": {"$in": ids}}, {"_id": 1}, batch_size=BATCH_ALL)
    return {d["_id"] async for d in found}


async def docs_where(
    db: AsyncDatabase, entity: str, query: dict[str, Any], fields: list[str]
) -> list[dict[str, Any]]:
    """The ``entity`` records matching ``query`` with only ``fields`` (and the link of
    :data:`LINKS`): what a plan checks itself on records it has already narrowed down."""
    link = LINKS.get(entity)
    wanted = sorted({*fields, *([link] if link else [])})
    # a path inside another one is implied by it (and would be a projection collision)
    kept = [f for f in wanted if not any(f.startswith(o + ".") for o in wanted if o != f)]
    projection = {f: 1 for f in kept} or {"_id": 1}
    return await db[COLLECTIONS[entity]].find(query, projection, batch_size=BATCH_ALL).to_list()
