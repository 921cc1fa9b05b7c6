"""Differential: scoring from the database's counts (the facts the funnel reads: only what the
rules can see) gives the same scores, explanations and stage moves as scoring from every
interaction in memory, over windows, caps, ``where`` filters, unbounded rules, ``min``/``max``,
decay by half-life (which reads the decaying events themselves) and account-based leads."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

from bson import ObjectId
from leadgraph.rules.evaluate import evaluate
from leadgraph.rules.reads import ruleset_reads
from leadgraph.rules.ruleset import load_rules
from leadgraph.services.facts import assemble_facts, count_all, gather
from leadgraph.store import accounts, contacts, interactions, leads
from leadgraph.store._base import now as db_now
from shipped import SHIPPED

SCORING = """
scoring:
  - name: wide
    threshold: 40
    applies_to: {event: {type: website_visited, max: 30}}
    rules:
      - name: opens lately
        per_event: {type: email_opened, within: 30d}
        points: 5
        cap: 25
      - name: clicks ever
        per_event: {type: [email_clicked, email_opened]}
        points: 2
        cap: 30
      - name: spring forms in half a year
        per_event:
          type: form_submitted
          within: 180d
          where: {fact: interaction.formId, value: spring}
        points: 7
      - name: two to four events a quarter
        when: {event: {type: event_attended, within: 90d, min: 2, max: 4}}
        points: 15
      - name: never attended
        when: {event: {type: event_attended, min: 0, max: 0}}
        points: -5
      - name: a role
        when: {fact: contact.role, value: decisionMaker}
        points: 10
  - name: narrow
    threshold: 10
    rules:
      - name: visits this week
        per_event: {type: website_visited, within: 1w}
        points: 3
        cap: 9
      - name: visits lately, halved every two weeks
        per_event: {type: website_visited, within: 90d}
        points: 4
        half_life: 14d
        cap: 20
      - name: unsubscribed somewhere
        when:
          event:
            type: subscription_changed
            where: {fact: interaction.details.list, op: in, value: [news, offers]}
        points: -4
"""

TYPES = [
    "email_opened",
    "email_clicked",
    "form_submitted",
    "website_visited",
    "event_attended",
    "subscription_changed",
    "email_sent",
]


def rules_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "rules"
    directory.mkdir()
    (directory / "scoring.yaml").write_text(SCORING)
    lifecycle = (SHIPPED / "lifecycle.yaml").read_text().split("\ntests:")[0]
    guard = (
        "      guard: {fact: lead.salesReady, op: eq, value: true}\n"
        "      description: Sales-ready leads (scored or marked by hand) skip teleprospecting.\n"
    )
    assert guard in lifecycle
    lifecycle = lifecycle.replace(  # a guard that counts too
        guard,
        "      guard:\n        all:\n          - {fact: lead.salesReady, op: eq, value: true}\n"
        "          - {event: {type: email_clicked, within: 60d, min: 1}}\n",
    )
    (directory / "lifecycle.yaml").write_text(lifecycle + "\n")
    return directory


async def populate(db, rng: random.Random, now: datetime) -> None:
    account_docs = [
        {"_id": ObjectId(), "name": f"a{i}", "numberOfEmployees": 100} for i in range(4)
    ]
    contact_docs = []
    for i in range(30):
        contact_docs.append(
            {
                "_id": ObjectId(),
                "lastName": f"c{i}",
                "role": rng.choice(["decisionMaker", "user"]),
                "accountId": rng.choice([None, *[a["_id"] for a in account_docs]]),
            }
        )
    events = []
    for contact in contact_docs:
        for _ in range(rng.choice([0, 3, 20, 60])):
            at = now - timedelta(seconds=rng.randint(-3600, 400 * 86400))
            events.append(
                {
                    "_id": ObjectId(),
                    "contactId": contact["_id"],
                    "type": rng.choice(TYPES),
                    "occurredAt": at.replace(microsecond=at.microsecond // 1000 * 1000),
                    "formId": rng.choice([None, "spring", "autumn"]),
                    "details": rng.choice([{}, {"list": "news"}, {"list": "other"}]),
                }
            )
    # some right at a window's edge (30 days, 180 days, 1 week ago, to the millisecond)
    for contact in contact_docs[:5]:
        for days, kind in ((30, "email_opened"), (180, "form_submitted"), (7, "website_visited")):
            edge = now - timedelta(days=days)
            for shift in (-1, 0, 1):
                events.append(
                    {
                        "_id": ObjectId(),
                        "contactId": contact["_id"],
                        "type": kind,
                        "occurredAt": edge + timedelta(milliseconds=shift),
                        "formId": "spring",
                        "details": {},
                    }
                )
    lead_docs = []
    for contact in contact_docs:
        lead_docs.append(
            leads.new_document(
                {"_id": ObjectId(), "topic": "t", "parentContactId": contact["_id"]},
                stage="inquiry",
                rules_version=None,
            )
        )
    for account in account_docs:  # account-based: scored on every contact of the account
        lead_docs.append(
            leads.new_document(
                {"_id": ObjectId(), "topic": "acct", "parentAccountId": account["_id"]},
                stage="automated_marketing_qualification",
                rules_version=None,
            )
        )
    await accounts.insert_documents(db, account_docs)
    await contacts.insert_documents(db, contact_docs)
    await interactions.insert_documents(db, events)
    await leads.insert_documents(db, lead_docs)


async def test_counted_facts_score_as_all_interactions_do(db, tmp_path: Path) -> None:
    ruleset = load_rules(rules_dir(tmp_path))
    reads = ruleset_reads(ruleset)
    assert not reads.everything and len(reads.counts) == 9  # every count by the database
    assert len(reads.documents) == 1  # the decaying rule weighs each visit by its age
    now = db_now()
    await populate(db, random.Random(7), now)
    docs = await leads.by_ids_list(db, [d["_id"] async for d in db["leads"].find({}, {"_id": 1})])
    people = {c["_id"]: c for c in await db["contacts"].find({}).to_list()}
    by_account: dict = {}
    for c in people.values():
        by_account.setdefault(c.get("accountId"), []).append(c)
    every: dict = {}
    for item in await db["interactions"].find({}).sort("occurredAt", 1).to_list():
        every.setdefault(item["contactId"], []).append(item)
    unbounded = assemble_facts(
        docs,
        people,
        {a["_id"]: a for a in await db["accounts"].find({}).to_list()},
        by_account,
        every,
    )
    per_batch = await gather(db, docs, ruleset, now)
    whole = await gather(db, docs, ruleset, now, await count_all(db, ruleset, now))
    scored = moved = 0
    for doc in docs:
        read = per_batch[doc["_id"]]["interactions"]
        assert all(i["type"] == "website_visited" for i in read)  # only what decays travelled
        want = evaluate(ruleset, unbounded[doc["_id"]], {"interaction"}, now)
        for facts in (per_batch[doc["_id"]], whole[doc["_id"]]):
            got = evaluate(ruleset, facts, {"interaction"}, now)
            assert got.results == want.results
            assert [t.name for t in got.transitions] == [t.name for t in want.transitions]
        scored += sum(1 for r in want.results if r.score)
        moved += len(want.transitions) > 1
    assert scored > 20 and moved  # the data exercised the rules


async def test_counted_facts_up_to_a_time_score_as_the_interactions_then_do(db, tmp_path) -> None:
    """A replay's facts (``until``): counted up to that time, as if the later ones were not."""
    ruleset = load_rules(rules_dir(tmp_path))
    now = db_now()
    await populate(db, random.Random(8), now)
    then = now - timedelta(days=20)
    docs = await leads.by_ids_list(db, [d["_id"] async for d in db["leads"].find({}, {"_id": 1})])
    people = {c["_id"]: c for c in await db["contacts"].find({}).to_list()}
    by_account: dict = {}
    for c in people.values():
        by_account.setdefault(c.get("accountId"), []).append(c)
    earlier: dict = {}
    for item in await db["interactions"].find({"occurredAt": {"$lte": then}}).to_list():
        earlier.setdefault(item["contactId"], []).append(item)
    accounts_by_id = {a["_id"]: a for a in await db["accounts"].find({}).to_list()}
    unbounded = assemble_facts(docs, people, accounts_by_id, by_account, earlier)
    bounded = await gather(db, docs, ruleset, then, until=then)
    assert any(
        r.score for d in docs for r in evaluate(ruleset, bounded[d["_id"]], (), then).results
    )
    for doc in docs:
        want = evaluate(ruleset, unbounded[doc["_id"]], (), then)
        assert evaluate(ruleset, bounded[doc["_id"]], (), then).results == want.results
