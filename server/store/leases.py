"""The ``leases`` collection: which process does a periodic job now, across processes.

One document per job (``_id``: the job's name) names its ``holder`` and when the lease
``expiresAt``.  A process may do the job while it holds an unexpired lease; a holder that dies
stops renewing, and another process takes the lease once it has expired.

Acquiring is one conditional upsert: "the lease named ``name`` that is expired or mine"
becomes mine until now + ttl.  When another holder's unexpired lease exists, the filter
matches nothing, the upsert tries to insert a second document with the same ``_id`` and the
database refuses it (``DuplicateKeyError``): not acquired.  Two processes racing for an
expired lease both match it; the database applies the two updates one after the other and the
second no longer matches (its holder changed), so it inserts, and fails the same way.  Nothing
here depends on one node: it is a single-document conditional write, which a replica set
serialises.

Times are the acquiring process's clock: the processes' clocks must agree (NTP) to well
within a lease's ttl, which is why ttls are tens of seconds, not milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from ._base import now

NAME = "leases"
INDEXES: dict[str, list[Any]] = {NAME: []}


@dataclass(frozen=True)
class Lease:
    """A lease held: the job, its holder and until when (the acquiring process's clock)."""

    name: str
    holder: str
    expires_at: datetime


def _ttl(ttl: timedelta | float) -> timedelta:
    out = ttl if isinstance(ttl, timedelta) else timedelta(seconds=float(ttl))
    if out <= timedelta(0):
        raise ValueError("a lease's ttl must be positive")
    return out


def _lease(doc: dict[str, Any] | None) -> Lease | None:
    if doc is None:
        return None
    return Lease(doc["_id"], doc["holder"], doc["expiresAt"])


async def acquire(
    db: AsyncDatabase, name: str, holder: str, ttl: timedelta | float
) -> Lease | None:
    """Take (or keep) the lease ``name`` for ``holder`` for ``ttl`` (seconds or a timedelta):
    the lease, or None when another holder's lease has not expired."""
    t = now()
    mine_or_expired = {"_id": name, "$or": [{"holder": holder}, {"expiresAt": {"$lte": t}}]}
    update = {"$set": {"holder": holder, "expiresAt": t + _ttl(ttl)}}
    try:
        doc = await db[NAME].find_one_and_update(
            mine_or_expired, update, upsert=True, return_document=ReturnDocument.AFTER
        )
    except DuplicateKeyError:
        return None
    return _lease(doc)


async def renew(db: AsyncDatabase, name: str, holder: str, ttl: timedelta | float) -> Lease | None:
    """Extend ``holder``'s lease ``name`` by ``ttl`` from now: the lease, or None when it is
    no longer ``holder``'s (it expired and another process took it)."""
    doc = await db[NAME].find_one_and_update(
        {"_id": name, "holder": holder},
        {"$set": {"expiresAt": now() + _ttl(ttl)}},
        return_document=ReturnDocument.AFTER,
    )
    return _lease(doc)


async def release(db: AsyncDatabase, name: str, holder: str) -> bool:
    """Give the lease up (another process may take it at once); True when ``holder`` held it."""
    result = await db[NAME].delete_one({"_id": name, "holder": holder})
    return bool(result.deleted_count)


async def holder_of(db: AsyncDatabase, name: str) -> Lease | None:
    """Who holds the lease ``name`` now (None: nobody, or it expired)."""
    doc = await db[NAME].find_one({"_id": name, "expiresAt": {"$gt": now()}})
    return _lease(doc)
