"""Request-scoped DataLoaders: every relation of a nesting level costs one batched command.

Records by id are one ``$in`` find; the children of many parents (a contact's leads or
interactions, an account's contacts) are one aggregation that ``$lookup``s each parent by
``localField``/``foreignField`` from a ``$documents`` list (falling back to an ``$in`` find):
the commands are :mod:`leadgraph.store.batches`, the batching and caching are here.
A page of 100 contacts with their accounts, leads and last interactions therefore costs a
constant number of round trips (contacts, accounts, leads, interactions), whatever the page size.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId, json_util
from pymongo.asynchronous.database import AsyncDatabase
from strawberry.dataloader import DataLoader

from ..cursors import value_at
from ..store import account_leads, batches, contacts

#: The ``field`` of a :class:`Children` key for an account's leads: its own (parent account)
#: and its contacts' (parent contact), each once (:mod:`leadgraph.store.account_leads`).
ACCOUNT_LEADS = "account+contacts"


@dataclass(frozen=True)
class Children:
    """Key of a relation load: the documents of ``collection`` whose ``field`` is ``parent``,
    narrowed by ``filter`` (canonical extended JSON), sorted by ``sort`` and, with ``limit``,
    only the first ``limit`` of each parent (so ``interactions(last: 5)`` does not read a
    contact's whole history)."""

    collection: str
    field: str
    parent: Any
    filter: str = "{}"
    sort: tuple[tuple[str, int], ...] = ()
    limit: int | None = None

    @classmethod
    def of(
        cls,
        collection: str,
        field: str,
        parent: Any,
        filter: dict[str, Any] | None = None,
        sort: list[tuple[str, int]] | None = None,
        limit: int | None = None,
    ) -> Children:
        return cls(
            collection,
            field,
            parent,
            json_util.dumps(filter or {}, sort_keys=True),
            tuple(sort or ()),
            limit,
        )


class Loaders:
    """The loaders of one request (their caches live as long as the request)."""

    def __init__(self, db: AsyncDatabase, cache: bool = True) -> None:
        self.db = db
        self._by_id: dict[str, DataLoader[ObjectId, dict[str, Any] | None]] = {}
        self.children: DataLoader[Children, list[dict[str, Any]]] = DataLoader(
            self._load_children, cache=cache
        )
        self.child_counts: DataLoader[Children, int] = DataLoader(self._count_children, cache=cache)
        self.account_insights: DataLoader[ObjectId, dict[str, Any]] = DataLoader(
            self._account_insights, cache=cache
        )
        self._cache = cache

    def by_id(self, collection: str) -> DataLoader[ObjectId, dict[str, Any] | None]:
        loader = self._by_id.get(collection)
        if loader is None:

            async def load(ids: list[ObjectId]) -> list[dict[str, Any] | None]:
                found = await batches.by_ids(self.db, collection, list(ids))
                return [found.get(i) for i in ids]

            loader = self._by_id[collection] = DataLoader(load, cache=self._cache)
        return loader

    async def _load_children(self, keys: list[Children]) -> list[list[dict[str, Any]]]:
        Group = tuple[str, str, str, tuple[tuple[str, int], ...], int | None]
        groups: dict[Group, list[Children]] = defaultdict(list)
        for key in keys:
            groups[(key.collection, key.field, key.filter, key.sort, key.limit)].append(key)

        async def load_group(
            collection: str,
            field: str,
            filter_json: str,
            sort: tuple[tuple[str, int], ...],
            limit: int | None,
        ) -> dict[Any, list[dict[str, Any]]]:
            group = groups[collection, field, filter_json, sort, limit]
            parents = list(dict.fromkeys(k.parent for k in group))
            if field == ACCOUNT_LEADS:
                return await _account_leads(self.db, parents, filter_json, sort, limit)
            docs = await batches.children(
                self.db, collection, field, parents, json_util.loads(filter_json), sort, limit
            )
            if limit is None or not batches.ServerFeatures.documents_stage:
                # the $lookup sorts each parent's children when it limits them; an unlimited
                # one, and the $in fallback (it clears documents_stage), are sorted here
                sort_docs(docs, sort)
            buckets: dict[Any, list[dict[str, Any]]] = {p: [] for p in parents}
            for doc in docs:
                buckets.setdefault(doc.get(field), []).append(doc)
            if limit is not None:  # the $in fallback cannot limit per parent
                buckets = {p: d[:limit] for p, d in buckets.items()}
            return buckets

        # the relations of one nesting level (leads, interactions, ...) load concurrently
        loaded = await asyncio.gather(*(load_group(*group) for group in groups))
        results: dict[Children, list[dict[str, Any]]] = {}
        for group, buckets in zip(groups, loaded, strict=True):
            for key in groups[group]:
                results[key] = buckets.get(key.parent, [])
        return [results[k] for k in keys]

    async def _count_children(self, keys: list[Children]) -> list[int]:
        """How many children each parent has (``totalCount`` of a limited nested page): one
        ``$group`` per relation."""
        groups: dict[tuple[str, str, str], list[Children]] = defaultdict(list)
        for key in keys:
            groups[(key.collection, key.field, key.filter)].append(key)
        counts: dict[tuple[str, str, str, Any], int] = {}
        for (collection, field, filter_json), group in groups.items():
            if field == ACCOUNT_LEADS:
                parents = list(dict.fromkeys(k.parent for k in group))
                extra = json_util.loads(filter_json)
                found = await account_leads.counts(self.db, parents, extra)
                counts.update(((collection, field, filter_json, p), n) for p, n in found.items())
                continue
            found = await batches.child_counts(
                self.db,
                collection,
                field,
                [k.parent for k in group],
                json_util.loads(filter_json),
            )
            for parent, n in found.items():
                counts[(collection, field, filter_json, parent)] = n
        return [counts.get((k.collection, k.field, k.filter, k.parent), 0) for k in keys]

    async def _account_insights(self, keys: list[ObjectId]) -> list[dict[str, Any]]:
        """The summed insights of each account's contacts (two aggregations for all)."""
        found = await contacts.insights_by_account(self.db, list(dict.fromkeys(keys)))
        return [found[k] for k in keys]


async def _account_leads(
    db: AsyncDatabase,
    accounts: list[Any],
    filter_json: str,
    sort: tuple[tuple[str, int], ...],
    limit: int | None,
) -> dict[Any, list[dict[str, Any]]]:
    """Each account's leads in ``sort`` order, at most ``limit`` of them."""
    found = await account_leads.page_docs(db, accounts, json_util.loads(filter_json), sort, limit)
    buckets: dict[Any, list[dict[str, Any]]] = {}
    for account in accounts:
        docs = found.get(account) or []
        sort_docs(docs, sort)
        buckets[account] = docs[:limit] if limit is not None else docs
    return buckets


# BSON's order of types, so documents with a missing or odd sort value still sort like MongoDB
_TYPE_RANK = {type(None): 0, int: 1, float: 1, str: 2, dict: 3, list: 4, bool: 8}


def _sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, datetime):
        return (9, value)
    if isinstance(value, ObjectId):
        return (7, value.binary)  # bytes compare in C; ObjectId's own __lt__ is Python
    rank = _TYPE_RANK.get(type(value), 5)
    return (rank, value if rank in (1, 2, 8) else repr(value))


def sort_docs(docs: list[dict[str, Any]], sort: tuple[tuple[str, int], ...]) -> None:
    """Sort documents in place by a MongoDB sort spec."""
    if not sort:
        return
    if len({direction for _, direction in sort}) == 1:  # one pass with a composite key
        fields = [field for field, _ in sort]
        docs.sort(
            key=lambda d: tuple(_sort_key(value_at(d, f)) for f in fields), reverse=sort[0][1] < 0
        )
        return
    for field, direction in reversed(sort):  # mixed directions: stable passes, last key first
        docs.sort(key=lambda d: _sort_key(value_at(d, field)), reverse=direction < 0)
