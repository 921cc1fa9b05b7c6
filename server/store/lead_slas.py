"""The ``leads`` collection's SLA data: the due date of the SLA of each lead's stage.

A lead in a stage with an SLA holds ``sla {stage, within, enteredAt, dueAt, breachedAt}``
(:mod:`leadgraph.rules.sla`); one index on ``sla.dueAt`` serves both the scheduler's "due and
not acted on" (a range up to now) and ``leads(filter: {slaBreached})``.  A breach is claimed
by one conditional update in the transaction that acts on it: the lead still open, at the
revision and due date read, not acted on (``breachedAt`` null); of two processes claiming it,
one matches and the other's transaction matches nothing (or conflicts, is retried from a
fresh snapshot and then matches nothing).  Nothing here depends on one node.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from ..types import Session
from ._base import in_chunks
from .leads import NAME, OPEN

DUE = "sla.dueAt"
INDEXES: dict[str, list[IndexModel]] = {
    NAME: [IndexModel([(DUE, ASCENDING), ("createdAt", ASCENDING), ("_id", ASCENDING)], name=DUE)]
}
#: Before any due date (every stored date is after it): "has an SLA", on the index.
_EVER = datetime(1970, 1, 1, tzinfo=UTC)


async def due(
    db: AsyncDatabase, now: datetime, limit: int, skip: Collection[ObjectId] = ()
) -> list[dict[str, Any]]:
    """Up to ``limit`` open leads whose SLA was due by ``now`` and is not acted on yet
    (those of ``skip`` aside), the longest overdue first."""
    query: dict[str, Any] = {DUE: {"$lte": now}, "sla.breachedAt": None, "status": OPEN}
    if skip:
        query["_id"] = {"$nin": list(skip)}
    return await db[NAME].find(query).sort([(DUE, ASCENDING), ("_id", ASCENDING)]).to_list(limit)


async def claim(
    db: AsyncDatabase, lead: Mapping[str, Any], at: datetime, session: Session | None
) -> bool:
    """Mark the breach of ``lead`` (as read) acted on at ``at``, in the caller's transaction;
    False when it is not this caller's to act on (acted on, moved, closed or changed since)."""
    sla = lead.get("sla") or {}
    result = await db[NAME].update_one(
        {
            "_id": lead["_id"],
            "rev": lead.get("rev"),
            "status": OPEN,
            DUE: sla.get("dueAt"),
            "sla.breachedAt": None,
        },
        {"$set": {"sla.breachedAt": at}},
        session=session,
    )
    return result.modified_count == 1


async def holding(
    db: AsyncDatabase, stages: list[str], size: int = 500
) -> AsyncIterator[list[dict[str, Any]]]:
    """The open leads that are in one of ``stages`` or hold an SLA, ``size`` at a time
    (``_id``, ``rev``, ``stage``, ``stageHistory``, ``sla``, ``createdAt``)."""
    query = {"status": OPEN, "$or": [{"stage": {"$in": stages}}, {DUE: {"$gte": _EVER}}]}
    fields = {"rev": 1, "stage": 1, "stageHistory": 1, "sla": 1, "createdAt": 1}
    async for chunk in in_chunks(db[NAME].find(query, fields).batch_size(size), size):
        yield chunk


async def restate(db: AsyncDatabase, changes: list[tuple[Mapping[str, Any], Any]]) -> int:
    """Set each ``(lead as read, its sla)`` where the lead is still at that revision and stage
    (a lead moved meanwhile got its new stage's SLA with the move); how many changed.  The
    revision stays: the SLA follows the rules, no person or run changed the lead."""
    if not changes:
        return 0
    ops = [
        UpdateOne(
            {"_id": doc["_id"], "rev": doc.get("rev"), "stage": doc.get("stage")},
            {"$set": {"sla": sla}},
        )
        for doc, sla in changes
    ]
    result = await db[NAME].bulk_write(ops, ordered=False)
    return result.modified_count
