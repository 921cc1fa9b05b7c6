"""A token bucket per API key (its id), spent in query-cost points (see :mod:`leadgraph.web.cost`).

Each key may spend up to ``burst`` points at once and earns ``per_second`` points back every
second.  The buckets live in the server process: with several processes each grants the full
rate, so divide the settings by the number of processes (or rate-limit at the proxy).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """Per-key token buckets; :meth:`take` spends points or says how long to wait."""

    def __init__(
        self, per_second: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.per_second = per_second
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str, points: int) -> float | None:
        """Spend ``points`` of ``key``'s bucket: None when granted, else the seconds until the
        bucket holds enough (nothing is spent then).  A request costing more than the whole
        burst is granted once the bucket is full."""
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(tokens=float(self.burst), at=now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.per_second)
        bucket.at = now
        need = float(min(points, self.burst))
        if bucket.tokens >= need:
            bucket.tokens -= need
            return None
        if self.per_second <= 0:
            return float("inf")
        return (need - bucket.tokens) / self.per_second
