"""The ``lead_history`` collection (every change of a lead's scores, sales-ready flag or
stage, one document per changed model or per lead-level change) and ``rule_versions`` (the
content of every rules version the funnel has used, by its content hash).

Shapes (see :mod:`leadgraph.services.history` for what they mean)::

    lead_history  {_id, leadId, rev, at, rulesVersion, cause {kind, interactionId?, by?,
                   reason?}, model (None: a lead-level change), changes {field: {before,
                   after}}, explanation [{rule, before, after}], transitions [name]}
    rule_versions {_id: version, files [{path, content}], firstUsedAt}
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from ..cursors import Order, Page
from ..types import Session
from ._base import insert_all
from .pagination import paginate
from .writes import Writes

NAME = "lead_history"
RULE_VERSIONS = "rule_versions"

INDEXES = {
    NAME: [
        IndexModel([("leadId", ASCENDING), ("at", ASCENDING), ("_id", ASCENDING)], name="lead_at"),
        IndexModel(
            [("leadId", ASCENDING), ("model", ASCENDING), ("at", ASCENDING), ("_id", ASCENDING)],
            name="lead_model_at",
        ),
        # one entry per (lead revision, model): a retried write never records a change twice
        IndexModel(
            [("leadId", ASCENDING), ("rev", ASCENDING), ("model", ASCENDING)],
            name="lead_rev_model_unique",
            unique=True,
        ),
    ],
    RULE_VERSIONS: [],  # read by _id only
}

ORDER = Order("at")  # oldest first, then by _id


async def append(
    db: AsyncDatabase,
    entries: list[dict[str, Any]],
    session: Session | None = None,
    writes: Writes | None = None,
) -> None:
    """Store history entries (one unordered insert; ``writes``: gathered there, sent with
    the transaction's other writes)."""
    if writes is not None:
        writes.insert(NAME, entries)
    else:
        await insert_all(db[NAME], entries, session=session)


async def existing_ids(db: AsyncDatabase, ids: list[ObjectId]) -> set[ObjectId]:
    """Which of the entry ``ids`` are stored."""
    if not ids:
        return set()
    found = await db[NAME].find({"_id": {"$in": ids}}, {"_id": 1}, batch_size=len(ids)).to_list()
    return {d["_id"] for d in found}


def query(lead_id: ObjectId, model: str | None = None) -> dict[str, Any]:
    """A lead's entries, or only those of one scoring ``model``."""
    out: dict[str, Any] = {"leadId": lead_id}
    if model is not None:
        out["model"] = model
    return out


async def page(
    db: AsyncDatabase,
    lead_id: ObjectId,
    model: str | None,
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> Page:
    """One page of a lead's entries (of ``model`` when given), oldest first."""
    return await paginate(
        db[NAME], query(lead_id, model), ORDER, first=first, after=after, last=last, before=before
    )


async def count(db: AsyncDatabase, lead_id: ObjectId, model: str | None = None) -> int:
    return await db[NAME].count_documents(query(lead_id, model))


async def after_time(db: AsyncDatabase, lead_id: ObjectId, t: datetime) -> list[dict[str, Any]]:
    """A lead's entries later than ``t``, newest first (to undo them from its current state)."""
    cursor = db[NAME].find({"leadId": lead_id, "at": {"$gt": t}}, batch_size=10_000)
    return await cursor.sort([("at", -1), ("_id", -1)]).to_list()


async def latest_until(
    db: AsyncDatabase, lead_id: ObjectId, t: datetime, limit: int = 200
) -> list[dict[str, Any]]:
    """A lead's last ``limit`` entries at or before ``t``, newest first."""
    cursor = db[NAME].find({"leadId": lead_id, "at": {"$lte": t}}, batch_size=limit)
    return await cursor.sort([("at", -1), ("_id", -1)]).limit(limit).to_list()


async def delete_of_lead(
    db: AsyncDatabase, lead_id: ObjectId, session: Session | None = None
) -> None:
    """A lead was deleted: its history goes with it."""
    await db[NAME].delete_many({"leadId": lead_id}, session=session)


async def save_rules(
    db: AsyncDatabase, version: str, files: list[tuple[str, bytes]], at: datetime
) -> None:
    """Keep the content of rules ``version`` (a no-op when it is already kept)."""
    doc = {
        "files": [
            {"path": name, "content": data.decode("utf-8", "replace")} for name, data in files
        ],
        "firstUsedAt": at,
    }
    await db[RULE_VERSIONS].update_one({"_id": version}, {"$setOnInsert": doc}, upsert=True)


async def of_leads(db: AsyncDatabase, lead_ids: list[ObjectId]) -> list[dict[str, Any]]:
    """Every history entry of the leads ``lead_ids``, oldest first (a data-protection
    export)."""
    if not lead_ids:
        return []
    query = {"leadId": {"$in": lead_ids}}
    return await db[NAME].find(query).sort([("at", ASCENDING), ("_id", ASCENDING)]).to_list()
