"""The ``privacy_audit`` collection: every data-protection act, without personal data.

``{_id, action: export | erase | token_issued | suppression_cleared, contactId, by
{name, role}, at, counts {...}}`` — the contact id is a random identifier that, after an
erase, points at nothing; no name, email or other value of the person is ever written here.
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from ..types import Session
from ._base import now

NAME = "privacy_audit"
INDEXES = {
    NAME: [
        IndexModel([("contactId", ASCENDING), ("at", DESCENDING)], name="contact_at"),
        IndexModel([("at", DESCENDING)], name="at"),
    ]
}


async def record(
    db: AsyncDatabase, entry: dict[str, Any], session: Session | None = None
) -> dict[str, Any]:
    doc = {**entry, "at": now()}
    doc["_id"] = (await db[NAME].insert_one(doc, session=session)).inserted_id
    return doc


async def of_contact(db: AsyncDatabase, contact_id: ObjectId) -> list[dict[str, Any]]:
    """The entries about one contact, newest first."""
    return await db[NAME].find({"contactId": contact_id}).sort("at", DESCENDING).to_list()


async def latest(db: AsyncDatabase, limit: int) -> list[dict[str, Any]]:
    return await db[NAME].find().sort("at", DESCENDING).limit(limit).to_list()


async def erased(db: AsyncDatabase, contact_id: ObjectId, session: Session | None = None) -> bool:
    """Whether the contact ``contact_id`` was erased (a capture that resolved it before the
    erasure must not write to it, nor bring it back)."""
    query = {"contactId": contact_id, "action": "erase"}
    return await db[NAME].find_one(query, {"_id": 1}, session=session) is not None
