"""Helpers shared by the collection modules."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, TypeVar, cast

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from ..types import Session
from .clock import now as now  # the store modules' time: the public clock

# Batch size for finds whose whole result is wanted at once (``$in`` batches of a DataLoader,
# pages): the server then answers in one reply (up to its 16 MiB message limit) instead of a
# 101-document first batch followed by getMore round trips.
BATCH_ALL = 100_000


async def find_by_ids(
    collection: AsyncCollection, ids: list[ObjectId], projection: dict[str, Any] | None = None
) -> dict[ObjectId, dict[str, Any]]:
    """One ``$in`` query for many ids; returns a dict id -> document."""
    unique = list(dict.fromkeys(ids))
    if not unique:
        return {}
    docs = await collection.find(
        {"_id": {"$in": unique}}, projection, batch_size=BATCH_ALL
    ).to_list()
    return {d["_id"]: d for d in docs}


async def matching_ids(
    collection: AsyncCollection, ids: list[ObjectId]
) -> dict[ObjectId, dict[str, Any]]:
    """Like :func:`find_by_ids`, asked as an aggregation (see :func:`matching`): for the
    funnel's batches of hundreds of ids."""
    unique = list(dict.fromkeys(ids))
    if not unique:
        return {}
    return {d["_id"]: d for d in await matching(collection, {"_id": {"$in": unique}})}


async def matching(
    collection: AsyncCollection,
    query: dict[str, Any],
    *,
    sort: list[tuple[str, int]] | None = None,
    projection: dict[str, Any] | None = None,
    session: Session | None = None,
) -> list[dict[str, Any]]:
    """Every document matching ``query`` (in ``sort`` order), read whole in one go.

    Asked as an aggregation (``$match``, ``$sort``, ``$project``), which MongoDB answers as a
    find; the embedded server answers a large ``$in`` that way about a hundred times faster
    than as a ``find``.
    """
    pipeline: list[dict[str, Any]] = [{"$match": query}]
    if sort:
        pipeline.append({"$sort": dict(sort)})
    if projection:
        pipeline.append({"$project": projection})
    cursor = await collection.aggregate(pipeline, batchSize=BATCH_ALL, session=session)
    return await cursor.to_list()


async def insert_all(
    collection: AsyncCollection, docs: Sequence[Mapping[str, Any]], session: Session | None = None
) -> list[Mapping[str, Any]]:
    """Store complete documents (``_id`` included) with one unordered bulk insert; the
    documents found already stored (as sent), which this call may or may not have stored.

    The driver retries a bulk insert once after a transient error; a server that already
    stored part of the batch and does not recognise the retry answers "duplicate ``_id``" for
    those documents.  Duplicates whose stored document is the one sent are therefore this
    batch's own and not an error; any other error is raised.
    """
    if not docs:
        return []
    try:
        await collection.insert_many(docs, ordered=False, session=session)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if not errors or any(
            e.get("code") != 11000 or "_id" not in e.get("keyPattern", {}) for e in errors
        ):
            raise
        sent = {docs[e["index"]]["_id"]: docs[e["index"]] for e in errors}
        stored = await find_by_ids(collection, list(sent))
        if any(stored.get(oid) != doc for oid, doc in sent.items()):
            raise
        return list(sent.values())
    return []


async def update_returning(
    collection: AsyncCollection,
    oid: ObjectId,
    update: dict[str, Any],
    session: Session | None = None,
) -> dict[str, Any] | None:
    return await collection.find_one_and_update(
        {"_id": oid}, update, return_document=ReturnDocument.AFTER, session=session
    )


def between(field: str, after: Any = None, before: Any = None) -> dict[str, Any]:
    """``{field: {$gte: after, $lt: before}}`` with the bounds given; ``{}`` with neither."""
    bounds = {op: v for op, v in (("$gte", after), ("$lt", before)) if v is not None}
    return {field: bounds} if bounds else {}


def _bumping(update: dict[str, Any], inc: dict[str, int] | None) -> dict[str, Any]:
    """``update`` with ``$inc`` of ``inc`` (a revision counter) when given."""
    return {**update, "$inc": inc} if inc else update


def applied(doc: dict[str, Any], sets: dict[str, Any]) -> dict[str, Any]:
    """What a ``$set`` of ``sets`` (dotted paths allowed) makes of ``doc`` (a new dict; the
    nested objects on a path are copied, ``doc`` is left as it was)."""
    out = dict(doc)
    for path, value in sets.items():
        head, _, rest = path.partition(".")
        if rest:
            inner = out.get(head)
            out[head] = applied(inner if isinstance(inner, dict) else {}, {rest: value})
        else:
            out[head] = value
    return out


D = TypeVar("D", bound=Mapping[str, Any])


def stored(doc: Mapping[str, Any], kind: type[D]) -> D:
    """``doc`` (a document pymongo read, or one the store built from validated input) as the
    stored-document type ``kind`` names (``leadgraph.types.LeadDoc``, ...).  The one place the
    store narrows a document to its type: the driver answers untyped dicts, and the input
    fields (custom fields included) are known only at run time."""
    return cast(D, doc)


def stored_or_none(doc: Mapping[str, Any] | None, kind: type[D]) -> D | None:
    """:func:`stored`, None when there is no document."""
    return None if doc is None else stored(doc, kind)


async def get_by_id(
    collection: AsyncCollection, oid: ObjectId, session: Session | None = None
) -> dict[str, Any] | None:
    """One document by ``_id``, or None."""
    return await collection.find_one({"_id": oid}, session=session)


async def insert_new(
    collection: AsyncCollection, doc: dict[str, Any], session: Session | None = None
) -> dict[str, Any]:
    """Store a new document (without ``_id``); returns it with the ``_id`` it was given."""
    doc["_id"] = (await collection.insert_one(doc, session=session)).inserted_id
    return doc


async def set_changes(
    collection: AsyncCollection,
    oid: ObjectId,
    changes: dict[str, Any],
    *,
    inc: dict[str, int] | None = None,
    session: Session | None = None,
) -> dict[str, Any] | None:
    """``$set`` of ``changes`` on one document, stamped ``updatedAt`` (and ``inc``, a revision
    counter, incremented); returns the document after, or None when there is none."""
    update = _bumping({"$set": {**changes, "updatedAt": now()}}, inc)
    return await update_returning(collection, oid, update, session=session)


async def delete_by_id(
    collection: AsyncCollection, oid: ObjectId, session: Session | None = None
) -> bool:
    """Delete one document by ``_id``; False when there was none."""
    return bool((await collection.delete_one({"_id": oid}, session=session)).deleted_count)


async def unlink(
    collection: AsyncCollection,
    field: str,
    parent: ObjectId,
    *,
    inc: dict[str, int] | None = None,
    session: Session | None = None,
) -> None:
    """The parent ``parent`` was deleted: documents whose ``field`` points to it point nowhere."""
    update = _bumping({"$set": {field: None, "updatedAt": now()}}, inc)
    await collection.update_many({field: parent}, update, session=session)


async def grouped_by(
    collection: AsyncCollection,
    field: str,
    values: list[ObjectId],
    sort: list[tuple[str, int]] | None = None,
    where: dict[str, Any] | None = None,
) -> dict[ObjectId, list[dict[str, Any]]]:
    """The documents whose ``field`` is one of ``values`` (and that match ``where``; one
    ``$in`` read, in ``sort`` order), grouped by that field."""
    out: dict[ObjectId, list[dict[str, Any]]] = {}
    if not values:
        return out
    query = {**(where or {}), field: {"$in": list(dict.fromkeys(values))}}
    for doc in await matching(collection, query, sort=sort):
        out.setdefault(doc[field], []).append(doc)
    return out


async def move_merged(
    collection: AsyncCollection,
    field: str,
    from_id: ObjectId,
    to_id: ObjectId,
    tag: dict[str, Any],
    *,
    inc: dict[str, int] | None = None,
    session: Session | None = None,
) -> None:
    """A merge: the documents of contact ``from_id`` (by ``field``) move to ``to_id``, tagged
    ``mergedFrom`` so that :func:`move_unmerged` can move them back."""
    update = _bumping({"$set": {field: to_id, "mergedFrom": tag}}, inc)
    await collection.update_many({field: from_id}, update, session=session)


async def move_unmerged(
    collection: AsyncCollection,
    field: str,
    merge_id: ObjectId,
    contact_id: ObjectId,
    *,
    inc: dict[str, int] | None = None,
    session: Session | None = None,
) -> None:
    """A merge undone: the documents it moved from ``contact_id`` go back to it."""
    update = _bumping({"$set": {field: contact_id}, "$unset": {"mergedFrom": ""}}, inc)
    query = {"mergedFrom.mergeId": merge_id, "mergedFrom.contactId": contact_id}
    await collection.update_many(query, update, session=session)


async def in_chunks(cursor: Any, size: int) -> AsyncIterator[list[dict[str, Any]]]:
    """The documents of ``cursor``, ``size`` at a time (bulk work reads batch by batch)."""
    chunk: list[dict[str, Any]] = []
    async for doc in cursor:
        chunk.append(doc)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
