"""One condition, two compilations: the MongoDB query and the Python predicate give the same
answer on generated data (mixed types, missing fields, arrays, time windows)."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

from leadgraph.rules.ruleset import load_rules
from leadgraph.rules.segments import SegmentQuery, is_member
from pymongo.asynchronous.database import AsyncDatabase

from .gen import (
    ACCOUNT_FIELDS,
    CONTACT_FIELDS,
    INTERACTION_FIELDS,
    LEAD_FIELDS,
    NOW,
    condition,
    dataset,
    segment,
)
from .helpers import SHIPPED

RULES = load_rules(SHIPPED)


async def _store(db: AsyncDatabase, data: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Insert the data and read it back as MongoDB returns it (the predicate's input)."""
    out = {}
    for name, docs in data.items():
        await db[name].insert_many(docs)
        out[name] = [d async for d in db[name].find()]
    return out


async def test_single_collection_filters_match_the_predicate(db: AsyncDatabase) -> None:
    rng = random.Random(20261123)
    stored = await _store(
        db, {"contacts": dataset(rng)["contacts"], "interactions": dataset(rng)["interactions"]}
    )
    for entity, collection, fields in (
        ("contact", "contacts", CONTACT_FIELDS),
        ("interaction", "interactions", INTERACTION_FIELDS),
    ):
        docs = stored[collection]
        for _ in range(150):
            raw = condition(rng, {entity: fields}, events=False)
            cond = segment(raw).where
            test = RULES.compiler.predicate(cond)
            expected = {d["_id"] for d in docs if test({entity: d}, NOW)}
            query = RULES.mongo.filter(cond, entity)
            got = {d["_id"] async for d in db[collection].find(query, {"_id": 1})}
            assert got == expected, (raw, query)


async def test_segment_plans_match_one_contact_at_a_time(db: AsyncDatabase) -> None:
    rng = random.Random(7)
    stored = await _store(db, dataset(rng))
    accounts = {a["_id"]: a for a in stored["accounts"]}
    leads: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for lead in stored["leads"]:
        leads[lead.get("parentContactId")].append(lead)
    interactions: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for item in stored["interactions"]:
        interactions[item["contactId"]].append(item)

    with_leads = {"contact": CONTACT_FIELDS, "account": ACCOUNT_FIELDS, "lead": LEAD_FIELDS}
    without_leads = {"contact": CONTACT_FIELDS, "account": ACCOUNT_FIELDS}
    splitting = 0
    for i in range(80):
        raw = condition(rng, with_leads if i % 2 else without_leads, events=True)
        seg = segment(raw)
        expected = {
            c["_id"]
            for c in stored["contacts"]
            if is_member(
                RULES,
                seg,
                c,
                account=accounts.get(c.get("accountId")),
                leads=leads[c["_id"]],
                interactions=interactions[c["_id"]],
                now=NOW,
            )
        }
        got = set(await SegmentQuery(RULES, seg, NOW).contact_ids(db))
        assert got == expected, raw
        splitting += 0 < len(expected) < len(stored["contacts"])
    assert splitting >= 40  # most generated conditions split the contacts: the test has teeth
