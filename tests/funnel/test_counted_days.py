"""The counted days of a contact (``interaction_days``, what live scoring reads instead of the
interactions) always equal a full count of its interactions: after interactions recorded
over HTTP at the edges of the rules' windows, a merge, its undo and an erasure; a contact
whose days were never counted is counted from its interactions (never from stale days)
until ``count_uncounted_days`` counts them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from foundation import oid_of
from leadgraph.rules.models import EventSpec
from leadgraph.rules.reads import ruleset_reads
from leadgraph.rules.ruleset import load_rules
from leadgraph.services.facts import count_days, count_events, count_live, count_uncounted_days
from leadgraph.store import interaction_days, interactions
from shipped import SHIPPED

CREATE = """mutation($i: CreateContactInput!) { createContact(input: $i) {
    ... on ContactPayload { contact { id } } } }"""
RECORD = """mutation($i: RecordInteractionInput!) { recordInteraction(input: $i) { __typename } }"""
MERGE = """mutation($s: ID!, $d: [ID!]!) { mergeContacts(survivorId: $s, duplicateIds: $d) {
    __typename ... on MergePayload { merge { id } } } }"""
UNDO = """mutation($m: String!) { undoMerge(mergeId: $m) { __typename } }"""
ERASE = """mutation($id: ID!) { eraseContact(id: $id) { __typename } }"""
TYPES = ["EMAIL_OPENED", "EMAIL_CLICKED", "FORM_SUBMITTED", "EVENT_ATTENDED", "WEBSITE_VISITED"]
#: Ages at the edges of the shipped windows (30d, 90d, 180d) and of 1w / 12h, and beyond them.
AGES = [
    timedelta(minutes=5),
    timedelta(hours=11, minutes=59),
    timedelta(hours=12, minutes=1),
    timedelta(days=6, hours=23),
    timedelta(days=29, hours=23, minutes=59),
    timedelta(days=30, minutes=1),
    timedelta(days=89, hours=12),
    timedelta(days=90, hours=1),
    timedelta(days=179, hours=23, minutes=59),
    timedelta(days=181),
    timedelta(days=400),
    -timedelta(days=2),  # dated ahead
]


def specs() -> list[EventSpec]:
    """The shipped rules' counted specs, and more windows (none, 12h, 1w) over more types."""
    shipped = [s for s in ruleset_reads(load_rules(SHIPPED)).counts if s.where is None]
    more = [
        EventSpec(type=["email_opened", "email_clicked"]),
        EventSpec(type=["website_visited"], within="12h"),
        EventSpec(type=["website_visited", "form_submitted"], within="1w"),
    ]
    return shipped + more


async def _contact(api: Any, email: str) -> str:
    out = await api.gql(CREATE, {"i": {"email": email}})
    return str(out["createContact"]["contact"]["id"])


async def _record(api: Any, contact: str, now: datetime, salt: int) -> None:
    for i, age in enumerate(AGES):
        at = (now - age).isoformat()
        kind = TYPES[(i + salt) % len(TYPES)]
        out = await api.gql(RECORD, {"i": {"contact": contact, "type": kind, "occurredAt": at}})
        assert out["recordInteraction"]["__typename"] == "InteractionPayload", out


async def _same_as_a_full_count(db: Any, contact_ids: list[ObjectId], now: datetime) -> None:
    ruleset = load_rules(SHIPPED)
    wanted = specs()
    days = await count_days(db, wanted, now, contact_ids)
    full = await count_events(db, ruleset, wanted, now, contact_ids)
    for contact in contact_ids:
        expected = {k: (full.get(contact) or {}).get(k, 0) for k in days[contact]}
        assert days[contact] == expected, contact
    assert any(n for c in contact_ids for n in days[c].values())  # not all zero by accident


async def _stored_days(db: Any, contact_id: ObjectId) -> list[dict[str, Any]]:
    cursor = db[interaction_days.NAME].find({"contactId": contact_id}, {"_id": 0})
    return sorted([d async for d in cursor], key=lambda d: str(d["day"]))


async def test_counted_days_equal_a_full_count_after_a_merge_its_undo_and_an_erasure(api):
    now = datetime.now(UTC).replace(microsecond=0)
    ana, bo, cy = [await _contact(api, f"{n}@example.com") for n in ("ana", "bo", "cy")]
    for salt, who in enumerate((ana, bo, cy)):
        await _record(api, who, now, salt)
    ids = [oid_of(ana), oid_of(bo), oid_of(cy)]
    await _same_as_a_full_count(api.db, ids, now)

    merged = (await api.gql(MERGE, {"s": ana, "d": [bo]}))["mergeContacts"]
    assert merged["__typename"] == "MergePayload", merged
    await _record(api, ana, now, 3)
    assert await _stored_days(api.db, ids[1]) == []  # bo's days went with its interactions
    await _same_as_a_full_count(api.db, ids[:1], now)
    counted = await _stored_days(api.db, ids[0])
    await interaction_days.rebuild(api.db, ids[:1])  # what a count from scratch stores
    assert await _stored_days(api.db, ids[0]) == counted

    undone = await api.gql(UNDO, {"m": merged["merge"]["id"]})
    assert undone["undoMerge"]["__typename"] == "UndoMergePayload", undone
    await _same_as_a_full_count(api.db, ids[:2], now)

    erased = await api.gql(ERASE, {"id": cy})
    assert erased["eraseContact"]["__typename"] == "ErasePayload", erased
    assert await _stored_days(api.db, ids[2]) == []
    assert await api.db.interactions.count_documents({"contactId": ids[2]}) == 0


async def test_a_contact_whose_days_were_never_counted_is_counted_from_its_interactions(api):
    now = datetime.now(UTC).replace(microsecond=0)
    ana = await _contact(api, "ana@example.com")
    await _record(api, ana, now, 0)
    oid = oid_of(ana)
    # as stored before days were counted: interactions without days, no mark on the contact
    await api.db[interaction_days.NAME].delete_many({"contactId": oid})
    await api.db.contacts.update_one({"_id": oid}, {"$unset": {interaction_days.MARKER: ""}})
    more = [{"contactId": oid, "type": "email_opened", "occurredAt": now - timedelta(days=1)}]
    await api.db.interactions.insert_many([interactions.new_document(f) for f in more])
    ruleset = load_rules(SHIPPED)
    wanted = specs()
    person = await api.db.contacts.find_one({"_id": oid})
    live = await count_live(api.db, ruleset, wanted, now, {oid: person})
    full = await count_events(api.db, ruleset, wanted, now, [oid])
    assert live == full and any(full[oid].values())

    assert await count_uncounted_days(api.db) >= 1
    person = await api.db.contacts.find_one({"_id": oid})
    assert person[interaction_days.MARKER] is True
    await _same_as_a_full_count(api.db, [oid], now)
    assert await count_live(api.db, ruleset, wanted, now, {oid: person}) == full
