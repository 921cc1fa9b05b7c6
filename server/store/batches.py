"""Batched reads for the request-scoped loaders and the top-level connections, over any of the
record collections (``contacts``, ``accounts``, ``leads``, ``interactions``).

Every function here is one database command, whatever the number of ids or parents asked
for: a page of 100 contacts with their accounts, leads and last interactions therefore costs a
constant number of round trips.  Correlated ``$lookup`` sub-pipelines (``let``) are
deliberately not used: the embedded database scans a whole collection per row for them.
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from ..cursors import Order, Page
from ._base import BATCH_ALL, find_by_ids
from .pagination import paginate


async def by_ids(
    db: AsyncDatabase, collection: str, ids: list[ObjectId]
) -> dict[ObjectId, dict[str, Any]]:
    """The documents of ``collection`` with these ids (one ``$in`` find), by id."""
    return await find_by_ids(db[collection], ids)


class ServerFeatures:
    """What the connected server understands (learnt once per process)."""

    documents_stage = True  # cleared if the server lacks ``$documents`` (MongoDB < 5.1)


async def children(
    db: AsyncDatabase,
    collection: str,
    field: str,
    parents: list[Any],
    extra: dict[str, Any],
    sort: tuple[tuple[str, int], ...] = (),
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The documents of ``collection`` whose ``field`` is one of ``parents`` (one command),
    narrowed by ``extra`` and, with ``limit``, the first ``limit`` per parent in ``sort`` order
    (the ``$in`` fallback cannot limit per parent: the caller cuts).

    An aggregation that ``$lookup``s each parent by ``localField``/``foreignField`` (an index
    lookup per parent, never a correlated sub-pipeline) from a ``$documents`` list: SecantusDB
    answers a long ``$in`` in time growing faster than linearly with the list (a 100-parent
    batch of interactions: ~3x slower than this).  Servers without ``$documents`` get the plain
    ``$in`` find.
    """
    if ServerFeatures.documents_stage:
        lookup: dict[str, Any] = {
            "from": collection,
            "localField": "p",
            "foreignField": field,
            "as": "c",
        }
        inner: list[dict[str, Any]] = [{"$match": extra}] if extra else []
        if limit is not None:
            inner += [{"$sort": dict(sort)}] if sort else []
            inner.append({"$limit": limit})
        if inner:
            lookup["pipeline"] = inner
        pipeline: list[dict[str, Any]] = [
            {"$documents": [{"p": p} for p in parents]},
            {"$lookup": lookup},
            {"$unwind": "$c"},
            {"$replaceRoot": {"newRoot": "$c"}},
        ]
        try:
            cursor = await db.aggregate(pipeline, batchSize=BATCH_ALL)
            return await cursor.to_list()
        except OperationFailure as exc:
            if exc.code == 40324 or "nrecognized" in str(exc):  # no $documents stage here
                ServerFeatures.documents_stage = False
    query: dict[str, Any] = {field: {"$in": parents}}
    if extra:
        query = {"$and": [query, extra]}
    # One reply for the whole batch: the default first batch (101 documents) would add
    # getMore round trips that grow with the page size.
    return await db[collection].find(query, batch_size=BATCH_ALL).to_list()


async def child_counts(
    db: AsyncDatabase, collection: str, field: str, parents: list[Any], extra: dict[str, Any]
) -> dict[Any, int]:
    """How many documents of ``collection`` each parent has (one ``$group``), by parent."""
    match: dict[str, Any] = {field: {"$in": list(dict.fromkeys(parents))}}
    if extra:
        match = {"$and": [match, extra]}
    pipeline = [{"$match": match}, {"$group": {"_id": f"${field}", "n": {"$sum": 1}}}]
    return {row["_id"]: row["n"] async for row in await db[collection].aggregate(pipeline)}


async def page(
    db: AsyncDatabase,
    collection: str,
    query: dict[str, Any],
    order: Order,
    *,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Page:
    """One keyset-paginated page of ``collection`` (see :func:`.pagination.paginate`)."""
    return await paginate(
        db[collection], query, order, first=first, after=after, last=last, before=before
    )


async def count(db: AsyncDatabase, collection: str, query: dict[str, Any]) -> int:
    """How many documents of ``collection`` match ``query`` (a connection's ``totalCount``).

    Unfiltered: the collection's own count from its metadata (``count`` without a query; no
    document is read on MongoDB).  Filtered: ``count_documents``, whose ``$match`` the filter's
    index serves (every shipped filter has one: ``tests/test_indexes.py``), so only the
    matching index keys are counted, never the whole collection.
    """
    if not query:
        return await db[collection].estimated_document_count()
    return await db[collection].count_documents(query)
