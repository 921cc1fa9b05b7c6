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
from pymongo.errors import ConnectionFailure, PyMongoError

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")

# Set-up steps (indexes, seeding, API keys) are tried this many times in all when the database
# fails transiently (a dropped connection, a failover, an AutoReconnect), waiting
# SETUP_BACKOFF_S, then twice that, ... between tries; each retry is printed.
SETUP_ATTEMPTS = 4
SETUP_BACKOFF_S = 1.0


def transient(exc: BaseException) -> bool:
    """True for a database error worth another try: the connection failed (``AutoReconnect``,
    ``NetworkTimeout``, ...) or the server labelled it retryable."""
    if isinstance(exc, ConnectionFailure):
        return True
    return isinstance(exc, PyMongoError) and (
        exc.has_error_label("RetryableWriteError")
        or exc.has_error_label("TransientTransactionError")
    )


async def setup(
    what: str,
    step: Callable[[], Awaitable[T]],
    *,
    attempts: int = SETUP_ATTEMPTS,
    backoff_s: float = SETUP_BACKOFF_S,
) -> T:
    """``await step()``, tried up to ``attempts`` times when it fails with a transient database
    error (printed: ``set-up: <what> failed (...); retry 1 of 3 in 1.0s``); any other error, or
    the last try's, is raised. ``step`` must be safe to run again (indexes are; a seeding step
    starts by emptying what it fills)."""
    for attempt in range(1, attempts + 1):
        try:
            return await step()
        except PyMongoError as exc:
            if not transient(exc) or attempt == attempts:
                if attempt > 1:
                    print(f"set-up: {what} failed {attempt} times; giving up", flush=True)
                raise
            wait = backoff_s * 2 ** (attempt - 1)
            print(
                f"set-up: {what} failed ({type(exc).__name__}: {str(exc)[:120]}); "
                f"retry {attempt} of {attempts - 1} in {wait:.1f}s",
                flush=True,
            )
            await asyncio.sleep(wait)
    raise AssertionError("unreachable")


async def indexes(db: AsyncDatabase) -> None:
    """The declared indexes in ``db`` (``ensure_indexes``), retried on a transient error."""
    await setup(f"indexes of {db.name}", lambda: ensure_indexes(db))


async def api_key(db: AsyncDatabase, role: str, name: str = "bench") -> str:
    """A new API key of ``role`` in ``db``, retried on a transient error."""

    async def create() -> str:
        return (await keys.create(db, role, name))[0]

    return await setup(f"API key in {db.name}", create)


async def empty(db: AsyncDatabase) -> None:
    """Delete every document of every collection of ``db`` (indexes stay): a seeding step's
    start, so that retrying it after a partial run does not seed twice."""
    for name in await db.list_collection_names():
        if not name.startswith("system."):
            await db[name].delete_many({})


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
    await indexes(db)
    t = time.perf_counter()

    async def seed() -> dict[str, int]:
        await empty(db)
        return await seed_demo(db, n_contacts=contacts)

    counts = await setup(f"seeding {db.name}", seed)
    print(
        f"seeded {', '.join(f'{v} {k}' for k, v in counts.items())} "
        f"in {time.perf_counter() - t:.1f}s"
    )
    return await api_key(db, "admin")


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
