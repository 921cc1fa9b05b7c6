"""API keys as the server sees them now: the principal of a key, and a short per-process cache.

HTTP requests look their key up on every request.  A WebSocket outlives that check, so it
re-reads its key (see :mod:`leadgraph.web.view`): on every operation sent over it, and every
``ws_recheck_seconds`` for long-running subscriptions.  The periodic checks of all sockets
using the same key share one lookup through :class:`KeyStates`, and every process reads the
database itself, so a revocation reaches every server process.
"""

from __future__ import annotations

import asyncio
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
