"""API keys as the server sees them now: the principal of a key, and a short per-process cache.

An HTTP request's key is looked up in the database, or taken from :class:`VerifiedKeys`: keys
found live in the last ``key_cache_seconds`` (1 s by default; 0: read on every request), so a
revocation or a role change reaches every server process within that time.  A WebSocket
outlives that check, so it
re-reads its key (see :mod:`leadgraph.web.view`): on every operation sent over it, and every
``ws_recheck_seconds`` for long-running subscriptions.  The periodic checks of all sockets
using the same key share one lookup through :class:`KeyStates`, and every process reads the
database itself, so a revocation reaches every server process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from ..store import keys
from .auth import Principal


def principal_of(doc: dict[str, Any]) -> Principal | None:
    """The caller a key document stands for; None when the key is revoked."""
    if doc.get("revokedAt") is not None:
        return None
    return Principal(name=doc["name"], role=doc["role"], key_id=str(doc["_id"]))


async def authenticate(db: AsyncDatabase, token: str) -> Principal | None:
    """The principal of a clear key, read now; None for an unknown or revoked key."""
    doc = await keys.lookup(db, token)
    return principal_of(doc) if doc else None


class VerifiedKeys:
    """Keys found live, by database and key hash, trusted for ``ttl`` seconds after the read
    (at most ``max_entries``; the oldest go first).  Unknown and revoked keys are never kept:
    each of their requests reads the database."""

    MAX_ENTRIES = 4096

    def __init__(
        self,
        ttl: float,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl, self.max_entries, self.clock = ttl, max_entries, clock
        self._entries: dict[tuple[str, str], tuple[float, Principal]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    async def principal(self, db: AsyncDatabase, token: str) -> Principal | None:
        """The principal of a clear key: from the cache while fresh, else read now."""
        if self.ttl <= 0:
            return await authenticate(db, token)
        where = (db.name, keys.hash_key(token))
        entry = self._entries.get(where)
        if entry is not None and entry[0] > self.clock():
            return entry[1]
        principal = await authenticate(db, token)
        self._entries.pop(where, None)
        if principal is not None:
            self._make_room()
            self._entries[where] = (self.clock() + self.ttl, principal)
        return principal

    def _make_room(self) -> None:
        if len(self._entries) < self.max_entries:
            return
        now = self.clock()
        for where in [w for w, (expires, _) in self._entries.items() if expires <= now]:
            del self._entries[where]
        while len(self._entries) >= self.max_entries:  # entries are in the order they were read
            del self._entries[next(iter(self._entries))]


class KeyStates:
    """Recently read key states, by database and key id, with one lookup in flight per key."""

    MAX_ENTRIES = 4096

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], tuple[float, asyncio.Task[Principal | None]]] = {}

    async def current(
        self, db: AsyncDatabase, principal: Principal, max_age: float = 0.0
    ) -> Principal | None:
        """``principal``'s key as it is now (None: revoked or deleted), read at most
        ``max_age`` seconds ago (0: read it now)."""
        if principal.key_id is None:
            return None
        where = (db.name, principal.key_id)
        clock = asyncio.get_running_loop().time()
        entry = self._entries.get(where)
        if entry is None or clock - entry[0] > max_age or _failed(entry[1]):
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries.clear()
            entry = (clock, asyncio.ensure_future(self._read(db, principal.key_id)))
            self._entries[where] = entry
        return await asyncio.shield(entry[1])

    @staticmethod
    async def _read(db: AsyncDatabase, key_id: str) -> Principal | None:
        doc = await keys.by_id(db, key_id)
        return principal_of(doc) if doc else None


def _failed(task: asyncio.Task[Any]) -> bool:
    return task.done() and (task.cancelled() or task.exception() is not None)
