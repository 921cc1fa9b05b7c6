"""The ``leads`` collection."""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument, UpdateOne
from pymongo.asynchronous.change_stream import AsyncChangeStream
from pymongo.asynchronous.database import AsyncDatabase

from .. import normalize
from ..documents import GRADE_OF, LEADS, SCORE_OF, stage_entry
from ..types import LeadDoc, Session
from ._base import (
    between,
    delete_by_id,
    find_by_ids,
    get_by_id,
    in_chunks,
    insert_all,
    insert_new,
    now,
    set_changes,
    stored,
    stored_or_none,
    unlink,
)

NAME = LEADS

# indexes earlier versions created that a compound index above now serves: dropped at start-up
RETIRED = {NAME: ["parentContact", "parentAccount", "stage"]}

INDEXES = {
    NAME: [
        # a parent's leads in the default order, walked backwards (createdAt, _id ascending)
        IndexModel(
            [("parentContactId", ASCENDING), ("createdAt", DESCENDING), ("_id", DESCENDING)],
            name="parentContact_createdAt_id",
        ),
        IndexModel(
            [("parentAccountId", ASCENDING), ("createdAt", DESCENDING), ("_id", DESCENDING)],
            name="parentAccount_createdAt_id",
        ),
        IndexModel([("emailNormalized", ASCENDING), ("formId", ASCENDING)], name="email_form"),
        IndexModel(
            [("stage", ASCENDING), ("createdAt", ASCENDING), ("_id", ASCENDING)],
            name="stage_createdAt_id",
        ),
        IndexModel([("owner", ASCENDING), ("stage", ASCENDING)], name="owner_stage"),
        IndexModel([("topic", ASCENDING)], name="topic"),
        IndexModel([("createdAt", DESCENDING), ("_id", DESCENDING)], name="createdAt_id"),
        IndexModel([("updatedAt", DESCENDING), ("_id", DESCENDING)], name="updatedAt_id"),
        # orphan: true (both parents null) as one compound equality
        IndexModel(
            [("parentContactId", ASCENDING), ("parentAccountId", ASCENDING)], name="parents"
        ),
        # one per filter of the leads connection, ending in its default order (createdAt)
        *(
            IndexModel([(path, ASCENDING), ("createdAt", ASCENDING), ("_id", ASCENDING)], name=path)
            for path in ("salesReady", "status", "formId")
        ),
    ]
}


OPEN = {"$in": ["open", None]}
REV = {"rev": 1}  # every write to a lead increments its revision (optimistic concurrency)


def apply_fields(doc: dict[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    changes = dict(fields)
    if "email" in fields:
        changes["emailNormalized"] = normalize.email(fields["email"]) if fields["email"] else None
    doc.update(changes)
    return changes


def new_document(
    fields: Mapping[str, Any], *, stage: str, rules_version: str | None = None
) -> LeadDoc:
    """A new lead at ``stage`` (the lifecycle's initial stage: see the funnel service)."""
    t = now()
    doc: dict[str, Any] = {
        "topic": None,
        "marketingContext": None,
        "formId": None,
        "email": None,
        "emailNormalized": None,
        "firstName": None,
        "lastName": None,
        "companyName": None,
        "jobTitle": None,
        "parentContactId": None,
        "parentAccountId": None,
        "stage": stage,
        "stageHistory": [stage_entry(stage, t, reason="created", rules_version=rules_version)],
        "scores": [],
        "salesReady": False,
        "salesReadyBy": None,
        "salesReadyHeld": [],
        "teleprospectReady": False,
        "scoreError": None,
        "scoreErrors": [],
        "rev": 0,
        "status": "open",
        "createdAt": t,
        "updatedAt": t,
    }
    apply_fields(doc, fields)
    return stored(doc, LeadDoc)


async def insert(db: AsyncDatabase, doc: LeadDoc, session: Session | None = None) -> LeadDoc:
    """Store a new lead document (see :func:`new_document`)."""
    return stored(await insert_new(db[NAME], dict(doc), session=session), LeadDoc)


async def update(
    db: AsyncDatabase, oid: ObjectId, fields: dict[str, Any], session: Session | None = None
) -> LeadDoc | None:
    changes = apply_fields({}, fields)
    return stored_or_none(
        await set_changes(db[NAME], oid, changes, inc=REV, session=session), LeadDoc
    )


def filter_query(
    *,
    topic: str | None = None,
    topic_contains: str | None = None,
    stage: str | None = None,
    status: str | None = None,
    sales_ready: bool | None = None,
    owner: str | None = None,
    form_id: str | None = None,
    email: str | None = None,
    parent_contact_id: ObjectId | None = None,
    parent_account_id: ObjectId | None = None,
    orphan: bool | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    score: tuple[str, float | None, float | None] | None = None,
    grade: tuple[str, list[str]] | None = None,
    sla_breached: bool | None = None,
) -> dict[str, Any]:
    """The query of a lead filter; ``score``: ``(model, at least, at most)`` (leads the model
    scored, within the bounds given); ``grade``: ``(model, grades)``; ``sla_breached``: leads
    past (true) or within (false) the SLA of their stage (``store.lead_slas``)."""
    query: dict[str, Any] = {}
    if sla_breached is not None:
        query["sla.dueAt"] = {"$lte" if sla_breached else "$gt": now()}
    if score is not None:
        model, low, high = score
        # numbers only (MongoDB compares within a type): every scored lead, on the index
        query[f"{SCORE_OF}.{model}"] = {
            "$gte": -math.inf if low is None else low,
            "$lte": math.inf if high is None else high,
        }
    if grade is not None:
        query[f"{GRADE_OF}.{grade[0]}"] = {"$in": grade[1]}
    if topic is not None:
        query["topic"] = topic
    if topic_contains:
        query["topic"] = {"$regex": re.escape(topic_contains), "$options": "i"}
    if stage is not None:
        query["stage"] = stage
    if status is not None:
        query["status"] = status
    if sales_ready is not None:
        query["salesReady"] = sales_ready
    if owner is not None:
        query["owner"] = owner
    if form_id is not None:
        query["formId"] = form_id
    if email is not None:
        query["emailNormalized"] = email.strip().lower()
    if parent_contact_id is not None:
        query["parentContactId"] = parent_contact_id
    if parent_account_id is not None:
        query["parentAccountId"] = parent_account_id
    if orphan is True:
        query["parentContactId"] = None
        query["parentAccountId"] = None
    elif orphan is False:
        query["$or"] = [{"parentContactId": {"$ne": None}}, {"parentAccountId": {"$ne": None}}]
    query.update(between("createdAt", created_after, created_before))
    return query


async def get(db: AsyncDatabase, oid: ObjectId, session: Session | None = None) -> LeadDoc | None:
    return stored_or_none(await get_by_id(db[NAME], oid, session=session), LeadDoc)


async def by_ids_list(db: AsyncDatabase, ids: list[ObjectId]) -> list[dict[str, Any]]:
    """The leads of ``ids`` that exist, in ``ids`` order."""
    found = await find_by_ids(db[NAME], ids)
    return [found[i] for i in ids if i in found]


def of_account(account_id: ObjectId, member_ids: list[ObjectId]) -> dict[str, Any]:
    """An account's leads: those whose parent account it is and those whose parent contact
    works there (the account's contacts, ``member_ids``), each once.  The one definition
    ``Account.leads`` lists and the account roll-ups count (services/rollup.py)."""
    own: dict[str, Any] = {"parentAccountId": account_id}
    if not member_ids:
        return own
    return {"$or": [own, {"parentContactId": {"$in": member_ids}}]}


async def open_of_contact(
    db: AsyncDatabase, contact_id: ObjectId, account_id: ObjectId | None
) -> list[dict[str, Any]]:
    """The open leads a contact's engagement counts for: its own, and the account-based
    leads (no parent contact) of its account.  Without an account, read by ``parentContactId``
    alone (``parentContact_createdAt_id``: on MongoDB the keys and documents the filter with
    ``status`` reads; the embedded server scanned every lead for it), the closed left out."""
    own: dict[str, Any] = {"parentContactId": contact_id}
    if account_id is None:
        found = await db[NAME].find(own).sort("_id", 1).to_list()
        return [d for d in found if d.get("status", "open") in OPEN["$in"]]
    based = {"parentContactId": None, "parentAccountId": account_id}
    return await db[NAME].find({"status": OPEN, "$or": [own, based]}).sort("_id", 1).to_list()


def open_of_parents(
    *,
    contacts: Iterable[ObjectId] = (),
    accounts: Iterable[ObjectId] = (),
    account_based: Iterable[ObjectId] = (),
) -> dict[str, Any] | None:
    """The open leads of these parent ``contacts``, of these parent ``accounts``, and the
    account-based leads (no parent contact) of the ``account_based`` accounts; None: none."""
    ors: list[dict[str, Any]] = []
    if ids := list(dict.fromkeys(contacts)):
        ors.append({"parentContactId": {"$in": ids}})
    if ids := list(dict.fromkeys(accounts)):
        ors.append({"parentAccountId": {"$in": ids}})
    if ids := list(dict.fromkeys(account_based)):
        ors.append({"parentContactId": None, "parentAccountId": {"$in": ids}})
    return {"status": OPEN, "$or": ors} if ors else None


#: What a batch read leaves out: the outboxes of a lead's last change (stored already; the
#: start-up repair reads them), half a scored lead's bytes, read by no rule or writer.
OUTBOXES = ("historyOutbox", "eventsOutbox")


async def batches(
    db: AsyncDatabase, query: dict[str, Any], size: int, *, after: ObjectId | None = None
) -> AsyncIterator[list[dict[str, Any]]]:
    """The leads matching ``query`` (with an id above ``after``, when given) in ``_id``
    order, ``size`` at a time, without their :data:`OUTBOXES`."""
    if after is not None:
        query = {"$and": [query, {"_id": {"$gt": after}}]} if query else {"_id": {"$gt": after}}
    cursor = db[NAME].find(query, {f: 0 for f in OUTBOXES}).sort("_id", 1).batch_size(size)
    async for chunk in in_chunks(cursor, size):
        yield chunk


async def write_revisions(
    db: AsyncDatabase,
    writes: list[tuple[dict[str, Any], dict[str, Any]]],
    session: Session | None = None,
) -> set[ObjectId]:
    """Apply each ``(lead as read, update)`` only if the lead is still at the revision it was
    read at (the update must ``$inc`` ``rev``); one unordered ``bulk_write``.

    Returns the ids of the leads another writer changed meanwhile (nothing written for them).
    Each write stamps a fresh ``writeId``, so a write that lost its race is told apart from
    the one that won it even though both expected the same next revision.
    """
    if not writes:
        return set()
    stamps = {doc["_id"]: ObjectId() for doc, _ in writes}
    ops = [
        UpdateOne(
            {"_id": doc["_id"], "rev": doc.get("rev")},
            {**up, "$set": {**(up.get("$set") or {}), "writeId": stamps[doc["_id"]]}},
        )
        for doc, up in writes
    ]
    result = await db[NAME].bulk_write(ops, ordered=False, session=session)
    if result.matched_count == len(ops):
        return set()
    found = await find_by_ids(db[NAME], list(stamps), {"writeId": 1})
    return {oid for oid, stamp in stamps.items() if (found.get(oid) or {}).get("writeId") != stamp}


async def history_outboxes(
    db: AsyncDatabase, field: str, since: datetime, size: int = 500
) -> AsyncIterator[list[list[dict[str, Any]]]]:
    """The history entries leads changed since ``since`` keep in ``field`` (their last
    change's), ``size`` leads at a time."""
    query = {"updatedAt": {"$gte": since}, f"{field}.0": {"$exists": True}}
    cursor = db[NAME].find(query, {field: 1}).batch_size(size)
    async for chunk in in_chunks(cursor, size):
        yield [doc[field] for doc in chunk]


async def close(
    db: AsyncDatabase,
    doc: Mapping[str, Any],
    update: dict[str, Any],
    session: Session | None = None,
) -> LeadDoc | None:
    """Apply ``update`` to an open lead still at the revision ``doc`` was read at; returns
    the lead after it (None when it was closed or changed meanwhile)."""
    after = await db[NAME].find_one_and_update(
        {"_id": doc["_id"], "status": OPEN, "rev": doc.get("rev")},
        update,
        return_document=ReturnDocument.AFTER,
        session=session,
    )
    return stored_or_none(after, LeadDoc)


async def count(db: AsyncDatabase, query: dict[str, Any]) -> int:
    return await db[NAME].count_documents(query)


async def estimated_count(db: AsyncDatabase) -> int:
    """How many leads there are, from the collection's metadata (a progress bar's total: a
    count of every lead reads every row on the embedded server)."""
    return await db[NAME].estimated_document_count()


def stale_query(rules_version: str | None) -> dict[str, Any]:
    """Leads whose derived data is not from ``rules_version``: marked stale by a failure, or
    last evaluated with other rules."""
    return {"$or": [{"scoreError": {"$ne": None}}, {"funnelVersion": {"$ne": rules_version}}]}


async def watch_changes(
    db: AsyncDatabase, resume_after: Mapping[str, Any] | None = None
) -> AsyncChangeStream[dict[str, Any]]:
    """A change stream of leads created or changed (with their current document), resumed
    after ``resume_after`` if given.  Meant to be opened once per process and shared (see
    :mod:`leadgraph.web.live`)."""
    return await db[NAME].watch(
        [{"$match": {"operationType": {"$in": ["insert", "update", "replace"]}}}],
        full_document="updateLookup",
        resume_after=resume_after,
    )


async def count_by_stage(db: AsyncDatabase) -> dict[str, int]:
    """How many leads are in each stage (stages without leads are absent)."""
    cursor = await db[NAME].aggregate(
        [
            {"$match": {"stage": {"$type": "string"}}},
            {"$group": {"_id": "$stage", "n": {"$sum": 1}}},
        ]
    )
    return {doc["_id"]: int(doc["n"]) async for doc in cursor}


async def adopt(
    db: AsyncDatabase, oid: ObjectId, contact_id: ObjectId, session: Session | None = None
) -> LeadDoc | None:
    """Give a lead that has no parent contact ``contact_id``; returns the lead after."""
    # (update_one + find_one: SecantusDB's find_one_and_update scans unless on _id alone)
    await db[NAME].update_one(
        {"_id": oid, "parentContactId": None},
        {"$set": {"parentContactId": contact_id}},
        session=session,
    )
    return stored_or_none(await db[NAME].find_one({"_id": oid}, session=session), LeadDoc)


async def adopt_many(db: AsyncDatabase, parents: dict[ObjectId, ObjectId]) -> int:
    """Give each lead of ``parents`` (lead id -> contact id) that has no parent contact its
    contact, in one bulk write; returns how many leads were linked."""
    if not parents:
        return 0
    ops = [
        UpdateOne(
            {"_id": lid, "parentContactId": None},
            {"$set": {"parentContactId": cid}, "$inc": {"rev": 1}},
        )
        for lid, cid in parents.items()
    ]
    result = await db[NAME].bulk_write(ops, ordered=False)
    return result.modified_count


def orphan_query() -> dict[str, Any]:
    """Leads that belong to nobody: neither a parent contact nor a parent account (a lead
    of an account, without a contact, is account-based, not an orphan).  A lead whose person
    was deleted or erased (``anonymizedAt``) holds nobody to link to: not an orphan either."""
    return {"parentContactId": None, "parentAccountId": None, "anonymizedAt": None}


async def orphans(
    db: AsyncDatabase,
    limit: int,
    lead_ids: list[ObjectId] | None = None,
    *,
    after: ObjectId | None = None,
) -> list[dict[str, Any]]:
    """Up to ``limit`` orphan leads (of ``lead_ids`` when given, with an id above ``after``
    when given), in id order."""
    query = orphan_query()
    ids: dict[str, Any] = {}
    if lead_ids is not None:
        ids["$in"] = lead_ids
    if after is not None:
        ids["$gt"] = after
    if ids:
        query["_id"] = ids
    return await db[NAME].find(query).sort("_id", 1).limit(limit).to_list()


async def delete(db: AsyncDatabase, oid: ObjectId, session: Session | None = None) -> bool:
    """Delete one lead; False when there was none."""
    return await delete_by_id(db[NAME], oid, session=session)


async def unlink_parent(
    db: AsyncDatabase, field: str, parent: ObjectId, session: Session | None = None
) -> None:
    """The parent (``field``: ``parentContactId`` or ``parentAccountId``) was deleted."""
    await unlink(db[NAME], field, parent, inc=REV, session=session)


async def insert_documents(db: AsyncDatabase, docs: Sequence[Mapping[str, Any]]) -> None:
    """Store complete lead documents as they are (``_id`` included): the demo seed."""
    await insert_all(db[NAME], docs)


#: The person's copies a lead holds (cleared when the person is deleted or erased).
PERSON_COPIES = ("email", "emailNormalized", "firstName", "lastName", "jobTitle")


async def of_contact(
    db: AsyncDatabase, contact_id: ObjectId, session: Session | None = None
) -> list[dict[str, Any]]:
    """Every lead of a contact (open or closed), oldest first."""
    cursor = db[NAME].find({"parentContactId": contact_id}, session=session).sort("_id", 1)
    return await cursor.to_list()


async def anonymise(db: AsyncDatabase, ids: list[ObjectId], session: Session | None = None) -> int:
    """The person behind the leads ``ids`` was deleted or erased: clear their copies of the
    person (name, email, job title), keep the funnel data (topic, stage, scores) for the
    statistics, and mark them ``anonymizedAt`` (orphan linking leaves them alone).  Their
    parent is the caller's business (:func:`unlink_parent`)."""
    if not ids:
        return 0
    t = now()
    clear: dict[str, Any] = {name: None for name in PERSON_COPIES}
    update = {
        "$set": {**clear, "anonymizedAt": t, "updatedAt": t},
        "$unset": {"mergedFrom": ""},
        "$inc": REV,
    }
    result = await db[NAME].update_many({"_id": {"$in": ids}}, update, session=session)
    return result.modified_count


async def with_emails(
    db: AsyncDatabase, emails: list[str], session: Session | None = None
) -> list[dict[str, Any]]:
    """Every lead holding one of the normalised ``emails``, whatever its parent."""
    if not emails:
        return []
    query = {"emailNormalized": {"$in": list(dict.fromkeys(emails))}}
    return await db[NAME].find(query, session=session).to_list()


async def open_by_owner(
    db: AsyncDatabase, owners: list[str], session: Session | None = None
) -> dict[str, int]:
    """How many open leads each of ``owners`` has (owners without any are absent)."""
    cursor = await db[NAME].aggregate(
        [
            {"$match": {"owner": {"$in": owners}, "status": OPEN}},
            {"$group": {"_id": "$owner", "n": {"$sum": 1}}},
        ],
        session=session,
    )
    return {doc["_id"]: int(doc["n"]) async for doc in cursor}


async def give_owner(
    db: AsyncDatabase, oid: ObjectId, update: dict[str, Any], session: Session | None = None
) -> dict[str, Any] | None:
    """Apply ``update`` (an owner) to the lead ``oid`` if it is open and has no owner; the
    lead after it (None: closed, gone or owned meanwhile)."""
    return await db[NAME].find_one_and_update(
        {"_id": oid, "owner": None, "status": OPEN},
        update,
        return_document=ReturnDocument.AFTER,
        session=session,
    )
