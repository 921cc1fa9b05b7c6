"""The ``persisted_queries`` collection: GraphQL documents registered by their SHA-256 hash
(Automatic Persisted Queries and the deploy-time allow-list), shared by every server process.

Document: ``_id`` (the lower-case hex SHA-256 of the query text), ``query``, ``source``
(``client``: registered by a client's APQ request; ``cli``: ``leadgraph persisted add``),
``name`` (operation names, for listing), ``registeredBy`` (the id of the API key whose APQ
request registered it; None for ``cli``), ``createdAt``.

``persisted_query_quotas``: ``_id`` (an API key's id), ``count`` (the queries that key has
registered): the per-key registration quota, taken atomically so that concurrent requests
(in any number of processes) never register more than the quota.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from ._base import now

NAME = "persisted_queries"

QUOTAS = "persisted_query_quotas"

INDEXES: dict[str, list[IndexModel]] = {NAME: [], QUOTAS: []}  # looked up by _id only


def query_hash(query: str) -> str:
    """The APQ hash of a query text: lower-case hex SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(query.encode()).hexdigest()


async def get(db: AsyncDatabase, sha256: str) -> str | None:
    """The query registered under ``sha256``, or None."""
    doc = await db[NAME].find_one({"_id": sha256}, {"query": 1})
    return doc["query"] if doc else None


async def add(
    db: AsyncDatabase,
    query: str,
    source: str,
    name: str | None = None,
    registered_by: str | None = None,
) -> bool:
    """Register ``query`` under its hash; True when it was new.  Idempotent and safe when two
    processes register the same query at once (the hash is the ``_id``)."""
    doc = {
        "_id": query_hash(query),
        "query": query,
        "source": source,
        "name": name,
        "registeredBy": registered_by,
        "createdAt": now(),
    }
    try:
        await db[NAME].insert_one(doc)
    except DuplicateKeyError:
        return False
    return True


async def registered_count(db: AsyncDatabase, key_id: str) -> int:
    """How many queries the API key ``key_id`` has registered (its quota used)."""
    doc = await db[QUOTAS].find_one({"_id": key_id}, {"count": 1})
    return int(doc["count"]) if doc else 0


async def add_within_quota(db: AsyncDatabase, query: str, key_id: str, quota: int) -> str:
    """Register a query a client's APQ request sent, counted against its key's ``quota``:
    ``"added"``, ``"known"`` (already registered: nothing counted) or ``"quota"`` (the key
    has registered ``quota`` queries: nothing stored).

    The slot is taken first with a conditional upsert (a full key matches no document, and
    the upsert's insert then collides on ``_id``), so concurrent registrations never pass the
    quota; a registration that finds its query already stored gives its slot back."""
    if quota <= 0:
        return "quota"
    try:
        await db[QUOTAS].update_one(
            {"_id": key_id, "count": {"$lt": quota}}, {"$inc": {"count": 1}}, upsert=True
        )
    except DuplicateKeyError:
        return "quota"
    if await add(db, query, "client", registered_by=key_id):
        return "added"
    await db[QUOTAS].update_one({"_id": key_id}, {"$inc": {"count": -1}})
    return "known"


async def list_all(db: AsyncDatabase) -> list[dict[str, Any]]:
    """Every registered query, oldest first."""
    return await db[NAME].find({}).sort([("createdAt", 1), ("_id", 1)]).to_list()
