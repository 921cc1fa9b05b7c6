"""Request-scoped DataLoaders: every nesting level of a query costs one batched ``$in`` find.

A page of 100 contacts with their accounts, leads and last interactions therefore costs a
constant number of round trips (contacts, accounts, leads, interactions), whatever the page size.
Correlated ``$lookup`` sub-pipelines are deliberately not used: the embedded database scans a
whole collection per row for them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from bson import ObjectId, json_util
from pymongo.asynchronous.database import AsyncDatabase
from strawberry.dataloader import DataLoader

from .store._base import BATCH_ALL, find_by_ids


@dataclass(frozen=True)
class Children:
    """Key of a relation load: the documents of ``collection`` whose ``field`` is ``parent``,
    narrowed by ``filter`` (canonical extended JSON) and sorted by ``sort``."""

    collection: str
    field: str
    parent: Any
    filter: str = "{}"
    sort: tuple[tuple[str, int], ...] = ()

    @classmethod
    def of(
        cls,
        collection: str,
        field: str,
        parent: Any,
        filter: dict[str, Any] | None = None,
        sort: list[tuple[str, int]] | None = None,
    ) -> Children:
        return cls(
            collection,
            field,
            parent,
            json_util.dumps(filter or {}, sort_keys=True),
            tuple(sort or ()),
        )


class Loaders:
    """The loaders of one request (their caches live as long as the request)."""

    def __init__(self, db: AsyncDatabase, cache: bool = True) -> None:
        self.db = db
        self._by_id: dict[str, DataLoader[ObjectId, dict[str, Any] | None]] = {}
        self.children: DataLoader[Children, list[dict[str, Any]]] = DataLoader(
            self._load_children, cache=cache
        )
        self._cache = cache

    def by_id(self, collection: str) -> DataLoader[ObjectId, dict[str, Any] | None]:
        loader = self._by_id.get(collection)
        if loader is None:

            async def load(ids: list[ObjectId]) -> list[dict[str, Any] | None]:
                found = await find_by_ids(self.db[collection], list(ids))
                return [found.get(i) for i in ids]

            loader = self._by_id[collection] = DataLoader(load, cache=self._cache)
        return loader

    async def _load_children(self, keys: list[Children]) -> list[list[dict[str, Any]]]:
        groups: dict[tuple[str, str, str, tuple[tuple[str, int], ...]], list[Children]] = (
            defaultdict(list)
        )
        for key in keys:
            groups[(key.collection, key.field, key.filter, key.sort)].append(key)
        results: dict[Children, list[dict[str, Any]]] = {}
        for (collection, field, filter_json, sort), group in groups.items():
            parents = list(dict.fromkeys(k.parent for k in group))
            query: dict[str, Any] = {field: {"$in": parents}}
            extra = json_util.loads(filter_json)
            if extra:
                query = {"$and": [query, extra]}
            # One reply for the whole batch: the default first batch (101 documents) would
            # add getMore round trips that grow with the page size.
            cursor = self.db[collection].find(query, batch_size=BATCH_ALL)
            if sort:
                cursor = cursor.sort(list(sort))
            buckets: dict[Any, list[dict[str, Any]]] = {p: [] for p in parents}
            async for doc in cursor:
                buckets.setdefault(doc.get(field), []).append(doc)
            for key in group:
                results[key] = buckets.get(key.parent, [])
        return [results[k] for k in keys]
