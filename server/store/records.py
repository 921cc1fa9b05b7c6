"""Writes and reads that matching does the same way on every matched collection (``contacts``,
``leads``, ``accounts``): create-or-update a record by the id its match key points at, find a
record created without keys by its stored normalised values, bulk inserts and upserts of an
import batch, and the scans that key backfill and duplicate candidates need.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from bson import ObjectId
from pymongo import InsertOne, ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from ..types import Session
from ._base import BATCH_ALL, now
from .writes import Writes

# SecantusDB answers ``$in`` in time growing with the list length squared: keep lists short.
IN_CHUNK = 200


class WriteRace(Exception):
    """A record could not be written after several tries (concurrent upserts kept racing)."""


def _conflicts(path: str, changes: dict[str, Any]) -> bool:
    return any(c == path or c.startswith(path + ".") or path.startswith(c + ".") for c in changes)


def set_on_insert(
    doc: dict[str, Any], changes: dict[str, Any], skip: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The parts of a new document not already set by ``changes`` (no conflicting paths)."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key == "_id" or key in skip or key in changes:
            continue
        if isinstance(value, dict) and any(c.startswith(key + ".") for c in changes):
            for sub, subvalue in value.items():
                if not _conflicts(f"{key}.{sub}", changes):
                    out[f"{key}.{sub}"] = subvalue
        elif not _conflicts(key, changes):
            out[key] = value
    return out


async def upsert(
    db: AsyncDatabase,
    collection: str,
    rid: ObjectId,
    new_doc: dict[str, Any],
    changes: dict[str, Any],
    *,
    add_to_set: dict[str, list[Any]] | None = None,
    create: bool = True,
    session: Session | None = None,
) -> dict[str, Any] | None:
    """Create record ``rid`` from ``new_doc`` or apply ``changes`` to it, in one operation;
    returns the record after (None when it does not exist and ``create`` is false).  In a
    transaction (``session``) a racing upsert of the same id is a write conflict: the
    transaction is retried whole."""
    sets = {**changes, "updatedAt": now()}
    update: dict[str, Any] = {"$set": sets}
    skip = tuple(add_to_set or ())
    if create:
        update["$setOnInsert"] = set_on_insert(new_doc, sets, skip)
    if add_to_set:
        update["$addToSet"] = {k: {"$each": v} for k, v in add_to_set.items()}
    for _ in range(5):
        try:
            doc = await db[collection].find_one_and_update(
                {"_id": rid},
                update,
                upsert=create,
                return_document=ReturnDocument.AFTER,
                session=session,
            )
        except DuplicateKeyError:  # two upserts of the same new id raced: now it is an update
            continue
        if doc is not None or not create:
            return doc
        # SecantusDB may answer a lost upsert race with no document: try again as an update.
    raise WriteRace(f"could not write {collection} {rid}")


def claimed_document(
    rid: ObjectId, new_doc: dict[str, Any], add_to_set: dict[str, list[Any]] | None
) -> dict[str, Any]:
    """The new record of a key just claimed for ``rid`` (``add_to_set``'s items added)."""
    doc = {**new_doc, "_id": rid}
    for name, items in (add_to_set or {}).items():
        doc[name] = list(dict.fromkeys([*(doc.get(name) or []), *items]))
    return doc


async def insert(
    db: AsyncDatabase,
    collection: str,
    doc: dict[str, Any],
    session: Session | None = None,
    writes: Writes | None = None,
) -> None:
    """Insert a new record (in the caller's transaction; ``writes``: gathered there, sent
    with its other writes)."""
    if writes is not None:
        writes.insert(collection, [doc])
    else:
        await db[collection].insert_one(doc, session=session)


async def insert_claimed(
    db: AsyncDatabase,
    collection: str,
    rid: ObjectId,
    new_doc: dict[str, Any],
    add_to_set: dict[str, list[Any]] | None,
    session: Session | None = None,
) -> dict[str, Any] | None:
    """Insert the record of a key just claimed (None: a racer upserted it first)."""
    doc = claimed_document(rid, new_doc, add_to_set)
    try:
        await db[collection].insert_one(doc, session=session)
    except DuplicateKeyError:  # a concurrent submission read our claim and upserted first
        return None
    return doc


async def set_before(
    db: AsyncDatabase,
    collection: str,
    rid: ObjectId,
    changes: dict[str, Any],
    *,
    inc: dict[str, int] | None = None,
    session: Session | None = None,
    writes: Writes | None = None,
    known: Mapping[str, Any] | None = None,
) -> dict[str, Any] | None:
    """``$set`` of ``changes`` on record ``rid``, stamped ``updatedAt`` (and ``inc`` added: a
    lead's revision), in one command, in the caller's transaction; the record as it was
    before (None: there is none, nothing written).  ``known``: the record as the caller's
    transaction read it; with ``writes`` the update is gathered there and nothing is read."""
    update: dict[str, Any] = {"$set": {**changes, "updatedAt": now()}}
    if inc:
        update["$inc"] = inc
    if writes is not None and known is not None:
        writes.update(collection, {"_id": rid}, update)
        return dict(known)
    return await db[collection].find_one_and_update(
        {"_id": rid}, update, return_document=ReturnDocument.BEFORE, session=session
    )


#: How many records without keys holding the same values matching looks at (oldest first).
LEGACY_LIMIT = 20


async def oldest_with(
    db: AsyncDatabase,
    collection: str,
    query: dict[str, Any],
    limit: int = LEGACY_LIMIT,
    session: Session | None = None,
) -> list[dict[str, Any]]:
    """The oldest records whose stored fields equal ``query`` (records created without keys)."""
    found = db[collection].find(query, session=session).sort("createdAt", 1).limit(limit)
    return await found.to_list()


async def write_batch(
    db: AsyncDatabase,
    collection: str,
    inserts: list[dict[str, Any]],
    updates: list[tuple[ObjectId, dict[str, Any]]],
    *,
    create: bool = True,
) -> None:
    """Insert new records and update (upsert, unless ``create`` is false) matched ones, each in
    one unordered bulk write.  An upsert that lost a race with a concurrent upsert of the same
    id (a submission completing the same claim) is retried as a plain update."""
    if inserts:
        await db[collection].bulk_write([InsertOne(d) for d in inserts], ordered=False)
    if not updates:
        return
    ops = [UpdateOne({"_id": rid}, upd, upsert=create) for rid, upd in updates]
    try:
        await db[collection].bulk_write(ops, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != 11000 for e in errors):
            raise
        retry = [UpdateOne({"_id": updates[e["index"]][0]}, updates[e["index"]][1]) for e in errors]
        await db[collection].bulk_write(retry, ordered=False)


async def by_id(
    db: AsyncDatabase, collection: str, rid: ObjectId, session: Session | None = None
) -> dict[str, Any] | None:
    """Record ``rid`` (None: there is none), in the caller's transaction."""
    return await db[collection].find_one({"_id": rid}, session=session)


async def by_ids(
    db: AsyncDatabase, collection: str, ids: list[ObjectId]
) -> dict[ObjectId, dict[str, Any]]:
    """The records ``ids`` that exist, by id (one ``$in`` find per chunk of ids)."""
    out: dict[ObjectId, dict[str, Any]] = {}
    for start in range(0, len(ids), IN_CHUNK):
        chunk = ids[start : start + IN_CHUNK]
        async for doc in db[collection].find({"_id": {"$in": chunk}}):
            out[doc["_id"]] = doc
    return out


async def mark_keyed(
    db: AsyncDatabase, collection: str, ids: list[ObjectId], signatures: list[str]
) -> None:
    """Remember that ``ids`` have claimed the keys of ``signatures`` (``matchKeyedOn``)."""
    for start in range(0, len(ids), IN_CHUNK):
        chunk = ids[start : start + IN_CHUNK]
        await db[collection].update_many(
            {"_id": {"$in": chunk}}, {"$addToSet": {"matchKeyedOn": {"$each": signatures}}}
        )


async def not_keyed_on(
    db: AsyncDatabase, collection: str, signatures: list[str]
) -> AsyncIterator[dict[str, Any]]:
    """Records that have not claimed the keys of every one of ``signatures``, oldest first."""
    query = {"$or": [{"matchKeyedOn": {"$ne": sig}} for sig in signatures]}
    async for doc in db[collection].find(query).sort("createdAt", 1):
        yield doc


async def scan(
    db: AsyncDatabase, collection: str, projection: dict[str, Any] | None = None
) -> AsyncIterator[dict[str, Any]]:
    """Every record of ``collection`` (duplicate candidates), in id order."""
    async for doc in db[collection].find({}, projection, batch_size=BATCH_ALL).sort("_id", 1):
        yield doc
