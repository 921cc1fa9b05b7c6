"""One condition, two compilations: the MongoDB query and the Python predicate give the same
answer on generated data (mixed types, missing fields, arrays, time windows) — for single
filters, for segment plans over contacts, accounts, leads and interactions, and for stored
segments of every kind (dynamic with consent purposes, static, compound)."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from leadgraph.rules.purposes import PURPOSES
from leadgraph.rules.ruleset import load_rules
from leadgraph.rules.segments import Facts, explain, is_member
from leadgraph.services.segments import Segments
from leadgraph.store import subscription_lists
from leadgraph.store.condition_filters import compiler_of
from leadgraph.store.segment_query import SegmentQuery
from pymongo.asynchronous.database import AsyncDatabase
from rules.gen import (
    ACCOUNT_FIELDS,
    CONTACT_FIELDS,
    INTERACTION_FIELDS,
    LEAD_FIELDS,
    LISTS,
    NOW,
    condition,
    dataset,
    nameable,
    segment,
)
from rules.helpers import SHIPPED

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
            assert cond is not None
            test = RULES.compiler.predicate(cond)
            expected = {d["_id"] for d in docs if test({entity: d}, NOW)}
            query = compiler_of(RULES).filter(cond, entity)
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


def _listed(lists: dict[str, set[Any]], contact_id: Any) -> Callable[[str], bool]:
    """Whether the contact is on a static list (a segment name), as the catalog answers."""
    return lambda name: contact_id in lists.get(name, set())


async def test_stored_segments_of_every_kind_match_one_contact_at_a_time(db: AsyncDatabase) -> None:
    """Dynamic segments with purposes (consent exclusions), static lists and compound segments
    (nested, include and exclude), kept through the service: the database's members equal the
    one-contact reading of each."""
    rng = random.Random(20261124)
    stored = await _store(db, dataset(rng))
    contacts = stored["contacts"]
    accounts = {a["_id"]: a for a in stored["accounts"]}
    leads: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for lead in stored["leads"]:
        leads[lead.get("parentContactId")].append(lead)
    interactions: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for item in stored["interactions"]:
        interactions[item["contactId"]].append(item)
    await subscription_lists.ensure(db, LISTS)
    service = Segments(db, RULES)
    purposes = [None, None, None, *PURPOSES]  # most without: their members stay many
    lists: dict[str, set[Any]] = {}
    names: list[str] = []
    with_leads = {"contact": CONTACT_FIELDS, "account": ACCOUNT_FIELDS, "lead": LEAD_FIELDS}
    for i in range(8):
        fields = {"where": condition(rng, with_leads, events=True)}
        await _add(service, names, f"d{i}", fields, rng, purposes)
    for i in range(3):
        await _add(service, names, f"s{i}", {"kind": "static"}, rng, purposes)
        chosen = rng.sample(contacts, k=rng.randint(0, len(contacts)))
        ids = [c["_id"] for c in chosen]
        await service.change_list(f"s{i}", True, ids, None)
        dropped = ids[: len(ids) // 4]
        await service.change_list(f"s{i}", False, dropped, None)
        lists[f"s{i}"] = set(ids) - set(dropped)
    for i in range(10):
        compound: dict[str, Any] = {
            "kind": "compound",
            "include": rng.sample(names, k=rng.randint(1, 3)),
            "exclude": rng.sample(names, k=rng.randint(0, 2)),
        }
        await _add(service, names, f"c{i}", compound, rng, purposes)

    catalog = await service.catalog()
    splitting = excluded = 0
    for name in names:
        record = catalog.get(name)
        assert record is not None
        readings = {
            c["_id"]: explain(
                RULES,
                record.segment,
                Facts(c, accounts.get(c.get("accountId")), leads[c["_id"]], interactions[c["_id"]]),
                now=NOW,
                resolve=catalog.segment,
                listed=_listed(lists, c["_id"]),
            )
            for c in contacts
        }
        expected = {i for i, r in readings.items() if r.member}
        excluded += sum(r.matched and not r.member for r in readings.values())
        got = await service.members(record, catalog, now=NOW)
        assert set(got) == expected, (name, record.segment)
        assert got == sorted(got)
        splitting += 0 < len(expected) < len(contacts)
    assert splitting >= 10
    assert excluded >= 5  # consent rules took contacts out: they are compared too


async def _add(
    service: Segments,
    names: list[str],
    name: str,
    fields: dict[str, Any],
    rng: random.Random,
    purposes: list[str | None],
) -> None:
    purpose = rng.choice(purposes)
    listed = rng.choice([None, "newsletter"])
    if "where" in fields:
        fields = {**fields, "where": nameable(fields["where"])}
    await service.create({"name": name, **fields, "purpose": purpose, "subscription_list": listed})
    names.append(name)
