"""The ``merges`` collection: the audit record of each contact merge, enough to undo it."""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from ..types import Session
from . import interaction_days, interactions, leads, opportunities
from ._base import move_merged, move_unmerged, now

NAME = "merges"
INDEXES = {
    NAME: [
        IndexModel([("survivorId", ASCENDING), ("createdAt", DESCENDING)], name="survivor"),
        IndexModel([("duplicateIds", ASCENDING)], name="duplicates"),
    ]
}

# What belongs to a contact and follows it through a merge: (collection, the field naming the
# contact, the revision bump a write to it carries).
CONTACT_CHILDREN = (
    (leads.NAME, "parentContactId", leads.REV),
    (interactions.NAME, "contactId", None),
    (opportunities.NAME, "contactId", None),
)


async def move_children(
    db: AsyncDatabase,
    from_id: ObjectId,
    to_id: ObjectId,
    tag: dict[str, Any],
    session: Session | None = None,
) -> None:
    """A merge: the leads, interactions and opportunities of contact ``from_id`` move to
    ``to_id``, tagged ``mergedFrom`` (``tag``: the merge and the contact they came from)."""
    for name, field, inc in CONTACT_CHILDREN:
        await move_merged(db[name], field, from_id, to_id, tag, inc=inc, session=session)
    await interaction_days.rebuild(db, [from_id, to_id], session=session)


async def move_children_back(
    db: AsyncDatabase, merge_id: ObjectId, contact_id: ObjectId, session: Session | None = None
) -> None:
    """A merge undone: the leads and interactions it moved from ``contact_id`` go back to it."""
    for name, field, inc in CONTACT_CHILDREN:
        await move_unmerged(db[name], field, merge_id, contact_id, inc=inc, session=session)
    survivor = await db[NAME].find_one({"_id": merge_id}, {"survivorId": 1}, session=session)
    gained = [survivor["survivorId"]] if survivor else []
    await interaction_days.rebuild(db, [contact_id, *gained], session=session)


async def insert(db: AsyncDatabase, record: dict[str, Any], session: Session | None = None) -> None:
    await db[NAME].insert_one(record, session=session)


async def get(
    db: AsyncDatabase, merge_id: ObjectId, session: Session | None = None
) -> dict[str, Any] | None:
    return await db[NAME].find_one({"_id": merge_id}, session=session)


async def mark_undone(
    db: AsyncDatabase, merge_id: ObjectId, session: Session | None = None
) -> None:
    await db[NAME].update_one({"_id": merge_id}, {"$set": {"undoneAt": now()}}, session=session)


async def of_survivor(db: AsyncDatabase, contact_id: ObjectId, limit: int) -> list[dict[str, Any]]:
    """The latest ``limit`` merges into a contact, newest first."""
    cursor = db[NAME].find({"survivorId": contact_id}).sort("createdAt", -1).limit(limit)
    return await cursor.to_list()


def _involving(contact_id: ObjectId) -> dict[str, Any]:
    return {"$or": [{"survivorId": contact_id}, {"duplicateIds": contact_id}]}


async def involving(db: AsyncDatabase, contact_id: ObjectId) -> list[dict[str, Any]]:
    """Every merge a contact took part in, as survivor or duplicate (with the copies kept)."""
    return await db[NAME].find(_involving(contact_id)).sort("createdAt", 1).to_list()


async def delete_involving(
    db: AsyncDatabase, contact_id: ObjectId, session: Session | None = None
) -> int:
    """The person was erased: their merge records (which hold copies of them) go too."""
    result = await db[NAME].delete_many(_involving(contact_id), session=session)
    return result.deleted_count
