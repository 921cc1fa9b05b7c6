"""Keyset (cursor) pagination over a MongoDB collection, ordered by one field plus ``_id``
(the orders, pages and cursors are :mod:`leadgraph.cursors`)."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import OperationFailure

from ..cursors import Order, Page
from ._base import BATCH_ALL

log = logging.getLogger("leadgraph.store")


def _and(*parts: dict[str, Any]) -> dict[str, Any]:
    parts = tuple(p for p in parts if p)
    if not parts:
        return {}
    return parts[0] if len(parts) == 1 else {"$and": list(parts)}


async def paginate(
    collection: AsyncCollection,
    filter: dict[str, Any],
    order: Order,
    *,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    projection: dict[str, Any] | None = None,
) -> Page:
    """Fetch one page with a single query (limit + 1 tells whether more pages exist).

    An order's hinted index that does not exist (yet) is not an error: the page is read
    without the hint."""
    try:
        return await _paginate(collection, filter, order, first, after, last, before, projection)
    except OperationFailure as exc:
        if order.index is None or "hint" not in str(exc).lower():
            raise
        log.warning("index %s is missing; paging %s without it", order.index, collection.name)
        order = replace(order, index=None)
        return await _paginate(collection, filter, order, first, after, last, before, projection)


async def _paginate(
    collection: AsyncCollection,
    filter: dict[str, Any],
    order: Order,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    projection: dict[str, Any] | None,
) -> Page:
    hint = order.index if (after is not None or before is not None) else None
    scope = collection.name
    if last is not None and first is None:
        query = _and(
            filter,
            order.after(before, reverse=True, arg="before", scope=scope)
            if before is not None
            else {},
            order.after(after, arg="after", scope=scope) if after is not None else {},
        )
        docs = (
            await collection.find(query, projection, batch_size=last + 1, hint=hint)
            .sort(order.sort(reverse=True))
            .limit(last + 1)
            .to_list()
        )
        has_previous = len(docs) > last
        docs = list(reversed(docs[:last]))
        return Page(
            docs,
            has_next=before is not None,
            has_previous=has_previous,
            order=order,
            filter=filter,
            scope=scope,
        )
    query = _and(
        filter,
        order.after(after, arg="after", scope=scope) if after is not None else {},
        order.after(before, reverse=True, arg="before", scope=scope) if before is not None else {},
    )
    # the whole page in one reply (no getMore for pages over 101 documents)
    batch = first + 1 if first is not None else BATCH_ALL
    cursor = collection.find(query, projection, batch_size=batch, hint=hint).sort(order.sort())
    if first is not None:
        cursor = cursor.limit(first + 1)
    docs = await cursor.to_list()
    has_next = first is not None and len(docs) > first
    docs = docs[:first] if first is not None else docs
    return Page(
        docs,
        has_next=has_next,
        has_previous=after is not None,
        order=order,
        filter=filter,
        scope=scope,
    )
