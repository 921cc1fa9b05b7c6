"""The ``submissions`` collection: the one place idempotency keys are kept, for every
operation that takes one (``submitForm``, ``registerForEvent``, ``recordInteraction``).

A key belongs to its caller and its operation: the ``_id`` is
``"<operation>:<owner>:<key>"`` (the owner: the API key's id), so another caller reusing a key
has their own.  The document holds the hash of the canonical input (``payloadHash``) and the
outcome, written in the same transaction as the interaction: a retry with the same input gets
the first outcome and records nothing twice; the same key with another input is refused
(:func:`check`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from ..types import Session
from ._base import now
from .writes import Writes

NAME = "submissions"
INDEXES: dict[str, list[Any]] = {NAME: []}


def scoped_id(operation: str, owner: str | None, key: str) -> str:
    """The ``_id`` of ``owner``'s idempotency ``key`` for ``operation``."""
    return f"{operation}:{owner or '-'}:{key}"


def new_document(
    operation: str, owner: str | None, key: str, digest: str, outcome: dict[str, Any]
) -> dict[str, Any]:
    """The record of ``owner``'s ``key`` for ``operation``: the scoped ``_id``, the parts it is
    made of, the input's hash (``digest``) and the ``outcome`` (record ids)."""
    return {
        "_id": scoped_id(operation, owner, key),
        "operation": operation,
        "owner": owner,
        "key": key,
        "payloadHash": digest,
        **outcome,
        "createdAt": now(),
    }


def payload_hash(payload: Any) -> str:
    """The SHA-256 of ``payload`` as canonical JSON (sorted keys, no spaces; ids and times as
    text), so the same input always hashes the same."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def same_payload(done: dict[str, Any], digest: str) -> bool:
    """Whether the recorded outcome ``done`` was for the input hashed as ``digest``."""
    return done.get("payloadHash") == digest


async def get(db: AsyncDatabase, sid: str) -> dict[str, Any] | None:
    return await db[NAME].find_one({"_id": sid})


async def insert(
    db: AsyncDatabase,
    doc: dict[str, Any],
    session: Session | None = None,
    writes: Writes | None = None,
) -> None:
    """Record an outcome (a duplicate ``_id`` raises ``DuplicateKeyError``, from
    :meth:`Writes.flush` when gathered in ``writes``)."""
    if writes is not None:
        writes.insert(NAME, [doc])
    else:
        await db[NAME].insert_one(doc, session=session)


async def of_contacts(db: AsyncDatabase, contact_ids: list[Any]) -> list[dict[str, Any]]:
    """The recorded outcomes of some contacts' submissions (their matched values included)."""
    return await db[NAME].find({"contactId": {"$in": contact_ids}}).to_list()


async def delete_of_contacts(
    db: AsyncDatabase, contact_ids: list[Any], session: Session | None = None
) -> int:
    result = await db[NAME].delete_many({"contactId": {"$in": contact_ids}}, session=session)
    return result.deleted_count
