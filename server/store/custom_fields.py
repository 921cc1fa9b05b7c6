"""Custom field values in the ``contacts``, ``accounts`` and ``leads`` collections
(``custom.<name>``): the index of each indexed field (made when its rules go live, like the
per-model lead indexes) and how many records hold a value of a field (a field that holds values
cannot be dropped from the rules, only retired)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

#: record type -> its collection
COLLECTIONS: Mapping[str, str] = {"contact": "contacts", "account": "accounts", "lead": "leads"}


def index_name(name: str) -> str:
    return f"custom.{name}"


def field_indexes(names: Iterable[str]) -> list[IndexModel]:
    """One index per indexed field: its value, then the listings' default order (createdAt,
    _id), so ``filter: {custom: {<name>: ...}}`` reads a page without a sort stage."""
    return [
        IndexModel(
            [(f"custom.{n}", ASCENDING), ("createdAt", ASCENDING), ("_id", ASCENDING)],
            name=index_name(n),
        )
        for n in names
    ]


async def ensure_field_indexes(db: AsyncDatabase, indexed: Mapping[str, Iterable[str]]) -> None:
    """Create the indexes of ``{record type: [indexed field, ...]}`` (existing ones stay)."""
    for entity, names in indexed.items():
        models = field_indexes(names)
        if models:
            await db[COLLECTIONS[entity]].create_indexes(models)


async def holding(db: AsyncDatabase, entity: str, names: Iterable[str]) -> dict[str, int]:
    """How many ``entity`` records hold a value (not null) of each field of ``names``."""
    collection = db[COLLECTIONS[entity]]
    return {n: await collection.count_documents({f"custom.{n}": {"$ne": None}}) for n in names}


async def held_fields(db: AsyncDatabase, entity: str) -> dict[str, int]:
    """Every custom field name ``entity`` records hold a value (not null) of, with how many
    hold one: what the database holds, whatever the rules declare (one pass over the
    collection: start-up and ``leadgraph rules check`` ask it, not requests)."""
    pipeline: list[dict[str, object]] = [
        {"$match": {"custom": {"$type": "object"}}},
        {"$project": {"_id": 0, "kv": {"$objectToArray": "$custom"}}},
        {"$unwind": "$kv"},
        {"$match": {"kv.v": {"$ne": None}}},
        {"$group": {"_id": "$kv.k", "n": {"$sum": 1}}},
    ]
    cursor = await db[COLLECTIONS[entity]].aggregate(pipeline)
    return {str(doc["_id"]): int(doc["n"]) async for doc in cursor}
