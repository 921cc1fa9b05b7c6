"""Services called directly on the embedded database (no HTTP), with the test's clock: records
and their events take the clock's time; an engagement scores the contact's lead through the
funnel, the same idempotency key answers the first interaction, and a 30-day window closes
when the clock moves past it; a subscription-centre token expires by the same clock (no
sleeping)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId
from leadgraph import signing
from leadgraph.plugin_manager import get_plugin_manager
from leadgraph.rules.ruleset import load_rules
from leadgraph.services import Services
from leadgraph.services.consent import Actor
from leadgraph.store import leads
from leadgraph.store.clock import ManualClock, now, set_clock
from pymongo.asynchronous.database import AsyncDatabase
from rules.helpers import SHIPPED

RULES = load_rules(SHIPPED)
ACTOR = Actor(via="api", by="fast test", source="api")
OPENED = "email opened (5 each, last 30 days)"


@pytest.fixture
def services(db: AsyncDatabase) -> Services:
    return Services(db, RULES, get_plugin_manager())


async def contact_and_lead(services: Services) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    contact = await services.records.create_contact(
        {"lastName": "Lee", "email": "lee@example.com", "role": "decisionMaker"}, ACTOR
    )
    lead = await services.records.create_lead(
        {"topic": "Spring webinar", "parentContactId": contact.doc["_id"]}, by="fast test"
    )
    return contact.doc, lead.doc


def engagement(lead: Mapping[str, Any]) -> tuple[float, set[str]]:
    """The lead's engagement score and the rules that gave it points."""
    [score] = [s for s in lead["scores"] if s["model"] == "engagement"]
    return score["score"], {e["rule"] for e in score["explanation"]}


async def test_records_and_their_events_take_the_clock_time(
    services: Services, db: AsyncDatabase, clock: ManualClock
) -> None:
    start = now()
    contact, lead = await contact_and_lead(services)
    assert contact["createdAt"] == start and lead["createdAt"] == start
    events = await db.events.find({}).to_list()
    assert {"contact.created", "lead.created"} <= {e["type"] for e in events}
    assert {e["at"] for e in events} == {start}
    later = clock.advance(timedelta(hours=5))
    assert later == start + timedelta(hours=5) == now()
    with pytest.raises(ValueError, match="does not go back"):
        clock.advance(timedelta(seconds=-1))


async def test_an_open_counts_for_30_days_of_the_clock(
    services: Services, db: AsyncDatabase, clock: ManualClock
) -> None:
    contact, lead = await contact_and_lead(services)
    base, rules = engagement(lead)
    assert "decision maker" in rules and OPENED not in rules
    fields = {"contactId": contact["_id"], "type": "email_opened"}
    first = await services.interactions.record(fields, key="open-1", owner="fast")
    assert first.created and first.interaction["occurredAt"] == now()
    [scored] = first.leads
    assert engagement(scored) == (base + 5, {*rules, OPENED})
    # the same key: the first interaction, not a second one
    again = await services.interactions.record(fields, key="open-1", owner="fast")
    assert not again.created and again.interaction["_id"] == first.interaction["_id"]
    assert await db.interactions.count_documents({"contactId": contact["_id"]}) == 1

    clock.advance(timedelta(days=30) - timedelta(seconds=1))
    stored = await leads.get(db, lead["_id"])
    assert stored is not None
    report = await services.funnel.rescore(stored)
    assert engagement(report.lead(lead["_id"]) or stored)[0] == base + 5  # within 30 days
    clock.advance(timedelta(seconds=2))
    report = await services.funnel.rescore(stored)
    rescored = report.lead(lead["_id"])
    assert rescored is not None and engagement(rescored) == (base, rules)


def test_a_centre_token_expires_when_the_clock_passes_its_time(clock: ManualClock) -> None:
    contact = ObjectId()
    token, expires = signing.issue_token(contact, timedelta(hours=1))
    assert expires == (clock.time + timedelta(hours=1)).replace(microsecond=0)  # to the second
    clock.advance(timedelta(minutes=59))
    assert signing.read_token(token).contact_id == contact
    clock.advance(timedelta(minutes=1))
    with pytest.raises(signing.TokenRefused, match="expired"):
        signing.read_token(token)


def test_set_clock_returns_the_source_it_replaces() -> None:
    manual = ManualClock(datetime(2000, 1, 1, 12, 0, 0, 123456, tzinfo=UTC))
    previous = set_clock(manual)
    try:
        assert now() == datetime(2000, 1, 1, 12, 0, 0, 123000, tzinfo=UTC)  # milliseconds
    finally:
        assert set_clock(previous) is manual
    assert now().year > 2000  # the machine's time again
