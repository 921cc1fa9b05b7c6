"""The batched rescore (services/rescore.py, what ``leadgraph rescore`` runs) on the embedded
database: leads read in batches without their outboxes, the interactions counted once for the
whole database when a run covers more than a batch (no count of the leads first); a lead whose
scores do not change is not written (no revision, no event, its outbox kept), and one whose
scores change gets its ``lead.scored`` event and history, as scoring it alone would."""

from __future__ import annotations

from datetime import UTC, datetime

from bson import ObjectId
from leadgraph.rules.ruleset import load_rules
from leadgraph.services import Services
from leadgraph.store import leads
from pymongo.asynchronous.database import AsyncDatabase
from shipped import SHIPPED


async def _contact_with_leads(db: AsyncDatabase, n: int) -> tuple[ObjectId, list[ObjectId]]:
    oid = ObjectId()
    await db["contacts"].insert_one(
        {"_id": oid, "lastName": "Moreau", "role": "decisionMaker", "insights": {}}
    )
    docs = [
        leads.new_document({"topic": f"lead {i}", "parentContactId": oid}, stage="inquiry")
        for i in range(n)
    ]
    await db["leads"].insert_many(docs)
    return oid, [d["_id"] for d in docs]


async def _scored_events(db: AsyncDatabase, lead_ids: list[ObjectId]) -> int:
    return await db["events"].count_documents(
        {"type": "lead.scored", "record.id": {"$in": lead_ids}}
    )


async def test_a_batched_rescore_writes_only_changed_leads_with_their_events(
    db: AsyncDatabase,
) -> None:
    funnel = Services(db, load_rules(SHIPPED), None).funnel
    contact, ids = await _contact_with_leads(db, 5)

    first = await funnel.rescore_all({}, batch=2)  # three batches: counted once for all
    assert (first.processed, first.changed, first.unchanged) == (5, 5, 0)
    stored = {d["_id"]: d for d in await db["leads"].find({"_id": {"$in": ids}}).to_list()}
    assert {d["scores"][0]["score"] for d in stored.values()} == {20.0}  # decision maker
    assert await _scored_events(db, ids) == 5
    assert all(d["historyOutbox"] and d["eventsOutbox"] for d in stored.values())

    again = await funnel.rescore_all({}, batch=2)  # nothing changed: nothing written
    assert (again.processed, again.changed, again.unchanged) == (5, 0, 5)
    after = {d["_id"]: d for d in await db["leads"].find({"_id": {"$in": ids}}).to_list()}
    assert after == stored  # same revisions, outboxes kept although batches do not read them
    assert await _scored_events(db, ids) == 5

    clicked = {"contactId": contact, "type": "email_clicked", "occurredAt": datetime.now(UTC)}
    await db["interactions"].insert_one(clicked)
    changed = await funnel.rescore_all({}, batch=2)
    assert (changed.processed, changed.changed) == (5, 5)
    rescored = await db["leads"].find({"_id": {"$in": ids}}).to_list()
    alone = await funnel.rescore(await leads.get(db, ids[0]) or {})
    assert alone.changed == 0  # scoring one lead alone agrees with the batches' counts
    for doc in rescored:
        assert doc["scores"][0]["score"] == 30.0 and doc["rev"] == stored[doc["_id"]]["rev"] + 1
        assert [e["type"] for e in doc["eventsOutbox"]] == ["lead.scored"]
        assert doc["historyOutbox"][0]["changes"]["score"] == {"before": 20.0, "after": 30.0}
    assert await _scored_events(db, ids) == 10
    history = await db["lead_history"].count_documents(
        {"leadId": {"$in": ids}, "model": {"$ne": None}}
    )
    assert history == 10


async def test_a_batch_read_leaves_the_outboxes_out(db: AsyncDatabase) -> None:
    funnel = Services(db, load_rules(SHIPPED), None).funnel
    _, ids = await _contact_with_leads(db, 3)
    await funnel.rescore_all({})
    read = [d async for chunk in leads.batches(db, {"_id": {"$in": ids}}, 2) for d in chunk]
    assert [d["_id"] for d in read] == ids
    assert not any(f in d for d in read for f in leads.OUTBOXES)
    assert all(d["scores"] and d["stageHistory"] for d in read)
