"""Listing stored records for the API's connections and relations: the stored query of a
record filter, one page of a collection in an order, its count, records by id.

The API names a filter's conditions (the keyword arguments of the collection's
``store.<collection>.filter_query``) and never a MongoDB query: this module turns them into
one.  Reads only; relations batched per request go through :mod:`leadgraph.web.loaders`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from ..cursors import Order, Page
from ..store import accounts, batches, contacts, imports, interactions, leads, opportunities
from ..types import Doc

#: collection -> its filter's query builder (keyword conditions -> MongoDB filter)
FILTERS: dict[str, Callable[..., dict[str, Any]]] = {
    accounts.NAME: accounts.filter_query,
    contacts.NAME: contacts.filter_query,
    interactions.NAME: interactions.filter_query,
    leads.NAME: leads.filter_query,
    opportunities.NAME: opportunities.filter_query,
}


def query(collection: str, **conditions: Any) -> dict[str, Any]:
    """The stored query of a filter of ``collection`` with these conditions (None: no
    condition on that field)."""
    return FILTERS[collection](**conditions)


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
    """One keyset-paginated page of the records of ``collection`` matching ``query``."""
    return await batches.page(
        db, collection, query, order, first=first, after=after, last=last, before=before
    )


async def count(db: AsyncDatabase, collection: str, query: dict[str, Any]) -> int:
    """How many records of ``collection`` match ``query`` (a connection's ``totalCount``)."""
    return await batches.count(db, collection, query)


async def by_ids(db: AsyncDatabase, collection: str, ids: list[ObjectId]) -> list[Doc]:
    """The records of ``collection`` with these ids that exist, in ``ids`` order."""
    found = await batches.by_ids(db, collection, ids)
    return [found[i] for i in ids if i in found]


async def import_run(db: AsyncDatabase, import_id: str) -> Doc | None:
    """An import's record (progress, totals, rejected rows) by its id."""
    return await imports.get(db, import_id)
