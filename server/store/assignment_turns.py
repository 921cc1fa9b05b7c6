"""The ``assignment_turns`` collection: the round-robin position of each assignment rule.

One document per rule (``_id``: the rule's name) counts the turns taken (``turn``).  A turn is
taken with one ``$inc`` in the transaction that gives the lead its owner, so two processes
assigning at once never take the same turn (the database serialises writes to one document;
the loser of a write conflict retries its whole transaction), and a turn whose assignment is
aborted is not taken.  Nothing here depends on one node.
"""

from __future__ import annotations

import contextlib
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from ..types import Session

NAME = "assignment_turns"
INDEXES: dict[str, list[Any]] = {NAME: []}


async def ensure(db: AsyncDatabase, rule: str) -> None:
    """Make the rule's counter (turn 0) if it has none, outside any transaction (so the
    transactions taking turns only update it)."""
    with contextlib.suppress(DuplicateKeyError):  # another process made it meanwhile
        await db[NAME].update_one({"_id": rule}, {"$setOnInsert": {"turn": 0}}, upsert=True)


async def take(db: AsyncDatabase, rule: str, session: Session | None) -> int:
    """Take the rule's next turn (1, 2, ...) in the caller's transaction."""
    doc = await db[NAME].find_one_and_update(
        {"_id": rule},
        {"$inc": {"turn": 1}},
        upsert=True,
        return_document=ReturnDocument.AFTER,
        session=session,
    )
    assert doc is not None
    return int(doc["turn"])
