"""Orphan leads: leads without a parent contact get one, matched by the contact strategy from
the lead's own data or created ``marketingOnly`` (so sales views can hide it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bson import ObjectId
from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from .importer import PERSON_FIELDS, Engine, Item, _rids
from .store import contacts, match_keys
from .strategies import Kinds, contact_strategy, match_key

SOURCE = "link-orphans"


@dataclass
class Linked:
    linked: int = 0
    contacts_created: int = 0
    contacts_matched: int = 0
    lead_ids: list[ObjectId] | None = None


async def link_orphans(
    db: AsyncDatabase,
    *,
    rules: Any = None,
    pm: Any = None,
    lead_ids: list[ObjectId] | None = None,
    limit: int | None = None,
    batch: int = 500,
) -> Linked:
    """Link every orphan lead (or those of ``lead_ids``); safe to run again at any time."""
    query: dict[str, Any] = {"parentContactId": None}
    if lead_ids is not None:
        query["_id"] = {"$in": lead_ids}
    out = Linked(lead_ids=[])
    pm = Kinds(rules, pm)
    while True:
        size = batch if limit is None else min(batch, limit - out.linked)
        if size <= 0:
            break
        orphans = await db["leads"].find(query).sort("_id", 1).limit(size).to_list()
        if not orphans:
            break
        await _link_batch(db, rules, pm, orphans, out)
        if len(orphans) < size:
            break
    return out


async def _link_batch(
    db: AsyncDatabase, rules: Any, pm: Any, orphans: list[dict[str, Any]], out: Linked
) -> None:
    people: list[Item] = []
    key_of: dict[ObjectId, str] = {}
    for lead in orphans:
        strategy = contact_strategy(rules, lead.get("formId"))
        person = {k: lead[k] for k in PERSON_FIELDS if lead.get(k)}
        kid = match_key(pm, "contacts", strategy, person)[0]
        kid = kid or match_keys.key_id("contacts", "row", ["lead", str(lead["_id"])])
        person.update(
            marketingOnly=True,
            marketingSource=SOURCE,
            accountId=lead.get("parentAccountId"),
        )
        key_of[lead["_id"]] = kid
        people.append(Item(keys=[kid], fields={}, insert_only=person, lines=[0]))
    # first_line beyond any line: a key held by an earlier run counts as matched, not created.
    resolved = await Engine(db, SOURCE, 1 << 62).resolve(
        "contacts", people, contacts.new_document, None
    )
    out.contacts_created += sum(1 for i in resolved if i.created)
    out.contacts_matched += sum(1 for i in resolved if i.rid is not None and not i.created)
    ids = _rids(resolved)
    ops = []
    for lead in orphans:
        cid = ids.get(key_of[lead["_id"]])
        if cid is not None:
            ops.append(
                UpdateOne(
                    {"_id": lead["_id"], "parentContactId": None},
                    {"$set": {"parentContactId": cid}},
                )
            )
            assert out.lead_ids is not None
            out.lead_ids.append(lead["_id"])
    if ops:
        result = await db["leads"].bulk_write(ops, ordered=False)
        out.linked += result.modified_count
