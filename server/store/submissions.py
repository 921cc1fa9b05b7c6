"""The ``submissions`` collection: the outcome of each form submission sent with an
idempotency key (``_id``), written in the same transaction as its interaction, so a retry
returns the first outcome and records nothing twice."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

NAME = "submissions"
INDEXES: dict[str, list[Any]] = {NAME: []}


async def get(db: AsyncDatabase, key: str) -> dict[str, Any] | None:
    return await db[NAME].find_one({"_id": key})


async def insert(db: AsyncDatabase, doc: dict[str, Any], session: Any = None) -> None:
    """Record a submission's outcome (a duplicate ``_id`` raises ``DuplicateKeyError``)."""
    await db[NAME].insert_one(doc, session=session)


async def of_contacts(db: AsyncDatabase, contact_ids: list[Any]) -> list[dict[str, Any]]:
    """The recorded outcomes of some contacts' submissions (their matched values included)."""
    return await db[NAME].find({"contactId": {"$in": contact_ids}}).to_list()


async def delete_of_contacts(db: AsyncDatabase, contact_ids: list[Any], session: Any = None) -> int:
    result = await db[NAME].delete_many({"contactId": {"$in": contact_ids}}, session=session)
    return result.deleted_count
