"""The ``pending_captures`` collection: submissions being captured, so none is half done.

A capture writes its request here before its first write and deletes it in the transaction
that records its interaction: a document still here after its capture should have ended
belongs to a process killed mid-capture, and the next start-up runs it again (matching finds
the contact and lead the first run created; the interaction is recorded once).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from ..types import Session
from ._base import now

NAME = "pending_captures"
INDEXES = {NAME: [IndexModel([("createdAt", ASCENDING)], name="createdAt")]}


async def start(db: AsyncDatabase, request: dict[str, Any]) -> ObjectId:
    """Note that the capture of ``request`` (JSON-safe arguments) starts now."""
    result = await db[NAME].insert_one({"request": request, "createdAt": now()})
    return ObjectId(result.inserted_id)


async def finish(db: AsyncDatabase, pending: ObjectId, session: Session | None = None) -> None:
    """The capture ended (in the transaction that recorded its interaction)."""
    await db[NAME].delete_one({"_id": pending}, session=session)


async def started_before(db: AsyncDatabase, cutoff: datetime) -> list[dict[str, Any]]:
    """Captures started before ``cutoff`` that never ended, oldest first."""
    query = {"createdAt": {"$lt": cutoff}}
    return await db[NAME].find(query).sort("createdAt", ASCENDING).to_list()


def _mentioning(email: str) -> dict[str, Any]:
    return {"request.fields": {"$regex": re.escape(email), "$options": "i"}}


async def mentioning(db: AsyncDatabase, email: str) -> list[dict[str, Any]]:
    """Unfinished captures whose submitted fields hold ``email`` (they are few: a capture
    removes its note when it ends)."""
    return await db[NAME].find(_mentioning(email)).to_list()


async def delete_mentioning(db: AsyncDatabase, email: str, session: Session | None = None) -> int:
    """The person was erased: a capture of theirs left unfinished is not run again."""
    result = await db[NAME].delete_many(_mentioning(email), session=session)
    return result.deleted_count
