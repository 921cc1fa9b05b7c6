"""The demo seed writes in bulk (a few insert_many batches, no per-document round trips) and
scores its leads through the funnel's evaluation and persist point, explanations, score history
and events included."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
from bson import ObjectId
from leadgraph.db import ensure_indexes, make_client
from leadgraph.rules.manager import RulesManager
from leadgraph.services import Services, seed
from leadgraph.services.seed import interactions_per_contact_for, seed_demo
from leadgraph.store import interaction_days, interactions
from pymongo import monitoring
from pymongo.errors import BulkWriteError
from shipped import SHIPPED


class Commands(monitoring.CommandListener):
    def __init__(self) -> None:
        self.names: Counter[tuple[str, str]] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        collection = event.command.get(event.command_name)
        self.names[(event.command_name, str(collection))] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def test_seed_is_bulk_and_scored(mongo_uri, monkeypatch):
    # Batches of 100 instead of 1,000: several batches per collection (4 of leads, 12 of
    # interactions) from a third of the contacts, so a command per document would still show;
    # 8 interactions a contact so that some leads are sales-ready.
    monkeypatch.setattr(seed, "BATCH", 100)
    batch = seed.BATCH
    commands = Commands()
    client = make_client(mongo_uri, event_listeners=[commands])
    db = client[f"seed_{uuid.uuid4().hex[:10]}"]
    try:
        await ensure_indexes(db)
        rules = RulesManager(SHIPPED)
        assert rules.reload() and rules.current is not None
        funnel = Services(db, rules.current, rules.pm).funnel
        progress: Counter[str] = Counter()
        commands.names.clear()

        counts = await seed_demo(
            db,
            n_contacts=150,
            interactions_per_contact=8,
            funnel=funnel,
            progress=lambda stage, n: progress.update({stage: n}),
        )

        assert counts["contacts"] == 150 and counts["leads"] == int(150 * 2.5)
        assert counts["leads"] > 2 * batch and counts["interactions"] > 2 * batch
        # one insert per batch of documents per seeded collection ...
        inserts = {k: v for k, v in commands.names.items() if k[0] == "insert"}
        assert {k: v for k, v in inserts.items() if k[1] in counts} == {
            ("insert", c): -(-n // batch) for c, n in counts.items()
        }
        # ... the funnel's persist point a few commands per batch of leads (their rev-guarded
        # update, their score history and events, the webhooks that may want them) ...
        batches = -(-counts["leads"] // batch)
        for collection in ("lead_history", "events"):
            assert 1 <= inserts[("insert", collection)] <= batches
        assert commands.names[("update", "leads")] == batches
        # ... the interactions' counted days one bulk write per batch of interactions ...
        assert commands.names[("update", "interaction_days")] == inserts[("insert", "interactions")]
        # ... and no command per document: besides them only the accounts' roll-up pass,
        # which works a chunk of accounts at a time
        persisting = {"lead_history", "events", "leads", "rule_versions", "webhooks"}
        persisting.add("interaction_days")
        others = sum(
            n for k, n in commands.names.items() if k[0] != "insert" and k[1] not in persisting
        )
        assert others <= 10 < counts["accounts"], commands.names
        # every scored lead has its score history and its lead.scored event
        scored_ids = {
            d["_id"] for d in await db.leads.find({"scores.0": {"$exists": True}}).to_list()
        }
        assert set(await db.lead_history.distinct("leadId")) >= scored_ids
        assert set(await db.events.distinct("record.id", {"type": "lead.scored"})) == scored_ids
        assert progress["scoring"] == counts["leads"] == progress["leads"]
        assert progress["interactions"] == counts["interactions"]

        scored = await db.leads.find({"scores.0": {"$exists": True}}).to_list()
        assert scored, "the shipped rules score the demo leads"
        entries = [entry for lead in scored for entry in lead["scores"]]
        for entry in entries:  # every score is explained: its rules' points add up to it
            points = sum(e["points"] for e in entry["explanation"])
            assert abs(points - entry["score"]) < 1e-6, entry
        assert any(entry["score"] > 0 and entry["explanation"] for entry in entries)
        assert await db.leads.count_documents({"salesReady": True}) > 0
    finally:
        await client.drop_database(db.name)
        await client.close()


def test_large_demos_get_about_a_million_interactions():
    assert interactions_per_contact_for(1000) == 25  # the demo ./scripts/demo serves
    assert interactions_per_contact_for(40_000) == 25
    assert interactions_per_contact_for(100_000) * 100_000 == 1_000_000
    assert interactions_per_contact_for(10_000_000) == 1


async def test_a_retried_batch_is_not_a_duplicate_but_a_clash_is(db):
    """The driver retries a bulk insert after a transient error; documents of the batch that
    were already stored come back as duplicate ``_id``s, and are the batch's own."""
    batch = [
        interactions.new_document({"contactId": ObjectId(), "type": "email_sent"}) for _ in range(5)
    ]
    for doc in batch:
        doc["_id"] = ObjectId()
    await interactions.insert_documents(db, batch[:3])  # the first attempt stored three
    await interactions.insert_documents(db, batch)  # the retry: no error, all five stored
    assert await db.interactions.count_documents({}) == 5
    days = await db.interaction_days.find({"day": interaction_days.ALL}).to_list()
    assert sorted(d["n"]["email_sent"] for d in days) == [1] * 5  # each counted once

    clash = {**batch[0], "type": "email_opened"}  # same _id, another document
    with pytest.raises(BulkWriteError):
        await interactions.insert_documents(db, [clash])
    assert (await db.interactions.find_one({"_id": batch[0]["_id"]}))["type"] == "email_sent"
