"""The ``suppressions`` collection: people erased on request, who must not come back.

``{_id: keyed hash of the normalised email (leadgraph.signing.email_hash), reason,
createdAt}`` — no address, no name.  Import and orphan linking look rows up here and leave
suppressed people out; a new explicit submission by the person clears the entry.
"""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from ..types import Session
from ._base import now

NAME = "suppressions"
INDEXES: dict[str, list[Any]] = {NAME: []}

# SecantusDB answers ``$in`` in time growing with the list length squared: keep lists short.
IN_CHUNK = 200


async def add(db: AsyncDatabase, digest: str, reason: str, session: Session | None = None) -> None:
    """Suppress ``digest`` (idempotent)."""
    await db[NAME].update_one(
        {"_id": digest},
        {"$setOnInsert": {"reason": reason, "createdAt": now()}},
        upsert=True,
        session=session,
    )


async def held(db: AsyncDatabase, digests: list[str]) -> set[str]:
    """Which of ``digests`` are suppressed.  Erased people are usually far fewer than the
    rows of an import batch: when the collection holds no more entries than asked about
    (its count is metadata, no scan), one find reads them all; else ``$in`` finds in
    chunks."""
    unique = list(dict.fromkeys(digests))
    if not unique:
        return set()
    if await db[NAME].estimated_document_count() <= len(unique):
        wanted = set(unique)
        return {d["_id"] async for d in db[NAME].find({}, {"_id": 1}) if d["_id"] in wanted}
    out: set[str] = set()
    for start in range(0, len(unique), IN_CHUNK):
        cursor = db[NAME].find({"_id": {"$in": unique[start : start + IN_CHUNK]}}, {"_id": 1})
        out.update([d["_id"] async for d in cursor])
    return out


async def is_held(db: AsyncDatabase, digest: str, session: Session | None = None) -> bool:
    """Whether ``digest`` is suppressed (one read by ``_id``; in a transaction when given)."""
    return await db[NAME].find_one({"_id": digest}, {"_id": 1}, session=session) is not None


async def remove(db: AsyncDatabase, digest: str, session: Session | None = None) -> bool:
    """Lift the suppression of ``digest``; True when there was one."""
    result = await db[NAME].delete_one({"_id": digest}, session=session)
    return bool(result.deleted_count)
