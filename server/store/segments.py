"""The ``segments`` collection: segments created through the API (rule-file segments live in
the rule files), with their kind, status, purpose and definition."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from ..types import Session
from ._base import now

NAME = "segments"
INDEXES = {NAME: [IndexModel([("name", ASCENDING)], name="name_unique", unique=True)]}


class NameTaken(Exception):
    """Another stored segment already has this name."""


async def all_segments(db: AsyncDatabase) -> list[dict[str, Any]]:
    return await db[NAME].find({}).sort("name", ASCENDING).to_list()


async def by_name(
    db: AsyncDatabase, name: str, session: Session | None = None
) -> dict[str, Any] | None:
    return await db[NAME].find_one({"name": name}, session=session)


async def create(
    db: AsyncDatabase, fields: dict[str, Any], session: Session | None = None
) -> dict[str, Any]:
    """Store a new segment made from ``fields`` (revision and timestamps added); raises
    :class:`NameTaken` when the name is in use (the unique index decides, so two requests at
    once cannot both create it)."""
    stamp = now()
    doc = {**fields, "rev": 1, "createdAt": stamp, "updatedAt": stamp}
    try:
        doc["_id"] = (await db[NAME].insert_one(doc, session=session)).inserted_id
    except DuplicateKeyError as exc:
        raise NameTaken(fields["name"]) from exc
    return doc


async def update(
    db: AsyncDatabase, name: str, rev: int, changes: dict[str, Any], session: Session | None = None
) -> dict[str, Any] | None:
    """Apply ``changes`` if the segment is still at revision ``rev``; None when it is not
    (changed meanwhile, or deleted)."""
    return await db[NAME].find_one_and_update(
        {"name": name, "rev": rev},
        {"$set": {**changes, "updatedAt": now()}, "$inc": {"rev": 1}},
        return_document=ReturnDocument.AFTER,
        session=session,
    )


async def delete(
    db: AsyncDatabase, name: str, session: Session | None = None
) -> dict[str, Any] | None:
    return await db[NAME].find_one_and_delete({"name": name}, session=session)
