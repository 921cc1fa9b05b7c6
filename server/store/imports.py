"""The ``imports`` collection: one document per import (``_id``: kind + a hash of the format,
the form and the file) with its status (``running`` | ``done`` | ``failed``), checkpoint (last
committed line), running totals, rejected and skipped rows and the file's unmapped columns,
so a killed or failed import resumes where it stopped."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from ..documents import IMPORTS
from ..types import Session
from ._base import now

NAME = IMPORTS
INDEXES = {NAME: [IndexModel([("startedAt", ASCENDING)], name="startedAt")]}
MAX_REJECTED_KEPT = 1000


async def get(db: AsyncDatabase, import_id: str) -> dict[str, Any] | None:
    return await db[NAME].find_one({"_id": import_id})


async def start(db: AsyncDatabase, state: dict[str, Any]) -> None:
    """Record a new import (or start one over): ``state`` replaces whatever was there."""
    await db[NAME].replace_one({"_id": state["_id"]}, state, upsert=True)


async def resume(db: AsyncDatabase, import_id: str) -> None:
    """An interrupted or failed import runs again from its checkpoint."""
    await db[NAME].update_one(
        {"_id": import_id},
        {"$set": {"status": "running", "updatedAt": now()}, "$unset": {"error": ""}},
    )


async def checkpoint(
    db: AsyncDatabase,
    import_id: str,
    line: int,
    counts: dict[str, int],
    rejected: list[dict[str, Any]],
    session: Session | None = None,
    *,
    skipped: list[dict[str, Any]] | None = None,
    unmapped: list[str] | None = None,
) -> None:
    """The rows up to ``line`` are written: remember it, the totals, the rejected and the
    skipped rows, and the file's columns no field takes (``unmapped``)."""
    sets: dict[str, Any] = {"committedLine": line, "counts": counts, "updatedAt": now()}
    if unmapped is not None:
        sets["unmappedColumns"] = unmapped
    await db[NAME].update_one(
        {"_id": import_id},
        {
            "$set": sets,
            "$push": {
                "rejectedRows": {"$each": rejected, "$slice": MAX_REJECTED_KEPT},
                "skippedRows": {"$each": skipped or [], "$slice": MAX_REJECTED_KEPT},
            },
        },
        session=session,
    )


async def finish(db: AsyncDatabase, import_id: str) -> None:
    t = now()
    await db[NAME].update_one(
        {"_id": import_id}, {"$set": {"status": "done", "finishedAt": t, "updatedAt": t}}
    )


async def fail(db: AsyncDatabase, import_id: str, error: str) -> None:
    """The import stopped on ``error``; the rows up to its checkpoint stay imported."""
    await db[NAME].update_one(
        {"_id": import_id}, {"$set": {"status": "failed", "error": error, "updatedAt": now()}}
    )
