"""The ``imports`` collection: one document per imported file (``_id`` = kind + file hash)
with its checkpoint (last committed line), running totals and rejected rows, so a killed
import resumes where it stopped."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

NAME = "imports"
INDEXES = {NAME: [IndexModel([("startedAt", ASCENDING)], name="startedAt")]}
MAX_REJECTED_KEPT = 1000


async def get(db: AsyncDatabase, import_id: str) -> dict[str, Any] | None:
    return await db[NAME].find_one({"_id": import_id})
