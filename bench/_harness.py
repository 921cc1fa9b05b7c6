"""What every benchmark shares: the database it runs on and its demo data, round-robin timing
and percentiles."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Hashable
from typing import Any, TypeVar

from leadgraph.db import ensure_indexes, make_client
from leadgraph.embedded import EmbeddedMongo
from leadgraph.services.seed import seed_demo
from leadgraph.store import keys
from pymongo.asynchronous.database import AsyncDatabase

K = TypeVar("K", bound=Hashable)


def run_on_database(
    run: Callable[[argparse.Namespace, str], Coroutine[Any, Any, None]], args: argparse.Namespace
) -> None:
    """Run ``run(args, uri)`` against ``$MONGODB_URI`` when it is set, otherwise against an
    embedded in-memory database started for the run and stopped afterwards."""
    uri = os.environ.get("MONGODB_URI")
    if uri:
        asyncio.run(run(args, uri))
        return
    with EmbeddedMongo(":memory:") as embedded:
        asyncio.run(run(args, embedded.uri))


@contextlib.asynccontextmanager
async def scratch_database(uri: str, prefix: str) -> AsyncIterator[AsyncDatabase]:
    """A database named ``<prefix>_<random>`` on ``uri`` for one run; dropped (and the client
    closed) afterwards, also when the run fails."""
    client = make_client(uri)
    db = client[f"{prefix}_{uuid.uuid4().hex[:8]}"]
    try:
        yield db
    finally:
        await client.drop_database(db.name)
        await client.close()


async def seed_with_key(db: AsyncDatabase, contacts: int) -> str:
    """Indexes and the demo data set of ``contacts`` contacts (``seed_demo``) in ``db``; prints
    what was seeded and how long it took, and returns a new admin API key for the server."""
    await ensure_indexes(db)
    t = time.perf_counter()
    counts = await seed_demo(db, n_contacts=contacts)
    print(
        f"seeded {', '.join(f'{v} {k}' for k, v in counts.items())} "
        f"in {time.perf_counter() - t:.1f}s"
    )
    key, _ = await keys.create(db, "admin", "bench")
    return key


async def timed(
    fns: dict[K, Callable[[], Awaitable[Any]]], reps: int, warmup: int
) -> dict[K, list[float]]:
    """Milliseconds per call of each function, after ``warmup`` untimed rounds; run round-robin
    so that drift (caches, GC, other load) hits them alike."""
    for _ in range(warmup):
        for fn in fns.values():
            await fn()
    out: dict[K, list[float]] = {name: [] for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            t = time.perf_counter()
            await fn()
            out[name].append((time.perf_counter() - t) * 1000)
    return out


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (1..99) of ``values``, interpolated; the one value when there is
    one, NaN when there is none."""
    if not values:
        return math.nan
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]
