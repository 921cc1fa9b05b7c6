"""Segment benchmark: memberCount and the first page of members of two segments.

Over generated data (default 100,000 contacts, 250,000 leads, 1,000,000 interactions;
``--scale 0.1`` for a tenth), times two segments through the real server (``leadgraph serve``
in its own process, GraphQL over HTTP on loopback):

- the seed's example segment: contacts with a lead on the "Contoso Ltd Conference" whose role
  is decision maker;
- an engagement segment: contacts who opened an email in the last 30 days, for the purpose
  ``commercial_email`` (with an email address, bulk email allowed, consent level marketing or
  above, no child without a guardian);
- an opportunity segment: decision makers with an open opportunity of 50,000 or more (their
  own, or one of their account's without a contact);

each as ``{ segment(name) { memberCount members(first: 100) { ... } } }`` (the member-count
cache is off, so every request computes), against a hand-written plan for the same criteria
in the same run: an aggregation on the most selective collection (leads by topic;
interactions by type and time), then one ``$in`` find on contacts with the rest of the
criteria as plain field conditions (the rule an index cannot take, "child without a
guardian", checked on the fields read along), then the first page of contact documents.
Both answers are checked equal first.

The last line reads ``ratio: R``: leadgraph/hand-written at p50, the worse of the two
segments (target <= 1.2).

    python bench/segments.py [--scale 1.0] [--reps 10] [--warmup 2]

Uses ``MONGODB_URI`` when set (a throw-away database on it), else an in-memory embedded server.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from _harness import (
    api_key,
    empty,
    indexes,
    percentile,
    run_on_database,
    scratch_database,
    setup,
    timed,
)
from _server import leadgraph_server
from bson import ObjectId
from leadgraph.contracts import CONSENT_LEVELS, CONTACT_ROLES, INTERACTION_TYPES
from pymongo.asynchronous.database import AsyncDatabase

CONTOSO = "Contoso Ltd Conference"
TOPICS = [CONTOSO] + [f"Topic {i}" for i in range(39)]
#: The built-in types but consent changes (those carry the consent record the generator skips).
TYPES = [t for t in INTERACTION_TYPES if t != "consent_changed"]
PAGE = 100
BIG = 100_000
CONFERENCE = "bench-conference-decision-makers"
ENGAGED = "bench-engaged-email-audience"
DEALS = "bench-big-open-deals-decision-makers"
OWNERS = [f"Owner {i}" for i in range(10)]
SEGMENTS: dict[str, dict[str, Any]] = {
    CONFERENCE: {
        "where": {
            "all": [
                {"fact": "lead.topic", "op": "eq", "value": CONTOSO},
                {"fact": "contact.role", "op": "eq", "value": "decisionMaker"},
            ]
        }
    },
    ENGAGED: {
        "where": {"event": {"type": "email_opened", "within": "30d"}},
        "purpose": "commercial_email",
    },
    DEALS: {
        "where": {
            "all": [
                {"fact": "opportunity.stage", "op": "eq", "value": "open"},
                {"fact": "opportunity.value", "op": "gte", "value": 50000},
                {"fact": "contact.role", "op": "eq", "value": "decisionMaker"},
            ]
        }
    },
}
QUERY = """query($n: String!, $first: Int!) { segment(name: $n) {
  memberCount members(first: $first) { edges { node { id email } } } } }"""
CREATE = """mutation($i: SegmentInput!) { createSegment(input: $i) { __typename } }"""


# ---------------------------------------------------------------- data


async def generate(db: AsyncDatabase, scale: float, seed: int = 7) -> dict[str, int]:
    """Contacts, accounts, leads and interactions in bulk (plain inserts: the benchmark is
    about reading)."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    n_contacts, n_leads, n_events = (max(1, int(n * scale)) for n in (100_000, 250_000, 1_000_000))
    n_accounts = max(1, n_contacts // 5)
    accounts = [{"_id": ObjectId(), "name": f"Account {i}"} for i in range(n_accounts)]
    contacts = []
    for i in range(n_contacts):
        child = rng.random() < 0.03
        consent: dict[str, Any] = {"level": rng.choice(CONSENT_LEVELS), "isChild": child}
        if child and rng.random() < 0.5:
            consent["guardian"] = "Pat Lee"
        contacts.append(
            {
                "_id": ObjectId(),
                "firstName": f"F{i}",
                "lastName": f"L{i}",
                "email": f"c{i}@example.com" if rng.random() < 0.9 else None,
                "role": rng.choice(CONTACT_ROLES),
                "accountId": rng.choice(accounts)["_id"] if rng.random() < 0.8 else None,
                "preferences": {
                    "allowBulkEmail": rng.random() < 0.6,
                    "allowEmail": True,
                    "allowPrefill": False,
                    "trackEmail": True,
                },
                "consent": consent,
                "subscriptions": [],
                "marketingOnly": False,
                "createdAt": now,
                "updatedAt": now,
            }
        )
    ids = [c["_id"] for c in contacts]
    contacts_by_id = {c["_id"]: c for c in contacts}
    leads = [
        {
            "_id": ObjectId(),
            "topic": rng.choice(TOPICS),
            "parentContactId": rng.choice(ids),
            "stage": "inquiry",
            "status": "open",
            "createdAt": now,
            "updatedAt": now,
        }
        for _ in range(n_leads)
    ]
    events = [
        {
            "_id": ObjectId(),
            "contactId": rng.choice(ids),
            "type": rng.choice(TYPES),
            "occurredAt": now - timedelta(minutes=rng.randint(0, 365 * 24 * 60)),
        }
        for _ in range(n_events)
    ]
    opportunities = [_opportunity(rng, lead, contacts_by_id, now) for lead in leads[::10]]
    for name, docs in (
        ("opportunities", opportunities),
        ("accounts", accounts),
        ("contacts", contacts),
        ("leads", leads),
        ("interactions", events),
    ):
        for start in range(0, len(docs), 20_000):
            await db[name].insert_many(docs[start : start + 20_000], ordered=False)
    return {
        "contacts": n_contacts,
        "accounts": n_accounts,
        "leads": n_leads,
        "interactions": n_events,
        "opportunities": len(opportunities),
    }


def _opportunity(
    rng: random.Random, lead: dict[str, Any], contacts: dict[Any, dict[str, Any]], now: datetime
) -> dict[str, Any]:
    """An opportunity of one lead in ten: its contact's, or (one in ten) its account's only."""
    account = contacts[lead["parentContactId"]].get("accountId")
    based = account is not None and rng.random() < 0.1
    return {
        "_id": ObjectId(),
        "leadId": lead["_id"],
        "contactId": None if based else lead["parentContactId"],
        "accountId": account,
        "topic": lead["topic"],
        "stage": rng.choice(["open", "open", "won", "lost"]),
        "value": float(rng.randint(1, 100) * 1000),
        "owner": rng.choice(OWNERS),
        "createdAt": now,
        "updatedAt": now,
    }


# ---------------------------------------------------------------- hand-written plans


async def _page(db: AsyncDatabase, ids: list[ObjectId]) -> tuple[int, list[str]]:
    ids.sort()
    docs = await db.contacts.find({"_id": {"$in": ids[:PAGE]}}, batch_size=BIG).to_list()
    return len(ids), sorted(str(d["_id"]) for d in docs)


async def raw_conference(db: AsyncDatabase) -> tuple[int, list[str]]:
    """Leads on the topic (index on topic) -> their contacts that are decision makers."""
    pipeline: list[dict[str, Any]] = [
        {"$match": {"topic": CONTOSO, "parentContactId": {"$ne": None}}},
        {"$group": {"_id": "$parentContactId"}},
    ]
    parents = [d["_id"] for d in await (await db.leads.aggregate(pipeline)).to_list()]
    query = {"_id": {"$in": parents}, "role": "decisionMaker"}
    found = await db.contacts.find(query, {"_id": 1}, batch_size=BIG).to_list()
    return await _page(db, [d["_id"] for d in found])


async def raw_engaged(db: AsyncDatabase) -> tuple[int, list[str]]:
    """Email opens in 30 days by contact (index on type, occurredAt) -> the reachable ones."""
    since = datetime.now(UTC) - timedelta(days=30)
    pipeline: list[dict[str, Any]] = [
        {"$match": {"type": "email_opened", "occurredAt": {"$gte": since}}},
        {"$group": {"_id": "$contactId"}},
    ]
    opened = [d["_id"] for d in await (await db.interactions.aggregate(pipeline)).to_list()]
    # plain field conditions only (a top-level $or/$nor makes SecantusDB scan the collection):
    # the "child without a guardian" rule is checked on the consent fields read along
    query = {
        "_id": {"$in": opened},
        "email": {"$nin": [None, ""]},
        "preferences.allowBulkEmail": True,
        "consent.level": {"$in": ["marketing", "profiling", "tracking"]},
    }
    found = await db.contacts.find(query, {"consent": 1}, batch_size=BIG).to_list()
    return await _page(
        db,
        [
            d["_id"]
            for d in found
            if not (d["consent"].get("isChild") is True and not d["consent"].get("guardian"))
        ],
    )


async def raw_deals(db: AsyncDatabase) -> tuple[int, list[str]]:
    """Open opportunities of 50,000 or more (index on stage) -> their contacts, or for those
    without one their account's contacts, that are decision makers."""
    query = {"stage": "open", "value": {"$gte": 50000}}
    found = await db.opportunities.find(query, {"contactId": 1, "accountId": 1}).to_list()
    own = list({d["contactId"] for d in found if d["contactId"] is not None})
    accounts = list({d["accountId"] for d in found if d["contactId"] is None})
    role = {"role": "decisionMaker"}
    hit = await db.contacts.find({"_id": {"$in": own}, **role}, {"_id": 1}).to_list()
    if accounts:
        of_accounts = {"accountId": {"$in": accounts}, **role}
        hit += await db.contacts.find(of_accounts, {"_id": 1}).to_list()
    return await _page(db, list({d["_id"] for d in hit}))


async def run(args: argparse.Namespace, uri: str) -> None:
    async with scratch_database(uri, "bench_segments") as db:
        t = time.perf_counter()

        async def regenerate() -> dict[str, int]:
            await empty(db)  # a retried set-up does not generate twice
            return await generate(db, args.scale)

        counts = await setup("generating the data", regenerate)
        await indexes(db)
        print(
            f"generated {', '.join(f'{v:,} {k}' for k, v in counts.items())} "
            f"(scale {args.scale}) in {time.perf_counter() - t:.1f}s"
        )
        key = await api_key(db, "admin")
        # every request computes its count; and the start-up rescore of the generated leads
        # (unscored) stays off, or it would run in the server's process during the timing
        env = {"LEADGRAPH_SEGMENT_COUNT_TTL": "0", "LEADGRAPH_RESCORE_ON_RULES_CHANGE": "0"}
        print("server: LEADGRAPH_RESCORE_ON_RULES_CHANGE=0 (no background rescore while timed)")
        async with (
            leadgraph_server(uri, db.name, env) as url,
            httpx.AsyncClient(timeout=600) as http,
        ):
            headers = {"Authorization": f"Bearer {key}"}

            async def post(query: str, variables: dict[str, Any]) -> dict[str, Any]:
                r = await http.post(
                    f"{url}/graphql", json={"query": query, "variables": variables}, headers=headers
                )
                r.raise_for_status()
                body = r.json()
                assert "errors" not in body, body["errors"]
                return dict(body["data"])

            for name, fields in SEGMENTS.items():
                made = await post(CREATE, {"i": {"name": name, **fields}})
                assert made["createSegment"]["__typename"] == "SegmentPayload", made

            def graphql(name: str) -> Callable[[], Awaitable[tuple[int, list[str]]]]:
                async def call() -> tuple[int, list[str]]:
                    seg = (await post(QUERY, {"n": name, "first": PAGE}))["segment"]
                    page = [e["node"]["id"] for e in seg["members"]["edges"]]
                    return seg["memberCount"], page

                return call

            fns: dict[str, Callable[[], Awaitable[Any]]] = {
                f"leadgraph {CONFERENCE}": graphql(CONFERENCE),
                f"hand-written {CONFERENCE}": lambda: raw_conference(db),
                f"leadgraph {ENGAGED}": graphql(ENGAGED),
                f"hand-written {ENGAGED}": lambda: raw_engaged(db),
                f"leadgraph {DEALS}": graphql(DEALS),
                f"hand-written {DEALS}": lambda: raw_deals(db),
            }
            from leadgraph.api.relay import object_id  # global id -> ObjectId, as the API does

            plans = ((CONFERENCE, raw_conference), (ENGAGED, raw_engaged), (DEALS, raw_deals))
            for name, raw in plans:
                n, page = await graphql(name)()
                want_n, want_page = await raw(db)
                got_page = sorted(str(object_id(g, "Contact")) for g in page)
                assert (n, got_page) == (want_n, want_page), (name, n, want_n)
                print(f"{name}: {n:,} members (same as hand-written)")
            results = await timed(fns, args.reps, args.warmup)

        print(f"\n{args.reps} reps after {args.warmup} warm-up; memberCount + first {PAGE}")
        for name, ms in results.items():
            print(f"  {name:<58} p50 {percentile(ms, 50):9.1f} ms  max {max(ms):9.1f} ms")
        ratios = []
        for name in (CONFERENCE, ENGAGED, DEALS):
            r = percentile(results[f"leadgraph {name}"], 50) / percentile(
                results[f"hand-written {name}"], 50
            )
            ratios.append(r)
            print(f"  {name}: leadgraph/hand-written at p50 = {r:.2f} (target <= 1.2)")
        print(f"ratio: {max(ratios):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scale", type=float, default=1.0, help="fraction of 100k/250k/1M to generate"
    )
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    run_on_database(run, parser.parse_args())


if __name__ == "__main__":
    main()
