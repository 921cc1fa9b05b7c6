"""Each database's active webhooks, as :func:`leadgraph.services.webhooks.enqueue` matches
events against them after every change."""

from __future__ import annotations

import time
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from ..store import webhooks as store

#: How long a process reuses its list: a dispatch then costs no read.  A change made in this
#: process is seen at once; one made in another within this many seconds (a delivery queued
#: for a webhook just disabled there is cancelled when its turn comes).
ACTIVE_CACHE_SECONDS = 1.0


class _Active:
    """The active webhooks of each database, kept :data:`ACTIVE_CACHE_SECONDS`."""

    def __init__(self) -> None:
        self._by_db: dict[tuple[int, str], tuple[float, list[dict[str, Any]]]] = {}

    async def get(self, db: AsyncDatabase) -> list[dict[str, Any]]:
        key = (id(db.client), db.name)
        hit = self._by_db.get(key)
        if hit is not None and time.monotonic() - hit[0] < ACTIVE_CACHE_SECONDS:
            return hit[1]
        found = await store.active(db)
        stamp = time.monotonic()
        # entries of databases not asked about lately go (tests make thousands of databases)
        self._by_db = {k: v for k, v in self._by_db.items() if stamp - v[0] < 60}
        self._by_db[key] = (stamp, found)
        return found

    def forget(self, db: AsyncDatabase) -> None:
        self._by_db.pop((id(db.client), db.name), None)


ACTIVE = _Active()
