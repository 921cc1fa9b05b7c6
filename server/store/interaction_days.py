"""The ``interaction_days`` collection: how many interactions of each type a contact has on each
day (UTC), and in all: the stored form of the counts the rules ask for, kept in the same
transaction as the interactions they count.

One document per contact and day (``{contactId, day, n: {type: count}}``) and one per contact
for every day together (``day`` :data:`ALL`, after every real day, so that a window's days and
the total are one index range), so that counting a contact's interactions of a type
within a window reads at most one document per day of the window, and without a window one
document, however many interactions the contact has (:func:`leadgraph.services.facts.gather`).

A contact whose days were counted from its interactions carries ``interactionDays: true``
(:data:`MARKER`); one without it (stored before this collection, or by a road that inserts
interactions in bulk) is counted from its interactions until :func:`rebuild` counts its days.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from ..types import Session
from ._base import BATCH_ALL
from .writes import Writes

NAME = "interaction_days"
INTERACTIONS = "interactions"
#: The contact field saying its days are counted here (every interaction of it).
MARKER = "interactionDays"

INDEXES = {
    NAME: [
        IndexModel([("contactId", ASCENDING), ("day", ASCENDING)], name="contact_day", unique=True)
    ]
}

Days = dict[datetime | None, dict[str, int]]  # day (None: every day) -> type -> how many
#: The ``day`` of a contact's every-day document: after every day, so ``day >= d`` reads it too.
ALL = datetime(9999, 12, 31, tzinfo=UTC)


def day_of(at: datetime) -> datetime:
    """The UTC day ``at`` falls on, as a datetime at midnight (naive when ``at`` is)."""
    if at.tzinfo is not None:
        at = at.astimezone(UTC)
    return at.replace(hour=0, minute=0, second=0, microsecond=0)


def _bumps(docs: Iterable[Mapping[str, Any]]) -> list[UpdateOne]:
    return [UpdateOne(f, u, upsert=True) for f, u in _counts(docs)]


def _counts(docs: Iterable[Mapping[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The upserts counting ``docs`` into their contacts' days: (filter, update) each."""
    counted: dict[tuple[ObjectId, datetime], dict[str, int]] = {}
    for doc in docs:
        for day in (day_of(doc["occurredAt"]), ALL):
            mine = counted.setdefault((doc["contactId"], day), {})
            mine[doc["type"]] = mine.get(doc["type"], 0) + 1
    return [
        (
            {"contactId": contact, "day": day},
            {"$inc": {f"n.{kind}": n for kind, n in by_type.items()}},
        )
        for (contact, day), by_type in counted.items()
    ]


async def count_in(
    db: AsyncDatabase,
    docs: Sequence[Mapping[str, Any]],
    session: Session | None = None,
    writes: Writes | None = None,
) -> None:
    """Count newly stored interactions into their contacts' days (one ``bulk_write``, in the
    caller's transaction; ``writes``: gathered there, sent with its other writes)."""
    if not docs:
        return
    if writes is None:
        await db[NAME].bulk_write(_bumps(docs), ordered=False, session=session)
        return
    for filter, update in _counts(docs):
        writes.update(NAME, filter, update, upsert=True)


async def rebuild(
    db: AsyncDatabase, contact_ids: Sequence[ObjectId], session: Session | None = None
) -> None:
    """Count the days of these contacts again from their interactions and mark them counted
    (a merge moved interactions between them, or their days were never counted)."""
    ids = list(dict.fromkeys(contact_ids))
    if not ids:
        return
    await db[NAME].delete_many({"contactId": {"$in": ids}}, session=session)
    projection = {"contactId": 1, "type": 1, "occurredAt": 1}
    cursor = db[INTERACTIONS].find(
        {"contactId": {"$in": ids}}, projection, session=session, batch_size=BATCH_ALL
    )
    bumps = _bumps([doc async for doc in cursor if doc.get("occurredAt") and doc.get("type")])
    if bumps:
        await db[NAME].bulk_write(bumps, ordered=False, session=session)
    await db["contacts"].update_many(
        {"_id": {"$in": ids}}, {"$set": {MARKER: True}}, session=session
    )


async def forget(db: AsyncDatabase, contact_id: ObjectId, session: Session | None = None) -> None:
    """The contact's interactions are deleted: so are its days."""
    await db[NAME].delete_many({"contactId": contact_id}, session=session)


async def of_contacts(
    db: AsyncDatabase, contact_ids: Sequence[ObjectId], since: datetime | None
) -> dict[ObjectId, Days]:
    """The days of these contacts from day ``since`` on (None: no day) and their every-day
    document (key None): one read of one index range per contact, at most one document per
    day from ``since`` (``contact_day``: ``contactId`` equal, ``day`` from ``since`` to
    :data:`ALL`)."""
    ids = list(dict.fromkeys(contact_ids))
    out: dict[ObjectId, Days] = {c: {} for c in ids}
    if not ids:
        return out
    query = {
        "contactId": ids[0] if len(ids) == 1 else {"$in": ids},
        "day": {"$gte": since} if since is not None else ALL,
    }
    cursor = db[NAME].find(query, {"_id": 0}, batch_size=BATCH_ALL)
    async for doc in cursor:
        day = None if as_aware(doc["day"]) == ALL else doc["day"]
        out[doc["contactId"]][day] = {k: int(v) for k, v in (doc["n"] or {}).items()}
    return out


def as_aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


async def edge_counts(
    db: AsyncDatabase,
    contact_ids: Sequence[ObjectId],
    ranges: Mapping[str, tuple[datetime, datetime]],
) -> dict[tuple[ObjectId, str], dict[str, int]]:
    """How many interactions of each type each contact has in each named ``[start, end)``
    range (the part of a window's first day inside the window): ``{(contact, type): {name:
    n}}``.  One aggregation per range, each an equality on the contact and a range on
    ``occurredAt`` (index ``contact_occurredAt``: it reads that part of one day, whatever the
    number of interactions outside it)."""
    ids = list(dict.fromkeys(contact_ids))
    out: dict[tuple[ObjectId, str], dict[str, int]] = {}
    for name, (start, end) in ranges.items() if ids else ():
        match = {
            "contactId": ids[0] if len(ids) == 1 else {"$in": ids},
            "occurredAt": {"$gte": start, "$lt": end},
        }
        group = {"_id": {"c": "$contactId", "t": "$type"}, "n": {"$sum": 1}}
        cursor = await db[INTERACTIONS].aggregate(
            [{"$match": match}, {"$group": group}], batchSize=BATCH_ALL
        )
        async for doc in cursor:
            out.setdefault((doc["_id"]["c"], doc["_id"]["t"]), {})[name] = int(doc["n"])
    return out


def next_day(day: datetime) -> datetime:
    return day + timedelta(days=1)


async def uncounted(db: AsyncDatabase, limit: int) -> list[ObjectId]:
    """Up to ``limit`` contacts whose days are not counted (:func:`rebuild` counts them)."""
    cursor = db["contacts"].find({MARKER: {"$ne": True}}, {"_id": 1}).limit(limit)
    return [doc["_id"] async for doc in cursor]
