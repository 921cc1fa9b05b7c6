"""The ``events`` collection: the record of what changed, one document per typed event
(:mod:`leadgraph.events`), appended in the transaction of the change it describes.

Shape (a contract: the audit log, webhooks and subscriptions read it)::

    {_id: ObjectId (unique; ordered by creation), type: "contact.updated", v: 1,
     at: datetime UTC, actor: {name, role, via: "api"|"cli"|"import"|"centre"|"system"} | None,
     record: {type: "contact"|"account"|"lead"|"interaction"|"opportunity"|"segment"|"rules",
              id: ObjectId | str},
     subject: ObjectId | None,      # the contact the event is about (erasure, audit)
     changes: [{field, old, new}],  # updates; [] otherwise
     data: {...},                   # the type's own fields, camelCase
     pending: true,                 # until every plugin handler heard it (absent: none had to)
     failures: [{plugin, hook, error}],  # handlers that raised, when any
     redacted: true}                # the subject was erased: no old/new values, no data

Events are kept ``LEADGRAPH_EVENT_RETENTION_DAYS`` (default 30) by a TTL index on ``at``
(:func:`ensure_retention`, run at start-up with the setting).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, UpdateMany, UpdateOne
from pymongo.asynchronous.change_stream import AsyncChangeStream
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from ..cursors import Order, Page
from ..types import Session
from ._base import insert_all
from .pagination import paginate
from .writes import Writes

if TYPE_CHECKING:
    from ..events import Event

NAME = "events"
TTL_INDEX = "at_ttl"
DEFAULT_RETENTION_DAYS = 30.0

INDEXES = {
    NAME: [
        # the sweep: events still pending, oldest first
        IndexModel(
            [("pending", ASCENDING), ("_id", ASCENDING)],
            name="pending",
            partialFilterExpression={"pending": True},
        ),
        # the audit log of one record, of one actor, and all of it (newest first)
        IndexModel(
            [("record.id", ASCENDING), ("at", DESCENDING), ("_id", DESCENDING)], name="record_at"
        ),
        IndexModel(
            [("actor.name", ASCENDING), ("at", DESCENDING), ("_id", DESCENDING)], name="actor_at"
        ),
        IndexModel([("type", ASCENDING), ("at", DESCENDING), ("_id", DESCENDING)], name="type_at"),
        IndexModel([("subject", ASCENDING)], name="subject", sparse=True),
    ]
}

#: The audit log's order: newest first.
ORDER = Order("at", descending=True)


async def ensure_retention(db: AsyncDatabase, days: float = DEFAULT_RETENTION_DAYS) -> None:
    """The TTL index on ``at`` expiring events after ``days`` (created, or changed in place
    with ``collMod`` when the setting changed since it was created)."""
    seconds = max(int(days * 86400), 1)
    model = IndexModel([("at", ASCENDING)], name=TTL_INDEX, expireAfterSeconds=seconds)
    try:
        await db[NAME].create_indexes([model])
    except OperationFailure as exc:
        if exc.code not in (85, 86):  # IndexOptionsConflict / IndexKeySpecsConflict
            raise
        spec = {"name": TTL_INDEX, "expireAfterSeconds": seconds}
        await db.command("collMod", NAME, index=spec)


def document(event: Event, pending: bool) -> dict[str, Any]:
    doc = event.to_doc()
    if pending:
        doc["pending"] = True
    return doc


async def append(
    db: AsyncDatabase,
    events: Sequence[Event],
    session: Session | None = None,
    *,
    pending: bool | Callable[[Event], bool] = True,
    writes: Writes | None = None,
) -> None:
    """Store ``events`` with one ``insert_many`` in the caller's transaction (``session``).
    ``pending`` says which a plugin handler still has to hear (default: all); ``writes``:
    gathered there, sent with the transaction's other writes."""
    if not events:
        return
    docs = [document(e, pending(e) if callable(pending) else pending) for e in events]
    if writes is not None:
        writes.insert(NAME, docs)
    else:
        await db[NAME].insert_many(docs, ordered=True, session=session)


async def append_documents(
    db: AsyncDatabase, docs: list[dict[str, Any]], session: Session | None = None
) -> None:
    """Store event documents made earlier (:func:`document`; a lead's outbox), with one
    unordered insert; those already stored are left as they are."""
    await insert_all(db[NAME], docs, session=session)


async def existing_ids(db: AsyncDatabase, ids: list[ObjectId]) -> set[ObjectId]:
    """Which of the event ``ids`` are stored."""
    if not ids:
        return set()
    found = await db[NAME].find({"_id": {"$in": ids}}, {"_id": 1}, batch_size=len(ids)).to_list()
    return {d["_id"] for d in found}


async def pending(db: AsyncDatabase, older_than: datetime, limit: int) -> list[dict[str, Any]]:
    """Events still pending that were written before ``older_than``, oldest first.

    Read through the partial ``pending`` index; before that index exists (a first start whose
    sweep runs ahead of ``ensure_indexes``) the same read goes without the hint."""
    query = {"pending": True, "_id": {"$lt": ObjectId.from_datetime(older_than)}}
    try:
        return await _pending(db, query, limit, "pending")
    except OperationFailure as exc:
        if "hint" not in str(exc).lower():
            raise
        return await _pending(db, query, limit, None)


async def _pending(
    db: AsyncDatabase, query: dict[str, Any], limit: int, hint: str | None
) -> list[dict[str, Any]]:
    cursor = db[NAME].find(query, batch_size=limit, hint=hint).sort("_id", ASCENDING)
    return await cursor.limit(limit).to_list()


async def mark_dispatched(
    db: AsyncDatabase,
    ids: Iterable[ObjectId],
    failures: Mapping[ObjectId, list[dict[str, str]]] | None = None,
) -> None:
    """The handlers heard events ``ids``: clear ``pending`` and keep the handlers that
    raised (``failures`` by event id) on their events.  One bulk write."""
    failures = failures or {}
    clean = [i for i in ids if i not in failures]
    ops: list[Any] = []
    if clean:
        ops.append(UpdateMany({"_id": {"$in": clean}}, {"$unset": {"pending": ""}}))
    for oid, failed in failures.items():
        ops.append(
            UpdateOne({"_id": oid}, {"$unset": {"pending": ""}, "$set": {"failures": failed}})
        )
    if ops:
        await db[NAME].bulk_write(ops, ordered=False)


async def watch_inserts(
    db: AsyncDatabase, resume_after: Mapping[str, Any] | None = None
) -> AsyncChangeStream[dict[str, Any]]:
    """A change stream of new events, resumed after ``resume_after``: the one live feed of
    the subscriptions (opened once per process and shared, see :mod:`leadgraph.web.live`)."""
    pipeline = [{"$match": {"operationType": "insert"}}]
    return await db[NAME].watch(pipeline, resume_after=resume_after)


async def get(db: AsyncDatabase, oid: ObjectId) -> dict[str, Any] | None:
    return await db[NAME].find_one({"_id": oid})


async def latest(db: AsyncDatabase, event_type: str) -> dict[str, Any] | None:
    """The newest event of ``event_type``."""
    return await db[NAME].find_one({"type": event_type}, sort=[("at", -1), ("_id", -1)])


def query(
    *,
    record: ObjectId | str | None = None,
    actor: str | None = None,
    types: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The audit log's filter: one record's events, one actor's, of some types (a type
    ending in ``.*`` names every type of its kind: ``lead.*``)."""
    out: dict[str, Any] = {}
    if record is not None:
        out["record.id"] = record
    if actor is not None:
        out["actor.name"] = actor
    if types:
        exact = [t for t in types if not t.endswith(".*")]
        kinds = [t[:-2] for t in types if t.endswith(".*")]
        options: list[dict[str, Any]] = [{"type": {"$in": exact}}] if exact else []
        options += [{"type": {"$regex": f"^{k}\\."}} for k in kinds]
        if "*" not in types:
            out["$or"] = options
    return out


async def page(
    db: AsyncDatabase,
    *,
    record: ObjectId | str | None = None,
    actor: str | None = None,
    types: Sequence[str] | None = None,
    first: int | None,
    after: str | None,
) -> Page:
    """One page of the audit log (newest first), of one record and/or actor and/or types."""
    filter = query(record=record, actor=actor, types=types)
    return await paginate(db[NAME], filter, ORDER, first=first, after=after)


async def redact_subject(
    db: AsyncDatabase, contact_id: ObjectId, session: Session | None = None
) -> int:
    """An erased person's events keep their type, time, actor and record, and the names of
    the fields changed, but lose every value (``changes[].old``/``new``, ``data``); how many
    were redacted."""
    result = await db[NAME].update_many(
        {"subject": contact_id},
        [
            {
                "$set": {
                    "data": {},
                    "redacted": True,
                    "changes": {
                        "$map": {
                            "input": {"$ifNull": ["$changes", []]},
                            "as": "c",
                            "in": {"field": "$$c.field", "old": None, "new": None},
                        }
                    },
                }
            }
        ],
        session=session,
    )
    return result.modified_count


async def of_subject(db: AsyncDatabase, contact_id: ObjectId) -> list[dict[str, Any]]:
    """Every event about a person, oldest first (data-protection export, tests)."""
    return await db[NAME].find({"subject": contact_id}).sort("_id", ASCENDING).to_list()


async def count(
    db: AsyncDatabase,
    *,
    record: ObjectId | str | None = None,
    actor: str | None = None,
    types: Sequence[str] | None = None,
) -> int:
    """How many events the audit log's filter matches."""
    return await db[NAME].count_documents(query(record=record, actor=actor, types=types))
