"""The plan a segment of record criteria and contact criteria gets (issue 21 point 3): the shape
a person would write, and the same members as a raw query.

- the parts of an ``all`` on one collection are one read (``stage`` and ``value`` of an
  opportunity together), not a read per part;
- the records come with whom they reach (contact and account) in that one read, then their
  own contacts meeting the contact criteria (``_id $in``) and the contacts of the account-based
  ones' accounts meeting them (``accountId $in`` with the criteria): three reads;
- the counts that order the parts are reused: the same segment asked again sends no count.
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from leadgraph.db import make_client
from leadgraph.rules.models import Segment
from leadgraph.rules.ruleset import load_rules
from leadgraph.store import clock
from leadgraph.store.segment_query import SegmentQuery
from pymongo import monitoring
from pymongo.asynchronous.database import AsyncDatabase
from shipped import SHIPPED

RULES = load_rules(SHIPPED)
DEALS = {
    "all": [
        {"fact": "opportunity.stage", "value": "open"},
        {"fact": "contact.role", "value": "decisionMaker"},
        {"fact": "opportunity.value", "op": "gte", "value": 50000},
    ]
}
TOPIC = {
    "all": [
        {"fact": "contact.role", "value": "decisionMaker"},
        {"fact": "lead.topic", "value": "Contoso"},
    ]
}


class Reads(monitoring.CommandListener):
    """The reads one client sends to one database: (command, collection)."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.sent: list[tuple[str, str]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        target = event.command.get(event.command_name)
        if event.database_name == self.database and event.command_name in ("find", "aggregate"):
            self.sent.append((event.command_name, str(target)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None: ...

    def failed(self, event: monitoring.CommandFailedEvent) -> None: ...


async def _data(db: AsyncDatabase) -> None:
    """Two accounts of a decision maker and a user each, contacts without an account, and
    opportunities and leads of both kinds: own (a contact) and account-based (no contact)."""
    accounts = [ObjectId(), ObjectId()]
    contacts = [
        {"_id": ObjectId(), "role": role, "accountId": account}
        for account in [*accounts, None, None]
        for role in ("decisionMaker", "user")
    ]
    # more decision makers than open opportunities: the plan starts from the opportunities
    others = [{"_id": ObjectId(), "role": "decisionMaker", "accountId": None} for _ in range(12)]
    await db.contacts.insert_many([*contacts, *others])
    opportunities, leads = [], []
    for i, (stage, value) in enumerate(
        [(s, v) for s in ("open", "won") for v in (10_000.0, 50_000.0, 90_000.0)] * 3
    ):
        own = contacts[i % len(contacts)]["_id"] if i % 4 else None
        account = accounts[i % 2] if own is None else contacts[i % len(contacts)]["accountId"]
        opportunities.append(
            {
                "leadId": ObjectId(),
                "stage": stage,
                "value": value,
                "contactId": own,
                "accountId": account,
            }
        )
        leads.append(
            {
                "topic": "Contoso" if i % 3 else "Other",
                "parentContactId": own,
                "parentAccountId": account if own is None else None,
            }
        )
    await db.opportunities.insert_many(opportunities)
    await db.leads.insert_many(leads)


async def _raw(db: AsyncDatabase, collection: str, query: dict[str, Any]) -> list[ObjectId]:
    """The decision makers a raw query reaches from the matching records: their own contact, or
    for one without, each contact of its account."""
    contact, account = (
        ("contactId", "accountId")
        if collection == "opportunities"
        else ("parentContactId", "parentAccountId")
    )
    found = await db[collection].find(query).to_list()
    own = [d[contact] for d in found if d[contact] is not None]
    based = [d[account] for d in found if d[contact] is None and d[account] is not None]
    reach = {"$or": [{"_id": {"$in": own}}, {"accountId": {"$in": based}}]}
    hit = await db.contacts.find({"$and": [reach, {"role": "decisionMaker"}]}).to_list()
    return sorted(d["_id"] for d in hit)


async def _members(uri: str, db: AsyncDatabase, where: dict[str, Any]) -> tuple[Any, Any]:
    """The members of ``where`` (asked twice) and the reads each asking sent."""
    reads = Reads(db.name)
    client = make_client(uri, event_listeners=[reads])
    try:
        query = SegmentQuery(
            RULES, Segment.model_validate({"name": "s", "where": where}), clock.now()
        )
        first = await query.contact_ids(client[db.name])
        sent_first = list(reads.sent)
        reads.sent.clear()
        again = await query.contact_ids(client[db.name])
        assert again == first
        return first, (sent_first, list(reads.sent))
    finally:
        await client.close()


async def test_record_and_contact_criteria_are_one_read_each_and_the_raw_query(
    mongo_uri: str, db: AsyncDatabase
) -> None:
    await _data(db)
    big_open = {"stage": "open", "value": {"$gte": 50000}}
    want = await _raw(db, "opportunities", big_open)
    assert len(want) >= 3  # own and through an account
    found, (first, again) = await _members(mongo_uri, db, DEALS)
    assert found == want
    reads = [
        ("find", "opportunities"),  # stage and value, with contactId and accountId
        ("find", "contacts"),  # the accounts' decision makers
        ("find", "contacts"),  # the own contacts that are decision makers
    ]
    # first the two counts that order the parts (opportunities by stage, contacts by role)
    assert sorted(first[:2]) == [("aggregate", "contacts"), ("aggregate", "opportunities")]
    assert first[2:] == reads
    assert again == reads  # the counts are reused

    want = await _raw(db, "leads", {"topic": "Contoso"})
    assert want
    found, (first, again) = await _members(mongo_uri, db, TOPIC)
    assert found == want
    assert again == [("find", "leads"), ("find", "contacts"), ("find", "contacts")]
