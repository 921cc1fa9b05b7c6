"""The ``match_keys`` collection: database-enforced uniqueness for matching strategies.

A key's ``_id`` is ``"<collection>:<strategy>:<normalised values>"`` and it points at the one
record (``recordId``) holding those values.  A key a merge moved from a duplicate onto the
survivor is an *alias* (``alias: true``): the survivor keeps it when its own values change.
Claiming a key is an insert that may fail with a duplicate-key error: concurrent claimers, in
any number of processes, all end up with the same record id, so a record is created at most
once per key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from ..types import Session
from ._base import now
from .writes import Writes

NAME = "match_keys"

INDEXES = {
    NAME: [IndexModel([("recordId", ASCENDING)], name="recordId")],
}

# SecantusDB answers ``$in`` in time growing with the list length squared: keep lists short.
IN_CHUNK = 200


async def lookup(db: AsyncDatabase, kid: str, session: Session | None = None) -> ObjectId | None:
    doc = await db[NAME].find_one({"_id": kid}, session=session)
    return doc["recordId"] if doc else None


def claim_document(kid: str, record_id: ObjectId, meta: dict[str, Any]) -> dict[str, Any]:
    """The claim of ``kid`` for ``record_id`` as it is stored."""
    return {"_id": kid, "recordId": record_id, "createdAt": now(), **meta}


async def insert_claims(
    db: AsyncDatabase,
    docs: list[dict[str, Any]],
    session: Session | None = None,
    writes: Writes | None = None,
) -> None:
    """Store claims of keys nobody held (:func:`claim_document`) with one ``insert_many``, in
    the caller's transaction: a key a concurrent transaction claims too is a write conflict,
    and the transaction is retried whole (it reads that claim then).  ``writes``: gathered
    there, sent with the transaction's other writes."""
    if writes is not None:
        writes.insert(NAME, docs)
    elif docs:
        await db[NAME].insert_many(docs, session=session)


async def claim(
    db: AsyncDatabase,
    kid: str,
    record_id: ObjectId,
    meta: dict[str, Any] | None = None,
    session: Session | None = None,
) -> ObjectId:
    """Claim ``kid`` for ``record_id`` unless someone holds it; returns the holder's id.

    An insert on ``_id``: the database lets exactly one of any number of concurrent claimers
    in; the others get a duplicate-key error and read the winner.  In a transaction
    (``session``), whose snapshot showed nobody holding ``kid``, a concurrent claimer's insert
    is a write conflict instead: the transaction is retried whole and reads the winner then.
    """
    doc = claim_document(kid, record_id, meta or {})
    if session is not None:
        await db[NAME].insert_one(doc, session=session)
        return record_id
    for _ in range(5):
        try:
            await db[NAME].insert_one(doc)
            return record_id
        except DuplicateKeyError:
            holder = await lookup(db, kid)
            if holder is not None:
                return holder
            # the holder was released (a merge undone mid-way): try again
    raise RuntimeError(f"could not claim match key {kid!r}")


async def find_many(
    db: AsyncDatabase, kids: list[str], session: Session | None = None
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for start in range(0, len(kids), IN_CHUNK):
        chunk = kids[start : start + IN_CHUNK]
        async for doc in db[NAME].find({"_id": {"$in": chunk}}, session=session):
            out[doc["_id"]] = doc
    return out


async def claim_all(
    db: AsyncDatabase,
    kids: list[str],
    record_id: ObjectId,
    meta: dict[str, Any] | None = None,
    session: Session | None = None,
) -> None:
    """Claim keys nobody holds for ``record_id`` (in a transaction: a key taken meanwhile
    raises ``DuplicateKeyError`` and the transaction writes nothing)."""
    if kids:
        t = now()
        docs = [{"_id": k, "recordId": record_id, "createdAt": t, **(meta or {})} for k in kids]
        await db[NAME].insert_many(docs, session=session)


async def release_values(
    db: AsyncDatabase, record_id: ObjectId, kids: list[str], session: Session | None = None
) -> int:
    """Drop the keys ``kids`` of ``record_id`` its values no longer have, except aliases."""
    if not kids:
        return 0
    result = await db[NAME].delete_many(
        {"_id": {"$in": kids}, "recordId": record_id, "alias": {"$ne": True}}, session=session
    )
    return result.deleted_count


async def claim_many(
    db: AsyncDatabase, claims: dict[str, tuple[ObjectId, dict[str, Any]]]
) -> tuple[dict[str, ObjectId], dict[str, dict[str, Any]]]:
    """Claim many keys with one unordered bulk insert.

    Returns ``(won, held)``: the keys this call claimed (key -> the proposed id) and the keys
    someone already held (key -> the existing claim document, read back with ``$in`` finds).
    """
    if not claims:
        return {}, {}
    t = now()
    docs = [
        {"_id": k, "recordId": rid, "createdAt": t, **meta} for k, (rid, meta) in claims.items()
    ]
    failed: set[str] = set()
    try:
        await db[NAME].insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        for err in exc.details.get("writeErrors", []):
            if err.get("code") != 11000:
                raise
            failed.add(docs[err["index"]]["_id"])
    held = await find_many(db, sorted(failed)) if failed else {}
    won = {k: rid for k, (rid, _) in claims.items() if k not in failed}
    return won, held


async def keys_of(
    db: AsyncDatabase, record_ids: list[ObjectId], session: Session | None = None
) -> list[str]:
    cursor = db[NAME].find({"recordId": {"$in": record_ids}}, {"_id": 1}, session=session)
    return [d["_id"] async for d in cursor]


async def reassign(
    db: AsyncDatabase,
    kids: list[str],
    record_id: ObjectId,
    session: Session | None = None,
    *,
    alias: bool,
) -> None:
    """Point ``kids`` at ``record_id``: a merge moves a duplicate's keys to the survivor as
    aliases (``alias=True``); undoing it gives them back as the duplicate's own."""
    if kids:
        update = (
            {"$set": {"recordId": record_id, "alias": True}}
            if alias
            else {
                "$set": {"recordId": record_id},
                "$unset": {"alias": ""},
            }
        )
        await db[NAME].update_many({"_id": {"$in": kids}}, update, session=session)


async def release(db: AsyncDatabase, record_id: ObjectId, session: Session | None = None) -> int:
    """Drop the keys a record holds: it was deleted, or the values it matched on changed
    (they are claimed again, from the record's current values, by the next match)."""
    result = await db[NAME].delete_many({"recordId": record_id}, session=session)
    return result.deleted_count


async def release_all(
    db: AsyncDatabase, record_ids: list[ObjectId], session: Session | None = None
) -> int:
    """Drop every key of the records ``record_ids`` (a person erased: their contact and the
    leads that held their data), aliases included."""
    if not record_ids:
        return 0
    result = await db[NAME].delete_many({"recordId": {"$in": record_ids}}, session=session)
    return result.deleted_count


async def of_records(db: AsyncDatabase, record_ids: list[ObjectId]) -> list[dict[str, Any]]:
    """The key documents of ``record_ids``."""
    return await db[NAME].find({"recordId": {"$in": record_ids}}).to_list()


RECORD_COLLECTIONS = ("contacts", "leads", "accounts")


async def release_unwritten(db: AsyncDatabase, import_id: str, after_line: int) -> int:
    """Drop the keys an import claimed for rows after ``after_line`` whose record was never
    written (the import failed between claiming and writing)."""
    return await _release_recordless(db, {"importId": import_id, "line": {"$gt": after_line}})


async def release_dangling(db: AsyncDatabase, claimed_before: datetime) -> int:
    """Drop keys claimed before ``claimed_before`` whose record was never written.

    A process killed between claiming a key and writing its record leaves the key behind
    (the next submission with the same values would complete the record; until then the key
    points at nothing).  Run at start-up with a grace period that spares in-flight captures.
    """
    return await _release_recordless(db, {"createdAt": {"$lt": claimed_before}})


async def _release_recordless(db: AsyncDatabase, query: dict[str, Any]) -> int:
    """Drop the keys matching ``query`` whose record does not exist (keys of records that
    exist are correct and stay); returns how many were dropped."""
    claims: dict[str, list[dict[str, Any]]] = {}
    async for doc in db[NAME].find(query, {"recordId": 1}):
        collection = str(doc["_id"]).split(":", 1)[0]
        if collection in RECORD_COLLECTIONS:
            claims.setdefault(collection, []).append(doc)
    released = 0
    for collection, docs in claims.items():
        for start in range(0, len(docs), IN_CHUNK):
            chunk = docs[start : start + IN_CHUNK]
            ids = list({d["recordId"] for d in chunk})
            found = db[collection].find({"_id": {"$in": ids}}, {"_id": 1})
            written = {d["_id"] async for d in found}
            dangling = [d["_id"] for d in chunk if d["recordId"] not in written]
            if dangling:
                result = await db[NAME].delete_many({"_id": {"$in": dangling}, **query})
                released += result.deleted_count
    return released
