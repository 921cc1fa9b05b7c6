"""The ``persisted_queries`` collection: GraphQL documents registered by their SHA-256 hash
(Automatic Persisted Queries and the deploy-time allow-list), shared by every server process.

Document: ``_id`` (the lower-case hex SHA-256 of the query text), ``query``, ``source``
(``client``: registered by a client's APQ request; ``cli``: ``leadgraph persisted add``),
``name`` (operation names, for listing), ``createdAt``.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from ._base import now

NAME = "persisted_queries"

INDEXES: dict[str, list[IndexModel]] = {NAME: []}  # looked up by _id only


def query_hash(query: str) -> str:
    """The APQ hash of a query text: lower-case hex SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(query.encode()).hexdigest()


async def get(db: AsyncDatabase, sha256: str) -> str | None:
    """The query registered under ``sha256``, or None."""
    doc = await db[NAME].find_one({"_id": sha256}, {"query": 1})
    return doc["query"] if doc else None


async def add(db: AsyncDatabase, query: str, source: str, name: str | None = None) -> bool:
    """Register ``query`` under its hash; True when it was new.  Idempotent and safe when two
    processes register the same query at once (the hash is the ``_id``)."""
    doc = {
        "_id": query_hash(query),
        "query": query,
        "source": source,
        "name": name,
        "createdAt": now(),
    }
    try:
        await db[NAME].insert_one(doc)
    except DuplicateKeyError:
        return False
    return True


async def list_all(db: AsyncDatabase) -> list[dict[str, Any]]:
    """Every registered query, oldest first."""
    return await db[NAME].find({}).sort([("createdAt", 1), ("_id", 1)]).to_list()
