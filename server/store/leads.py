"""The ``leads`` collection."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from .. import normalize
from ._base import between, now, update_returning

NAME = "leads"

INDEXES = {
    NAME: [
        IndexModel(
            [("parentContactId", ASCENDING), ("createdAt", DESCENDING)], name="parentContact"
        ),
        IndexModel(
            [("parentAccountId", ASCENDING), ("createdAt", DESCENDING)], name="parentAccount"
        ),
        IndexModel([("emailNormalized", ASCENDING), ("formId", ASCENDING)], name="email_form"),
        IndexModel([("stage", ASCENDING)], name="stage"),
        IndexModel([("topic", ASCENDING)], name="topic"),
        IndexModel([("createdAt", DESCENDING), ("_id", DESCENDING)], name="createdAt_id"),
        IndexModel([("updatedAt", DESCENDING), ("_id", DESCENDING)], name="updatedAt_id"),
    ]
}

INITIAL_STAGE = "inquiry"


def apply_fields(doc: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    changes = dict(fields)
    if "email" in fields:
        changes["emailNormalized"] = normalize.email(fields["email"]) if fields["email"] else None
    doc.update(changes)
    return changes


def new_document(fields: dict[str, Any], stage: str = INITIAL_STAGE) -> dict[str, Any]:
    t = now()
    doc: dict[str, Any] = {
        "topic": None,
        "marketingContext": None,
        "formId": None,
        "email": None,
        "emailNormalized": None,
        "firstName": None,
        "lastName": None,
        "companyName": None,
        "jobTitle": None,
        "parentContactId": None,
        "parentAccountId": None,
        "stage": stage,
        "stageHistory": [
            {"stage": stage, "enteredAt": t, "reason": "created", "by": None, "rulesVersion": None}
        ],
        "scores": [],
        "salesReady": False,
        "teleprospectReady": False,
        "status": "open",
        "createdAt": t,
        "updatedAt": t,
    }
    apply_fields(doc, fields)
    return doc


async def insert(db: AsyncDatabase, fields: dict[str, Any], session: Any = None) -> dict[str, Any]:
    doc = new_document(fields)
    doc["_id"] = (await db[NAME].insert_one(doc, session=session)).inserted_id
    return doc


async def update(
    db: AsyncDatabase, oid: ObjectId, fields: dict[str, Any], session: Any = None
) -> dict[str, Any] | None:
    changes = apply_fields({}, fields)
    changes["updatedAt"] = now()
    return await update_returning(db[NAME], oid, {"$set": changes}, session=session)


def filter_query(
    *,
    topic: str | None = None,
    topic_contains: str | None = None,
    stage: str | None = None,
    status: str | None = None,
    sales_ready: bool | None = None,
    form_id: str | None = None,
    email: str | None = None,
    parent_contact_id: ObjectId | None = None,
    parent_account_id: ObjectId | None = None,
    orphan: bool | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> dict[str, Any]:
    query: dict[str, Any] = {}
    if topic is not None:
        query["topic"] = topic
    if topic_contains:
        query["topic"] = {"$regex": re.escape(topic_contains), "$options": "i"}
    if stage is not None:
        query["stage"] = stage
    if status is not None:
        query["status"] = status
    if sales_ready is not None:
        query["salesReady"] = sales_ready
    if form_id is not None:
        query["formId"] = form_id
    if email is not None:
        query["emailNormalized"] = email.strip().lower()
    if parent_contact_id is not None:
        query["parentContactId"] = parent_contact_id
    if parent_account_id is not None:
        query["parentAccountId"] = parent_account_id
    if orphan is True:
        query["parentContactId"] = None
        query["parentAccountId"] = None
    elif orphan is False:
        query["$or"] = [{"parentContactId": {"$ne": None}}, {"parentAccountId": {"$ne": None}}]
    query.update(between("createdAt", created_after, created_before))
    return query
