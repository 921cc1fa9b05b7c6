"""The MongoDB connection: one AsyncMongoClient per process, indexes created at start-up."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import fcntl
import json
import os
import re
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pymongo
from pymongo import AsyncMongoClient, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError

from . import signing
from .config import Settings, server_secret
from .embedded import EmbeddedDatabaseError, EmbeddedMongo
from .store import INDEXES, RETIRED_INDEXES, events, webhook_deliveries
from .types import Session

T = TypeVar("T")


async def ensure_indexes(
    db: AsyncDatabase,
    indexes: dict[str, list[IndexModel]] | None = None,
    *,
    event_retention_days: float = events.DEFAULT_RETENTION_DAYS,
) -> None:
    """Create every declared index; creating an existing index is a no-op, so this is
    idempotent.  With the declared indexes, the events' retention (a TTL index whose
    expiry follows the setting)."""
    for collection, models in (indexes or INDEXES).items():
        if models:
            await db[collection].create_indexes(models)
    if indexes is None:
        await drop_retired_indexes(db)
        await events.ensure_retention(db, event_retention_days)
        await webhook_deliveries.ensure_retention(db, event_retention_days)  # as long


async def drop_retired_indexes(db: AsyncDatabase) -> None:
    """Drop the indexes earlier versions created that no module declares any more
    (``RETIRED_INDEXES``); an index already gone (never made, or dropped by another process
    starting at the same time) is no error."""
    for collection, names in RETIRED_INDEXES.items():
        for name in names:
            try:
                await db[collection].drop_index(name)
            except OperationFailure as exc:
                if exc.code not in (26, 27):  # NamespaceNotFound, IndexNotFound
                    raise


#: How every write (transactions' commits included) is acknowledged unless ``MONGODB_URI`` says
#: otherwise: by a majority of the replica set's data-bearing members, each having written it
#: to its journal, so an acknowledged write survives a kill -9 of the primary, a restart and a
#: failover (see docs/operations.md, "Durability").
WRITE_CONCERN: dict[str, Any] = {"w": "majority", "journal": True}


def uri_options(uri: str) -> set[str]:
    """The (lower-case) option names a MongoDB URI's query string sets."""
    query = uri.split("?", 1)[1] if "?" in uri else ""
    return {part.split("=", 1)[0].strip().lower() for part in re.split("[&;]", query) if part}


def make_client(uri: str, **kwargs: Any) -> AsyncMongoClient:
    """The client for ``uri``, with :data:`WRITE_CONCERN` for the parts of it the URI does
    not set (``?w=1`` or ``?journal=false`` in ``MONGODB_URI`` wins, deliberately)."""
    named = uri_options(uri)
    defaults = {k: v for k, v in WRITE_CONCERN.items() if k.lower() not in named}
    return AsyncMongoClient(uri, tz_aware=True, **{**defaults, **kwargs})


def unavailable(exc: BaseException) -> bool:
    """True for the errors of an unreachable database (down, failing over, network cut).

    Requests that fail with one answer ``UNAVAILABLE`` (retryable) instead of an internal error.
    """
    return isinstance(exc, ConnectionFailure)


@dataclass
class Connection:
    """An open database: the client, the database handle and the embedded server (if any)."""

    client: AsyncMongoClient
    db: AsyncDatabase
    embedded: EmbeddedMongo | None
    uri: str


def _state_file(data_dir: Path) -> Path:
    return data_dir / "embedded.json"


def _running_embedded(data_dir: Path) -> str | None:
    """The URI of an embedded server another leadgraph process already runs on this data dir."""
    state = _state_file(data_dir)
    if not state.exists():
        return None
    try:
        info = json.loads(state.read_text())
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError):
        return None
    return str(info["uri"])


def reachable_uri(settings: Settings) -> str | None:
    """``MONGODB_URI``, else the embedded server a running leadgraph process publishes, else
    None (nothing to connect to without starting a database)."""
    return settings.mongodb_uri or _running_embedded(settings.data_dir)


# How long a command waits for a ``leadgraph serve`` that is starting the embedded server.
SERVE_START_WAIT = 60.0


def _own_embedded(data_dir: Path, serving: bool) -> int | None:
    """Take the data dir's lock (the right to run its embedded server): the lock file's
    descriptor, held until closed, or None when another process holds it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / "embedded.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps({"pid": os.getpid(), "serve": serving}).encode())
    return fd


def _lock_holder(data_dir: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((data_dir / "embedded.lock").read_text() or "{}"))
    except (OSError, ValueError):
        return {}


async def _embedded_uri_or_lock(settings: Settings, serving: bool) -> tuple[str | None, int | None]:
    """The URI of the embedded server a ``leadgraph serve`` publishes on this data dir, or
    this process's lock on the data dir (it starts the server itself).

    Raises :class:`EmbeddedDatabaseError` when another command (not ``serve``) holds the
    database: its files are opened by one process at a time, and a command's server stops
    when the command ends, so sharing it would cut the others off."""
    deadline = time.monotonic() + SERVE_START_WAIT
    while True:
        fd = _own_embedded(settings.data_dir, serving)
        if fd is not None:  # nobody runs it: a server announced by a killed process is gone
            with contextlib.suppress(OSError):
                _state_file(settings.data_dir).unlink()
            return None, fd
        uri = _running_embedded(settings.data_dir)
        if uri is not None:
            return uri, None
        holder = _lock_holder(settings.data_dir)
        if not holder.get("serve") or time.monotonic() > deadline:
            raise EmbeddedDatabaseError(
                f"another leadgraph process (pid {holder.get('pid', '?')}) is using the embedded "
                f"database in {settings.data_dir}; wait until it ends, or run `leadgraph serve` "
                "first: commands run while it serves share its database"
            )
        await asyncio.sleep(0.2)  # a `leadgraph serve` is starting it: use it once published


@contextlib.asynccontextmanager
async def open_database(settings: Settings, *, publish: bool = False) -> AsyncIterator[Connection]:
    """Connect to ``MONGODB_URI`` or, without one, to the embedded database under the data dir.

    One process at a time runs a data dir's embedded server (a lock file in the data dir).
    ``publish`` (``leadgraph serve``) announces it to the others: a command run meanwhile
    (``keys create`` while ``serve`` runs) reuses it.  A command that finds the database held
    by another command is refused with a clear message instead of opening its files twice.
    """
    # suppression hashes and tokens of commands (the app has loaded it already)
    signing.use_secret(server_secret(settings), replace=False)
    embedded: EmbeddedMongo | None = None
    lock: int | None = None
    uri = settings.mongodb_uri
    if uri is None:
        uri, lock = await _embedded_uri_or_lock(settings, publish)
    if uri is None:
        try:
            embedded = EmbeddedMongo(settings.data_dir / "db").start()
        except BaseException:
            assert lock is not None
            os.close(lock)
            raise
        uri = embedded.uri
        if publish:
            _state_file(settings.data_dir).write_text(json.dumps({"pid": os.getpid(), "uri": uri}))
    # how long a request waits for a reachable server before it fails as UNAVAILABLE
    client = make_client(uri, serverSelectionTimeoutMS=int(settings.db_timeout * 1000))
    embedded_db = settings.mongodb_uri is None  # started here or by the `leadgraph serve` we join
    limit_transactions(
        client, settings.max_transactions or (EMBEDDED_TRANSACTIONS if embedded_db else 0)
    )
    try:
        db = client[settings.db_name]
        await ensure_indexes(db, event_retention_days=settings.event_retention_days)
        yield Connection(client=client, db=db, embedded=embedded, uri=uri)
    finally:
        try:
            await client.close()
        finally:  # even when close() is interrupted (Ctrl-C cancels the main task)
            if embedded is not None:
                if publish:
                    with contextlib.suppress(OSError):
                        _state_file(settings.data_dir).unlink()
                embedded.stop()
            if lock is not None:
                os.close(lock)  # releases the data dir


async def ping(db: AsyncDatabase, timeout: float | None = None) -> bool:
    """Whether the database answers ``ping`` (within ``timeout`` seconds, when given)."""
    try:
        with pymongo.timeout(timeout):
            await db.command("ping")
    except PyMongoError:
        return False
    return True


#: Transactions at once on the embedded server unless LEADGRAPH_MAX_TRANSACTIONS says: it runs
#: one command at a time, so a third open transaction adds no work done, only snapshots kept.
EMBEDDED_TRANSACTIONS = 2

#: The bound on transactions at once per client (:func:`limit_transactions`); none: no bound.
_turns: weakref.WeakKeyDictionary[AsyncMongoClient, asyncio.Semaphore] = weakref.WeakKeyDictionary()


#: Whether this task (and the tasks it starts) runs inside a transaction's turn.
_holding: contextvars.ContextVar[bool] = contextvars.ContextVar("leadgraph_turn", default=False)


def limit_transactions(client: AsyncMongoClient, at_once: int) -> None:
    """Run at most ``at_once`` of this process's transactions on ``client`` at a time (0: no
    limit); the others wait their turn before they start (see :func:`in_transaction`)."""
    if at_once > 0:
        _turns[client] = asyncio.Semaphore(at_once)
    else:
        _turns.pop(client, None)


async def in_transaction(db: AsyncDatabase, work: Callable[[Session], Awaitable[T]]) -> T:
    """Run ``work(session)`` in a multi-document transaction, retried on transient errors,
    when its client's bound on transactions at once (:func:`limit_transactions`) lets it.

    Needs a replica set or sharded cluster (the embedded server presents itself as one).
    A transaction keeps a snapshot open from its first read to its commit: on a server that
    runs one command at a time (the embedded one), transactions beyond the few it can serve
    only wait inside the server holding snapshots, which slows every read and write there; in
    the process they wait without holding anything.
    """
    async with _turn(db.client), db.client.start_session() as session:
        return await session.with_transaction(work)


@contextlib.asynccontextmanager
async def _turn(client: AsyncMongoClient) -> AsyncIterator[None]:
    """Wait for a turn under ``client``'s bound (none: no bound, or this task has its turn
    already: a transaction started inside one does not wait for the turn its caller holds)."""
    turn = _turns.get(client)
    if turn is None or _holding.get():
        yield
        return
    async with turn:
        holding = _holding.set(True)
        try:
            yield
        finally:
            _holding.reset(holding)
