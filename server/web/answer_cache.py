"""A small cache for expensive answers (segment member counts): each key is computed once
per time-to-live, however many aliases or concurrent requests ask for it at the same time
(single flight: the askers await the one running computation)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass
class _Entry(Generic[V]):
    task: asyncio.Future[V]
    expires: float


class AnswerCache(Generic[K, V]):
    """Values by key, fresh for ``ttl`` seconds (``None``: for the cache's lifetime)."""

    def __init__(self, ttl: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self.computations = 0  # how many times a value was computed (tests, metrics)
        self._entries: dict[K, _Entry[V]] = {}

    async def get(self, key: K, compute: Callable[[], Awaitable[V]]) -> V:
        """The cached value of ``key``, computed by ``compute`` when missing or expired.

        Concurrent callers share one computation; a failed computation is not cached (the
        next caller tries again) and its error reaches every caller that awaited it.
        """
        now = self.clock()
        entry = self._entries.get(key)
        if entry is None or (entry.task.done() and entry.expires <= now):
            self._evict(now)
            entry = self._entries[key] = _Entry(
                asyncio.ensure_future(self._run(key, compute)), float("inf")
            )
        # shield: a caller that is cancelled (client gone) does not cancel the others' answer
        return await asyncio.shield(entry.task)

    async def _run(self, key: K, compute: Callable[[], Awaitable[V]]) -> V:
        self.computations += 1
        try:
            value = await compute()
        except BaseException:
            self._entries.pop(key, None)
            raise
        entry = self._entries.get(key)
        if entry is not None and self.ttl is not None:  # fresh from when it was computed
            entry.expires = self.clock() + self.ttl
        return value

    def _evict(self, now: float) -> None:
        """Drop expired entries (keys of old rules versions or databases go away too)."""
        for key in [k for k, e in self._entries.items() if e.task.done() and e.expires <= now]:
            del self._entries[key]
