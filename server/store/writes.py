"""The writes of one transaction, sent together (:class:`Writes`).

A transaction that writes several collections (a capture: the key claims, the contact, the
lead, the interaction, its counted days, the score history, the events) gathers its writes
here and sends them at once before it commits: on MongoDB 8.0 and later as one client-level
``bulkWrite`` command (PyMongo's ``AsyncMongoClient.bulk_write``: inserts and updates on any
collections of the cluster, in order, one round trip, in the transaction); on an older
server as one ``bulk_write`` per run of writes to the same collection, in the same order.
Either way the transaction makes them all or none, and what the database refuses is raised as
the single-collection commands raise it (``DuplicateKeyError`` for a unique key, the
transient errors with their labels, so that the transaction's retry runs it again).

Nothing is sent before :meth:`Writes.flush`: a read in the transaction does not see a write
still gathered here, so the caller flushes before reading what it wrote.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from pymongo import InsertOne, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    ClientBulkWriteException,
    DuplicateKeyError,
    OperationFailure,
    PyMongoError,
    WriteError,
)

from ..types import Session

#: The wire version of MongoDB 8.0, the first with the client-level ``bulkWrite`` command.
CLIENT_BULK_WIRE_VERSION = 25

Model = InsertOne[Any] | UpdateOne


@dataclass(frozen=True)
class _Op:
    collection: str
    kind: str  # "insert" or "update"
    doc: Mapping[str, Any]  # the document (insert) or the filter
    update: Mapping[str, Any] | None = None
    upsert: bool = False

    def model(self, namespace: str | None) -> Model:
        if self.kind == "insert":
            return InsertOne(dict(self.doc), namespace=namespace)
        assert self.update is not None
        return UpdateOne(dict(self.doc), dict(self.update), upsert=self.upsert, namespace=namespace)


@dataclass
class Writes:
    """Writes gathered for one transaction of ``db``, sent by :meth:`flush`."""

    db: AsyncDatabase
    ops: list[_Op] = field(default_factory=list)

    def insert(self, collection: str, docs: Iterable[Mapping[str, Any]]) -> None:
        """Insert ``docs`` (each with its ``_id``) into ``collection``."""
        self.ops += [_Op(collection, "insert", d) for d in docs]

    def update(
        self,
        collection: str,
        filter: Mapping[str, Any],
        update: Mapping[str, Any],
        *,
        upsert: bool = False,
    ) -> None:
        """Update the one document of ``collection`` matching ``filter`` (``upsert``: or
        insert it)."""
        self.ops.append(_Op(collection, "update", filter, update, upsert))

    async def flush(self, session: Session | None) -> None:
        """Send every write gathered so far, in order, in ``session``'s transaction."""
        ops, self.ops = self.ops, []
        if not ops:
            return
        if len({op.collection for op in ops}) > 1 and client_bulk(self.db):
            name = self.db.name
            try:
                await self.db.client.bulk_write(
                    [op.model(f"{name}.{op.collection}") for op in ops], session=session
                )
            except ClientBulkWriteException as exc:
                raise unwrapped(exc) from None
            return
        for name, grouped in groupby(ops, key=lambda op: op.collection):
            run = list(grouped)
            if all(op.kind == "insert" for op in run):
                await self.db[name].insert_many([dict(op.doc) for op in run], session=session)
            else:
                await self.db[name].bulk_write([op.model(None) for op in run], session=session)


def client_bulk(db: AsyncDatabase) -> bool:
    """Whether every server ``db``'s client knows speaks the client-level ``bulkWrite``
    (MongoDB 8.0+); false before the client has met any (it has, once a transaction read)."""
    servers = db.client.topology_description.server_descriptions().values()
    known = [s for s in servers if s.is_server_type_known]
    return bool(known) and all(s.max_wire_version >= CLIENT_BULK_WIRE_VERSION for s in known)


def unwrapped(exc: ClientBulkWriteException) -> PyMongoError:
    """The error a single-collection command would have raised for what ``exc`` reports: its
    top-level error (with its labels: a transient one retries the transaction), else its first
    write error (``DuplicateKeyError`` for a unique key)."""
    top = exc.error
    if isinstance(top, PyMongoError):
        return top
    if isinstance(top, Mapping):
        return OperationFailure(str(top.get("errmsg", "")), top.get("code"), dict(top))
    errors: list[Any] = list(exc.write_errors or [])  # documents, typed as WriteError
    if errors and isinstance(errors[0], PyMongoError):
        return errors[0]
    if errors and isinstance(errors[0], Mapping):
        first = dict(errors[0])
        kind = DuplicateKeyError if first.get("code") == 11000 else WriteError
        return kind(str(first.get("errmsg", "")), first.get("code"), first)
    return exc
