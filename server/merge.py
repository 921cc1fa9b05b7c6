"""Merging duplicate contacts into a survivor, undoing a merge, finding likely duplicates.

A merge moves the duplicates' leads, interactions, subscriptions and match keys to the
survivor, fills the survivor's fields by the survivorship rules (the ``survivorship:``
section of the rule files), deletes the duplicates and keeps an audit record in
``merges`` (the duplicates as they were, the survivor's changed fields before and after); moved
leads and interactions are tagged ``mergedFrom`` so :func:`undo_merge` can put them back.
Everything happens in one transaction.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from . import normalize
from .db import in_transaction
from .errors import Conflict, InvalidInput, NotFound
from .rules.models import MERGED_FIELDS, Survivorship
from .services.matching import Matching
from .store import match_keys, merges
from .store._base import now


def _get(doc: dict[str, Any], path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def survive(rules: Survivorship, survivor: dict[str, Any], dups: list[dict[str, Any]]) -> dict:
    """The survivor's fields after the merge, as ``{path: value}`` for the changed ones."""
    newest_first = sorted(dups, key=lambda d: d.get("updatedAt") or d["createdAt"], reverse=True)
    everyone = [survivor, *dups]
    out: dict[str, Any] = {}
    for path in MERGED_FIELDS:
        policy = rules.policy(path)
        mine = _get(survivor, path)
        values = [_get(d, path) for d in everyone]
        if policy == "keep":
            value = mine
        elif policy == "survivor":
            value = mine
            if _empty(mine):
                value = next((v for d in newest_first if not _empty(v := _get(d, path))), mine)
        elif policy == "newest":
            ordered = sorted(
                everyone, key=lambda d: d.get("updatedAt") or d["createdAt"], reverse=True
            )
            value = next((v for d in ordered if not _empty(v := _get(d, path))), mine)
        elif policy == "oldest":
            ordered = sorted(everyone, key=lambda d: d["createdAt"])
            value = next((v for d in ordered if not _empty(v := _get(d, path))), mine)
        elif policy == "union":
            value = list(dict.fromkeys(i for v in values if isinstance(v, list) for i in v))
        elif policy == "any":
            value = any(bool(v) for v in values)
        else:  # all
            value = all(bool(v) for v in values)
        if value != mine:
            out[path] = value
    if "email" in out:
        out["emailNormalized"] = normalize.email(out["email"]) if out["email"] else None
    if "firstName" in out or "lastName" in out:
        out["sortName"] = normalize.sort_name(
            out.get("firstName", survivor.get("firstName")),
            out.get("lastName", survivor.get("lastName")),
        )
    return out


def _add_insights(total: dict[str, Any], other: dict[str, Any], sign: int = 1) -> dict[str, Any]:
    counts = dict(total.get("counts") or {})
    for kind, n in (other.get("counts") or {}).items():
        counts[kind] = counts.get(kind, 0) + sign * n
    last = [t for t in (total.get("lastActivityAt"), other.get("lastActivityAt")) if t]
    return {
        "total": int(total.get("total") or 0) + sign * int(other.get("total") or 0),
        "counts": {k: v for k, v in counts.items() if v},
        "lastActivityAt": max(last) if last else None,
    }


async def merge_contacts(
    db: AsyncDatabase,
    survivor_id: ObjectId,
    duplicate_ids: list[ObjectId],
    *,
    survivorship: Survivorship | None = None,
    by: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Merge ``duplicate_ids`` into ``survivor_id``; returns (survivor, merge record)."""
    duplicate_ids = list(dict.fromkeys(duplicate_ids))
    if not duplicate_ids:
        raise InvalidInput("duplicateIds", "name at least one duplicate")
    if survivor_id in duplicate_ids:
        raise InvalidInput("duplicateIds", "must not contain the survivor")
    rules = survivorship or Survivorship()
    merge_id = ObjectId()

    async def work(session: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        survivor = await db["contacts"].find_one({"_id": survivor_id}, session=session)
        if survivor is None:
            raise NotFound("Contact", str(survivor_id))
        dups = await db["contacts"].find({"_id": {"$in": duplicate_ids}}, session=session).to_list()
        missing = set(duplicate_ids) - {d["_id"] for d in dups}
        if missing:
            raise NotFound("Contact", str(sorted(missing)[0]))
        changes = survive(rules, survivor, dups)
        insights = survivor.get("insights") or {}
        for dup in dups:
            insights = _add_insights(insights, dup.get("insights") or {})
        moved_keys: dict[str, list[str]] = {}
        for dup in dups:
            tag = {"mergedFrom": {"mergeId": merge_id, "contactId": dup["_id"]}}
            await db["leads"].update_many(
                {"parentContactId": dup["_id"]},
                {"$set": {"parentContactId": survivor_id, **tag}},
                session=session,
            )
            await db["interactions"].update_many(
                {"contactId": dup["_id"]},
                {"$set": {"contactId": survivor_id, **tag}},
                session=session,
            )
            kids = await match_keys.keys_of(db, [dup["_id"]], session=session)
            await match_keys.reassign(db, kids, survivor_id, session=session, alias=True)
            moved_keys[str(dup["_id"])] = kids
        before = {path: _get(survivor, path) for path in changes}
        before["insights"] = survivor.get("insights")
        after = {**changes, "insights": insights, "updatedAt": now()}
        await db["contacts"].update_one({"_id": survivor_id}, {"$set": after}, session=session)
        await db["contacts"].delete_many({"_id": {"$in": duplicate_ids}}, session=session)
        record = {
            "_id": merge_id,
            "survivorId": survivor_id,
            "duplicateIds": duplicate_ids,
            "duplicates": dups,
            "before": before,
            "after": changes,
            "movedKeys": moved_keys,
            "by": by,
            "createdAt": now(),
            "undoneAt": None,
        }
        await db[merges.NAME].insert_one(record, session=session)
        merged = await db["contacts"].find_one({"_id": survivor_id}, session=session)
        return merged, record

    return await in_transaction(db, work)


async def undo_merge(
    db: AsyncDatabase, merge_id: ObjectId
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Restore a merge's duplicates with their leads, interactions and keys."""

    async def work(session: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        record = await db[merges.NAME].find_one({"_id": merge_id}, session=session)
        if record is None:
            raise NotFound("Merge", str(merge_id))
        if record.get("undoneAt"):
            raise Conflict("this merge was already undone")
        survivor = await db["contacts"].find_one({"_id": record["survivorId"]}, session=session)
        if survivor is None:
            raise Conflict("the survivor no longer exists (merged or deleted since)")
        dups = record["duplicates"]
        if await db["contacts"].count_documents(
            {"_id": {"$in": record["duplicateIds"]}}, session=session
        ):
            raise Conflict("a duplicate's id is in use again")
        await db["contacts"].insert_many(dups, session=session)
        for dup in dups:
            tag = {"mergedFrom.mergeId": merge_id, "mergedFrom.contactId": dup["_id"]}
            await db["leads"].update_many(
                tag,
                {"$set": {"parentContactId": dup["_id"]}, "$unset": {"mergedFrom": ""}},
                session=session,
            )
            await db["interactions"].update_many(
                tag,
                {"$set": {"contactId": dup["_id"]}, "$unset": {"mergedFrom": ""}},
                session=session,
            )
            await match_keys.reassign(
                db,
                record["movedKeys"].get(str(dup["_id"]), []),
                dup["_id"],
                session=session,
                alias=False,
            )
        restore: dict[str, Any] = {}
        for path, value in record["after"].items():
            if _get(survivor, path) == value:  # not changed since the merge
                restore[path] = record["before"].get(path)
        insights = survivor.get("insights") or {}
        for dup in dups:
            insights = _add_insights(insights, dup.get("insights") or {}, sign=-1)
        latest = await db["interactions"].find_one(
            {"contactId": survivor["_id"]}, sort=[("occurredAt", -1)], session=session
        )
        insights["lastActivityAt"] = latest["occurredAt"] if latest else None
        restore.update(insights=insights, updatedAt=now())
        await db["contacts"].update_one(
            {"_id": survivor["_id"]}, {"$set": restore}, session=session
        )
        await db[merges.NAME].update_one(
            {"_id": merge_id}, {"$set": {"undoneAt": now()}}, session=session
        )
        restored = (
            await db["contacts"]
            .find({"_id": {"$in": record["duplicateIds"]}}, session=session)
            .to_list()
        )
        again = await db["contacts"].find_one({"_id": survivor["_id"]}, session=session)
        return again, restored

    return await in_transaction(db, work)


async def duplicate_candidates(
    db: AsyncDatabase, matching: Matching, limit: int = 50
) -> list[dict[str, Any]]:
    """Groups of likely duplicate contacts: the same key under a contact matching strategy
    (whatever its kind: the matching service decides, as for capture and import), then the
    same name + phone, the same name + account."""
    groups: list[dict[str, Any]] = [
        {"reason": "matching_strategy", **g} for g in await matching.duplicate_groups("contact")
    ][:limit]
    by_phone: dict[tuple[str, str], list[ObjectId]] = defaultdict(list)
    by_account: dict[tuple[str, ObjectId], list[ObjectId]] = defaultdict(list)
    projection = {"sortName": 1, "phone": 1, "accountId": 1}
    query = {"$or": [{"phone": {"$type": "string"}}, {"accountId": {"$type": "objectId"}}]}
    async for doc in db["contacts"].find(query, projection):
        name = (doc.get("sortName") or "").strip()
        if not name:
            continue
        if doc.get("phone") and (phone := normalize.phone(doc["phone"])):
            by_phone[(name, phone)].append(doc["_id"])
        if doc.get("accountId"):
            by_account[(name, doc["accountId"])].append(doc["_id"])
    seen = {frozenset(g["ids"]) for g in groups}
    for reason, buckets in (("name_phone", by_phone), ("name_account", by_account)):
        for (name, other), ids in sorted(buckets.items(), key=lambda kv: str(kv[0])):
            if len(ids) > 1 and frozenset(ids) not in seen:
                seen.add(frozenset(ids))
                groups.append({"reason": reason, "key": f"{name} / {other}", "ids": ids})
    return groups[:limit]
