"""Orphan leads are linked by default (issue 20 point 4, seed 001's recommended setup): a lead
created with neither a parent contact nor a parent account gets a contact at once, through the
matching service (the lead's email finds an existing contact first, else a ``marketingOnly``
contact is created), and is scored like any linked lead.  The matching file's
``link_orphan_leads: false`` keeps new orphan leads for ``linkOrphanLeads``."""

from __future__ import annotations

from foundation import create_contact, create_lead

SELECT = "id stage parentContact { id email marketingOnly } parentAccount { id } scores { model }"
ACCOUNT = """mutation($i: CreateAccountInput!) { createAccount(input: $i) {
  ... on AccountPayload { account { id } } } }"""


async def test_a_new_orphan_lead_finds_its_contact_or_gets_a_marketing_only_one(api):
    known = await create_contact(api, email="known@x.com", lastName="Known")
    found = await create_lead(api, SELECT, topic="Demo", email="KNOWN@x.com")
    assert found["parentContact"] == {"id": known, "email": "known@x.com", "marketingOnly": False}
    assert [s["model"] for s in found["scores"]] == ["engagement"]

    made = await create_lead(api, SELECT, topic="Walk-in", email="walkin@x.com", lastName="Walk")
    parent = made["parentContact"]
    assert parent is not None and parent["marketingOnly"] is True
    assert parent["email"] == "walkin@x.com"
    assert made["stage"] == "automated_marketing_qualification"
    again = await create_lead(api, SELECT, topic="Pricing", email="walkin@x.com")
    assert again["parentContact"]["id"] == parent["id"]  # one person, two interests
    assert await api.db.contacts.count_documents({}) == 2
    kinds = [e["type"] async for e in api.db.events.find({}, {"type": 1})]
    assert kinds.count("contact.created") == 2  # known, and the walk-in's marketing-only one

    # account-based leads are not orphans: they keep no contact of their own
    account = (await api.gql(ACCOUNT, {"i": {"name": "Contoso"}}))["createAccount"]["account"]
    based = await create_lead(api, SELECT, topic="RFP", parentAccount=account["id"])
    assert based["parentContact"] is None and based["parentAccount"] == {"id": account["id"]}


async def test_link_orphan_leads_false_keeps_new_orphans_for_link_orphan_leads(api, orphans_stay):
    lead = await create_lead(api, SELECT, topic="Walk-in", email="later@x.com")
    assert lead["parentContact"] is None and lead["scores"] == []
    assert await api.db.contacts.count_documents({}) == 0
