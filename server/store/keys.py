"""The ``api_keys`` collection: API keys, stored as SHA-256 hashes, each with a role."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from ._base import insert_new, now

NAME = "api_keys"
PREFIX = "lg_"

INDEXES = {NAME: [IndexModel([("hash", ASCENDING)], name="hash_unique", unique=True)]}


def hash_key(key: str) -> str:
    # Keys are 256-bit random tokens, so a fast hash is enough (no dictionary to guess from).
    return hashlib.sha256(key.encode()).hexdigest()


async def create(
    db: AsyncDatabase, role: str, name: str | None = None
) -> tuple[str, dict[str, Any]]:
    """Create a key; returns the clear key (shown once) and the stored document."""
    key = PREFIX + secrets.token_urlsafe(32)
    doc = {
        "name": name or f"{role} key",
        "role": role,
        "hash": hash_key(key),
        "prefix": key[:10],
        "createdAt": now(),
        "revokedAt": None,
    }
    await insert_new(db[NAME], doc)
    return key, doc


async def lookup(db: AsyncDatabase, key: str) -> dict[str, Any] | None:
    """The live (not revoked) key document for a clear key, or None."""
    return await db[NAME].find_one({"hash": hash_key(key), "revokedAt": None})


async def list_keys(db: AsyncDatabase) -> list[dict[str, Any]]:
    return await db[NAME].find({}, {"hash": 0}).sort("createdAt", 1).to_list()


async def by_id(db: AsyncDatabase, key_id: str) -> dict[str, Any] | None:
    """A key's current document by its id, revoked or not (None when it no longer exists)."""
    if not ObjectId.is_valid(key_id):
        return None
    return await db[NAME].find_one({"_id": ObjectId(key_id)}, {"hash": 0})


def _selector(key_or_id: str) -> dict[str, Any]:
    """Which keys ``key_or_id`` names: an id, a clear key or a name."""
    if ObjectId.is_valid(key_or_id):
        return {"_id": ObjectId(key_or_id)}
    if key_or_id.startswith(PREFIX):
        return {"hash": hash_key(key_or_id)}
    return {"name": key_or_id}


async def revoke(db: AsyncDatabase, key_or_id: str) -> bool:
    """Revoke by id, by name or by clear key; True when a live key was revoked."""
    result = await db[NAME].update_many(
        {**_selector(key_or_id), "revokedAt": None}, {"$set": {"revokedAt": now()}}
    )
    return result.modified_count > 0


async def set_role(db: AsyncDatabase, key_or_id: str, role: str) -> bool:
    """Give live keys (by id, name or clear key) a new role; True when one was found."""
    result = await db[NAME].update_many(
        {**_selector(key_or_id), "revokedAt": None}, {"$set": {"role": role}}
    )
    return result.matched_count > 0
