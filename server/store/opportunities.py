"""The ``opportunities`` collection: what a qualified lead became (one per lead)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.change_stream import AsyncChangeStream
from pymongo.asynchronous.database import AsyncDatabase

from ..documents import OPPORTUNITIES
from ..types import Session
from ._base import between, get_by_id, insert_new, now, unlink

NAME = OPPORTUNITIES

INDEXES = {
    NAME: [
        # one opportunity per lead: a second qualification of the same lead cannot insert one
        IndexModel([("leadId", ASCENDING)], name="lead", unique=True),
        IndexModel([("contactId", ASCENDING), ("createdAt", DESCENDING)], name="contact"),
        IndexModel([("accountId", ASCENDING), ("createdAt", DESCENDING)], name="account"),
        IndexModel([("owner", ASCENDING), ("stage", ASCENDING)], name="owner_stage"),
        IndexModel([("createdAt", DESCENDING), ("_id", DESCENDING)], name="createdAt_id"),
        # the opportunities connection's other filter and ordering (tests/test_indexes.py)
        IndexModel(
            [("stage", ASCENDING), ("createdAt", ASCENDING), ("_id", ASCENDING)], name="stage"
        ),
        IndexModel([("updatedAt", DESCENDING), ("_id", DESCENDING)], name="updatedAt_id"),
    ]
}


def new_document(
    *,
    lead: Mapping[str, Any],
    topic: str | None,
    value: float | None,
    owner: str | None,
    contact_id: ObjectId | None,
    account_id: ObjectId | None,
    by: str | None,
) -> dict[str, Any]:
    """A new open opportunity for the qualified ``lead``."""
    t = now()
    return {
        "topic": topic,
        "value": value,
        "owner": owner,
        "leadId": lead["_id"],
        "contactId": contact_id,
        "accountId": account_id,
        "stage": "open",
        "createdBy": by,
        "closedAt": None,
        "closedBy": None,
        "closeReason": None,
        "createdAt": t,
        "updatedAt": t,
    }


async def insert(
    db: AsyncDatabase, doc: dict[str, Any], session: Session | None = None
) -> dict[str, Any]:
    return await insert_new(db[NAME], doc, session=session)


async def get(db: AsyncDatabase, oid: ObjectId) -> dict[str, Any] | None:
    return await get_by_id(db[NAME], oid)


def filter_query(
    *,
    stage: str | None = None,
    owner: str | None = None,
    contact_id: ObjectId | None = None,
    account_id: ObjectId | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> dict[str, Any]:
    query: dict[str, Any] = {}
    for field, value in (
        ("stage", stage),
        ("owner", owner),
        ("contactId", contact_id),
        ("accountId", account_id),
    ):
        if value is not None:
            query[field] = value
    query.update(between("createdAt", created_after, created_before))
    return query


async def unlink_parent(
    db: AsyncDatabase, field: str, parent: ObjectId, session: Session | None = None
) -> None:
    """The contact or account (``field``: ``contactId`` or ``accountId``) was deleted."""
    await unlink(db[NAME], field, parent, session=session)


async def close(
    db: AsyncDatabase,
    oid: ObjectId,
    stage: str,
    fields: dict[str, Any],
    session: Session | None = None,
) -> dict[str, Any] | None:
    """Mark an open opportunity ``won`` or ``lost`` (with ``fields``); the opportunity after,
    or None when there is none open with this id (two closings at once: one wins)."""
    t = now()
    return await db[NAME].find_one_and_update(
        {"_id": oid, "stage": "open"},
        {"$set": {**fields, "stage": stage, "closedAt": t, "updatedAt": t}},
        return_document=ReturnDocument.AFTER,
        session=session,
    )


async def watch_inserts(
    db: AsyncDatabase, resume_after: Mapping[str, Any] | None = None
) -> AsyncChangeStream[dict[str, Any]]:
    """A change stream of new opportunities (leads qualified), resumed after ``resume_after``;
    opened once per process and shared (see :mod:`leadgraph.web.live`)."""
    return await db[NAME].watch(
        [{"$match": {"operationType": "insert"}}], resume_after=resume_after
    )


async def of_contact(db: AsyncDatabase, contact_id: ObjectId) -> list[dict[str, Any]]:
    """A contact's opportunities, oldest first (a data-protection export)."""
    return await db[NAME].find({"contactId": contact_id}).sort("createdAt", ASCENDING).to_list()
