"""The MongoDB connection: one AsyncMongoClient per process, indexes created at start-up."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pymongo
from pymongo import AsyncMongoClient, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, PyMongoError

from . import signing
from .config import Settings, server_secret
from .embedded import EmbeddedMongo
from .store import INDEXES

T = TypeVar("T")


async def ensure_indexes(
    db: AsyncDatabase, indexes: dict[str, list[IndexModel]] | None = None
) -> None:
    """Create every declared index; creating an existing index is a no-op, so this is idempotent."""
    for collection, models in (indexes or INDEXES).items():
        if models:
            await db[collection].create_indexes(models)


def make_client(uri: str, **kwargs: Any) -> AsyncMongoClient:
    return AsyncMongoClient(uri, tz_aware=True, **kwargs)


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


@contextlib.asynccontextmanager
async def open_database(settings: Settings, *, publish: bool = False) -> AsyncIterator[Connection]:
    """Connect to ``MONGODB_URI`` or, without one, to the embedded database under the data dir.

    A second leadgraph process on the same data dir (``keys create`` while ``serve`` runs)
    reuses the running embedded server instead of opening its files twice.  ``publish`` makes
    this process announce its embedded server to the others.
    """
    # suppression hashes and tokens of commands (the app has loaded it already)
    signing.use_secret(server_secret(settings), replace=False)
    embedded: EmbeddedMongo | None = None
    uri = reachable_uri(settings)
    if uri is None:
        embedded = EmbeddedMongo(settings.data_dir / "db").start()
        uri = embedded.uri
        if publish:
            _state_file(settings.data_dir).write_text(json.dumps({"pid": os.getpid(), "uri": uri}))
    # how long a request waits for a reachable server before it fails as UNAVAILABLE
    client = make_client(uri, serverSelectionTimeoutMS=int(settings.db_timeout * 1000))
    try:
        db = client[settings.db_name]
        await ensure_indexes(db)
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


async def ping(db: AsyncDatabase, timeout: float | None = None) -> bool:
    """Whether the database answers ``ping`` (within ``timeout`` seconds, when given)."""
    try:
        with pymongo.timeout(timeout):
            await db.command("ping")
    except PyMongoError:
        return False
    return True


async def in_transaction(db: AsyncDatabase, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``work(session)`` in a multi-document transaction, retried on transient errors.

    Needs a replica set or sharded cluster (the embedded server presents itself as one).
    """
    async with db.client.start_session() as session:
        return await session.with_transaction(work)
