"""The ``interactions`` collection (engagement records of contacts) and contact insights."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.change_stream import AsyncChangeStream
from pymongo.asynchronous.database import AsyncDatabase

from ..contracts import CUSTOM_INTERACTION_TYPE, INTERACTION_TYPES
from ..documents import INTERACTIONS
from ..types import InteractionDoc, Session
from . import interaction_days
from ._base import (
    BATCH_ALL,
    between,
    get_by_id,
    grouped_by,
    insert_all,
    insert_new,
    matching,
    now,
    stored,
    stored_or_none,
)
from .writes import Writes

NAME = INTERACTIONS

TYPES = INTERACTION_TYPES  # the built-in vocabulary (leadgraph.contracts)

INDEXES = {
    NAME: [
        IndexModel(
            [("contactId", ASCENDING), ("occurredAt", DESCENDING), ("_id", DESCENDING)],
            name="contact_occurredAt",
        ),
        IndexModel([("type", ASCENDING), ("occurredAt", DESCENDING)], name="type_occurredAt"),
        IndexModel([("occurredAt", DESCENDING), ("_id", DESCENDING)], name="occurredAt_id"),
        IndexModel([("leadId", ASCENDING)], name="leadId"),
    ]
}
#: Indexes of earlier versions that must go: idempotency keys were unique across callers here
#: (they are kept per caller and operation in ``submissions`` now).
RETIRED = {NAME: ["idempotencyKey_unique"]}


def new_document(fields: Mapping[str, Any]) -> InteractionDoc:
    doc: dict[str, Any] = {
        "contactId": None,
        "type": None,
        "occurredAt": fields.get("occurredAt") or now(),
        "leadId": None,
        "formId": None,
        "eventId": None,
        "emailId": None,
        "url": None,
        "details": {},
    }
    doc.update({k: v for k, v in fields.items() if v is not None})
    return stored(doc, InteractionDoc)


def insights_update(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The update that folds one interaction into its contact's marketing insights."""
    return {
        "$inc": {"insights.total": 1, f"insights.counts.{doc['type']}": 1},
        "$max": {"insights.lastActivityAt": doc["occurredAt"]},
    }


async def record(
    db: AsyncDatabase, fields: dict[str, Any], session: Session | None = None
) -> InteractionDoc | None:
    """Update the contact's insights and insert the interaction (in the caller's
    transaction); None, with nothing written, when the contact does not exist.

    The contact is written first: a transaction that deletes or erases it at the same time
    writes the same document, so one of the two conflicts and is retried after the other,
    and an interaction is never stored for a contact that is gone."""
    doc, _ = await record_changing(db, fields, None, session=session)
    return doc


async def record_changing(
    db: AsyncDatabase,
    fields: dict[str, Any],
    contact_set: dict[str, Any] | None,
    session: Session | None = None,
    writes: Writes | None = None,
    known: Mapping[str, Any] | None = None,
) -> tuple[InteractionDoc | None, dict[str, Any] | None]:
    """:func:`record`, setting ``contact_set`` on the contact in the same update (one command);
    the interaction and the contact as it was before (both None, nothing written, when the
    contact does not exist).  Without ``contact_set`` the contact is not read back (None).

    ``known``: the contact as the caller's transaction read it (so it exists, and is as it
    was before); with ``writes`` the update, the interaction and its counted day are gathered
    there, sent with the transaction's other writes, and nothing is read."""
    doc = new_document(fields)
    update = insights_update(doc)
    query = {"_id": doc["contactId"]}
    contacts = db["contacts"]
    if contact_set:
        update["$set"] = {**contact_set, "updatedAt": now()}
    if writes is not None and known is not None:
        writes.update("contacts", query, update)
        return await _store(db, doc, session, writes), dict(known) if contact_set else None
    if contact_set:
        before = await contacts.find_one_and_update(
            query, update, return_document=ReturnDocument.BEFORE, session=session
        )
        if before is None:
            return None, None
    else:
        before = None
        if not (await contacts.update_one(query, update, session=session)).matched_count:
            return None, None
    return await _store(db, doc, session, writes), before


async def _store(
    db: AsyncDatabase, doc: InteractionDoc, session: Session | None, writes: Writes | None
) -> InteractionDoc:
    """Insert the new interaction ``doc`` and count it into its contact's day (gathered in
    ``writes`` when given); the interaction with its ``_id``."""
    if writes is not None:
        done = stored({**doc, "_id": ObjectId()}, InteractionDoc)
        writes.insert(NAME, [done])
    else:
        done = stored(await insert_new(db[NAME], dict(doc), session=session), InteractionDoc)
    await interaction_days.count_in(db, [done], session=session, writes=writes)
    return done


def first_insights(contact: Mapping[str, Any], doc: Mapping[str, Any]) -> dict[str, Any]:
    """``contact``'s insights with the interaction ``doc`` folded in, as
    :func:`insights_update` would make them (for a contact not stored yet)."""
    insights = dict(contact.get("insights") or {})
    counts = dict(insights.get("counts") or {})
    counts[doc["type"]] = counts.get(doc["type"], 0) + 1
    last = insights.get("lastActivityAt")
    at = doc["occurredAt"] if last is None or doc["occurredAt"] > last else last
    return {
        **insights,
        "total": (insights.get("total") or 0) + 1,
        "counts": counts,
        "lastActivityAt": at,
    }


async def record_first(
    db: AsyncDatabase,
    fields: dict[str, Any],
    contact: Mapping[str, Any],
    session: Session | None = None,
    writes: Writes | None = None,
) -> InteractionDoc:
    """:func:`record` for a contact made in the caller's transaction and not stored yet:
    the contact is inserted with the interaction's insights in it (one insert, not an insert
    and an update), then the interaction and its counted day.  ``writes``: gathered there,
    sent with the transaction's other writes."""
    doc = new_document(fields)
    new_contact = {**contact, "insights": first_insights(contact, doc)}
    if writes is not None:
        writes.insert("contacts", [new_contact])
    else:
        await db["contacts"].insert_one(new_contact, session=session)
    return await _store(db, doc, session, writes)


async def insert_records(
    db: AsyncDatabase, docs: list[dict[str, Any]], session: Session | None = None
) -> list[InteractionDoc]:
    """Store interactions that are records, not engagement (consent changes): one bulk
    insert, the contacts' insights untouched."""
    if not docs:
        return []
    full = [new_document(f) for f in docs]
    result = await db[NAME].insert_many(full, session=session)
    for doc, oid in zip(full, result.inserted_ids, strict=True):
        doc["_id"] = oid
    await interaction_days.count_in(db, full, session=session)
    return full


def filter_query(
    *,
    types: list[str] | None = None,
    occurred_after: datetime | None = None,
    occurred_before: datetime | None = None,
    contact_id: ObjectId | None = None,
) -> dict[str, Any]:
    query: dict[str, Any] = {}
    if types:  # CUSTOM_INTERACTION_TYPE stands for every type that is not built in
        listed = [t for t in types if t != CUSTOM_INTERACTION_TYPE]
        if CUSTOM_INTERACTION_TYPE in types:
            query["type"] = {"$nin": [t for t in TYPES if t not in listed]}
        else:
            query["type"] = {"$in": listed}
    query.update(between("occurredAt", occurred_after, occurred_before))
    if contact_id is not None:
        query["contactId"] = contact_id
    return query


async def of_contacts(
    db: AsyncDatabase, contact_ids: list[ObjectId], *, until: datetime | None = None
) -> dict[ObjectId, list[dict[str, Any]]]:
    """Every interaction of the given contacts (that occurred at or before ``until``, when
    given), oldest first, grouped by contact (one find)."""
    where = {"occurredAt": {"$lte": until}} if until is not None else None
    return await grouped_by(
        db[NAME], "contactId", contact_ids, sort=[("occurredAt", 1)], where=where
    )


def _of(contact_ids: list[ObjectId] | None, query: dict[str, Any]) -> dict[str, Any]:
    """``query`` on the interactions of ``contact_ids`` (None: of every contact); one contact
    by equality, which the embedded server answers faster than a one-element ``$in``."""
    if contact_ids is None:
        return query
    unique = list(dict.fromkeys(contact_ids))
    ids = {"contactId": unique[0] if len(unique) == 1 else {"$in": unique}}
    return {**ids, **query} if "contactId" not in query else {"$and": [ids, query]}


async def matching_of_contacts(
    db: AsyncDatabase, contact_ids: list[ObjectId], query: dict[str, Any]
) -> dict[ObjectId, list[dict[str, Any]]]:
    """The interactions of the given contacts that match ``query``, oldest first, grouped by
    contact (one read)."""
    out: dict[ObjectId, list[dict[str, Any]]] = {}
    if not contact_ids:
        return out
    for doc in await matching(db[NAME], _of(contact_ids, query), sort=[("occurredAt", 1)]):
        out.setdefault(doc["contactId"], []).append(doc)
    return out


async def count_by_contact_and_type(
    db: AsyncDatabase,
    query: dict[str, Any],
    since: Mapping[str, datetime | None],
    contact_ids: list[ObjectId] | None = None,
) -> dict[tuple[ObjectId, str], dict[str, int]]:
    """How many interactions matching ``query`` each contact has of each type, counted by the
    database: ``{(contact id, type): {name: n}}`` with one ``n`` per ``since`` entry (those
    at or after that time; ``None``: all).  ``contact_ids`` None: every contact."""
    sums: dict[str, Any] = {}
    for name, start in since.items():
        sums[name] = (
            {"$sum": 1}
            if start is None
            else {"$sum": {"$cond": [{"$gte": ["$occurredAt", start]}, 1, 0]}}
        )
    pipeline = [
        {"$match": _of(contact_ids, query)},
        {"$group": {"_id": {"c": "$contactId", "t": "$type"}, **sums}},
    ]
    cursor = await db[NAME].aggregate(pipeline, batchSize=BATCH_ALL)
    return {
        (doc["_id"]["c"], doc["_id"]["t"]): {name: int(doc[name]) for name in since}
        async for doc in cursor
    }


async def count_by_contact(
    db: AsyncDatabase, query: dict[str, Any], contact_ids: list[ObjectId] | None = None
) -> dict[ObjectId, int]:
    """How many interactions matching ``query`` each contact has (``$group`` in the
    database); ``contact_ids`` None: every contact."""
    pipeline = [
        {"$match": _of(contact_ids, query)},
        {"$group": {"_id": "$contactId", "n": {"$sum": 1}}},
    ]
    cursor = await db[NAME].aggregate(pipeline, batchSize=BATCH_ALL)
    return {doc["_id"]: int(doc["n"]) async for doc in cursor}


async def watch_inserts(
    db: AsyncDatabase, resume_after: Mapping[str, Any] | None = None
) -> AsyncChangeStream[dict[str, Any]]:
    """A change stream of newly recorded interactions, resumed after ``resume_after`` if given.

    Meant to be opened once per process and shared (see :mod:`leadgraph.web.live`).
    """
    return await db[NAME].watch(
        [{"$match": {"operationType": "insert"}}], resume_after=resume_after
    )


async def get(db: AsyncDatabase, oid: ObjectId) -> InteractionDoc | None:
    return stored_or_none(await get_by_id(db[NAME], oid), InteractionDoc)


async def delete_of_contact(
    db: AsyncDatabase, contact_id: ObjectId, session: Session | None = None
) -> int:
    """Delete every interaction of a contact (the contact is being deleted), and its days."""
    await interaction_days.forget(db, contact_id, session=session)
    return (await db[NAME].delete_many({"contactId": contact_id}, session=session)).deleted_count


async def latest_of(
    db: AsyncDatabase, contact_id: ObjectId, session: Session | None = None
) -> InteractionDoc | None:
    """A contact's most recent interaction."""
    query = {"contactId": contact_id}
    latest = await db[NAME].find_one(query, sort=[("occurredAt", -1)], session=session)
    return stored_or_none(latest, InteractionDoc)


async def insert_documents(db: AsyncDatabase, docs: Sequence[Mapping[str, Any]]) -> None:
    """Store complete interaction documents as they are (``_id`` included): the demo seed;
    their contacts' days are counted (one ``bulk_write``); those of documents found already
    stored (a retried batch) are counted again from what is stored, so none counts twice."""
    again = await insert_all(db[NAME], docs)
    seen = {d["_id"] for d in again}
    await interaction_days.count_in(db, [d for d in docs if d["_id"] not in seen])
    await interaction_days.rebuild(db, [d["contactId"] for d in again])


async def find_since(
    db: AsyncDatabase,
    contact_id: ObjectId,
    form_id: str,
    type: str,
    since: datetime,
    session: Session | None = None,
) -> InteractionDoc | None:
    """The contact's first ``type`` interaction on form ``form_id`` stored since ``since``
    (by the time in its id, to the second)."""
    after = ObjectId.from_datetime(since)
    query = {"contactId": contact_id, "formId": form_id, "type": type, "_id": {"$gte": after}}
    found = await db[NAME].find_one(query, sort=[("_id", 1)], session=session)
    return stored_or_none(found, InteractionDoc)
