"""Nested fields: Contact { account leads interactions preferences consent }, Account { contacts
leads }, Lead { parentContact parentAccount marketingContext topic }, Interaction { contact }."""

from __future__ import annotations

import pytest
from foundation import gid, oid_of
from leadgraph.services.seed import seed_demo
from leadgraph.store import batches

CONTACT = """query($id: ID!, $lf: LeadFilter, $lo: LeadOrder, $if: InteractionFilter) {
  contact(id: $id) {
    id marketingOnly
    account { id name }
    preferences { allowBulkEmail allowEmail allowPrefill trackEmail }
    consent { level isChild guardian }
    leads(filter: $lf, orderBy: $lo) {
      totalCount edges { node { id topic stage parentContact { id } } } }
    last5: interactions(last: 5) {
      totalCount pageInfo { hasPreviousPage hasNextPage }
      edges { node { id type occurredAt contact { id } } } }
    filtered: interactions(first: 100, filter: $if) { totalCount edges { node { type } } }
  }
}"""


@pytest.fixture(params=["lookup", "in-find"])
async def demo(api, request, monkeypatch):
    """Both ways the children loader can fetch ($documents/$lookup, or the $in fallback)."""
    if request.param == "in-find":
        monkeypatch.setattr(batches.ServerFeatures, "documents_stage", False)
    await seed_demo(api.db, n_contacts=30, interactions_per_contact=10)
    return api


async def test_contact_nested_fields(demo):
    db = demo.db
    # the contact with the most leads, so ordering and filtering have something to do
    (top,) = await (
        await db.leads.aggregate(
            [
                {"$match": {"parentContactId": {"$ne": None}}},
                {"$group": {"_id": "$parentContactId", "n": {"$sum": 1}}},
                {"$sort": {"n": -1, "_id": 1}},
                {"$limit": 1},
            ]
        )
    ).to_list()
    contact = await db.contacts.find_one({"_id": top["_id"]})
    cid = gid("Contact", contact["_id"])
    data = (
        await demo.gql(
            CONTACT,
            {
                "id": cid,
                "lo": {"field": "CREATED_AT", "direction": "DESC"},
                "if": {"types": ["EMAIL_SENT", "EMAIL_OPENED"]},
            },
        )
    )["contact"]
    assert data["marketingOnly"] is False
    assert data["preferences"] == {
        "allowBulkEmail": contact["preferences"]["allowBulkEmail"],
        "allowEmail": contact["preferences"]["allowEmail"],
        "allowPrefill": contact["preferences"]["allowPrefill"],
        "trackEmail": contact["preferences"]["trackEmail"],
    }
    assert data["consent"] == {
        "level": contact["consent"]["level"].upper(),
        "isChild": contact["consent"]["isChild"],
        "guardian": contact["consent"]["guardian"],
    }
    if contact["accountId"]:
        account = await db.accounts.find_one({"_id": contact["accountId"]})
        assert data["account"] == {"id": gid("Account", account["_id"]), "name": account["name"]}
    else:
        assert data["account"] is None

    leads = (
        await db.leads.find({"parentContactId": contact["_id"]})
        .sort([("createdAt", -1), ("_id", -1)])
        .to_list()
    )
    assert len(leads) >= 2
    assert data["leads"]["totalCount"] == len(leads)
    assert [oid_of(e["node"]["id"]) for e in data["leads"]["edges"]] == [d["_id"] for d in leads]
    assert all(e["node"]["parentContact"]["id"] == cid for e in data["leads"]["edges"])

    its = (
        await db.interactions.find({"contactId": contact["_id"]})
        .sort([("occurredAt", 1), ("_id", 1)])
        .to_list()
    )
    last5 = data["last5"]
    assert last5["totalCount"] == len(its) > 5
    assert last5["pageInfo"] == {"hasPreviousPage": True, "hasNextPage": False}
    assert [oid_of(e["node"]["id"]) for e in last5["edges"]] == [d["_id"] for d in its[-5:]]
    assert all(e["node"]["contact"]["id"] == cid for e in last5["edges"])
    emails = [d for d in its if d["type"] in ("email_sent", "email_opened")]
    assert [e["node"]["type"] for e in data["filtered"]["edges"]] == [
        d["type"].upper() for d in emails
    ]

    # a nested filter narrows that contact's leads only
    topic = leads[0]["topic"]
    data = (await demo.gql(CONTACT, {"id": cid, "lf": {"topic": topic}}))["contact"]
    assert {e["node"]["topic"] for e in data["leads"]["edges"]} == {topic}
    assert data["leads"]["totalCount"] == sum(1 for d in leads if d["topic"] == topic)


async def test_nested_pages_with_cursors(demo):
    db = demo.db
    contact = await db.contacts.find_one({}, sort=[("insights.total", -1)])
    cid = gid("Contact", contact["_id"])
    q = """query($id: ID!, $a: String, $b: String) { contact(id: $id) {
        fwd: interactions(first: 3, after: $a) {
          pageInfo { hasNextPage hasPreviousPage endCursor } edges { node { id } } }
        back: interactions(last: 3, before: $b) {
          pageInfo { hasNextPage hasPreviousPage startCursor } edges { node { id } } } } }"""
    its = (
        await db.interactions.find({"contactId": contact["_id"]})
        .sort([("occurredAt", 1), ("_id", 1)])
        .to_list()
    )
    seen, after = [], None
    while True:
        fwd = (await demo.gql(q, {"id": cid, "a": after}))["contact"]["fwd"]
        seen += [oid_of(e["node"]["id"]) for e in fwd["edges"]]
        if not fwd["pageInfo"]["hasNextPage"]:
            break
        after = fwd["pageInfo"]["endCursor"]
    assert seen == [d["_id"] for d in its]
    seen, before = [], None
    while True:
        back = (await demo.gql(q, {"id": cid, "b": before}))["contact"]["back"]
        seen[:0] = [oid_of(e["node"]["id"]) for e in back["edges"]]
        if not back["pageInfo"]["hasPreviousPage"]:
            break
        before = back["pageInfo"]["startCursor"]
    assert seen == [d["_id"] for d in its]


async def test_account_contacts_and_leads(demo):
    db = demo.db
    account = await db.accounts.find_one({})
    # an account-based lead, so Account.leads has something to show
    lead = await db.leads.find_one({"parentContactId": {"$ne": None}})
    await db.leads.update_one({"_id": lead["_id"]}, {"$set": {"parentAccountId": account["_id"]}})
    q = """query($id: ID!) { account(id: $id) {
        name
        contacts(orderBy: {field: NAME, direction: DESC}) {
          totalCount edges { node { id account { id } } } }
        leads(first: 100) { totalCount
          edges { node { id parentAccount { id name } parentContact { account { id } } } } } } }"""
    aid = gid("Account", account["_id"])
    data = (await demo.gql(q, {"id": aid}))["account"]
    contacts = (
        await db.contacts.find({"accountId": account["_id"]})
        .sort([("sortName", -1), ("_id", -1)])
        .to_list()
    )
    assert data["contacts"]["totalCount"] == len(contacts) > 0
    assert [oid_of(e["node"]["id"]) for e in data["contacts"]["edges"]] == [
        c["_id"] for c in contacts
    ]
    assert all(e["node"]["account"]["id"] == aid for e in data["contacts"]["edges"])
    # the account's leads: its account-based ones and its contacts' (as its roll-up counts)
    members = [c["_id"] for c in contacts]
    expected = await db.leads.count_documents(
        {"$or": [{"parentAccountId": account["_id"]}, {"parentContactId": {"$in": members}}]}
    )
    assert data["leads"]["totalCount"] == expected >= 2
    assert lead["_id"] in [oid_of(e["node"]["id"]) for e in data["leads"]["edges"]]
    assert all(
        e["node"]["parentAccount"] == {"id": aid, "name": account["name"]}
        or (e["node"]["parentContact"] or {}).get("account") == {"id": aid}
        for e in data["leads"]["edges"]
    )


async def test_lead_and_interaction_nested_fields(demo):
    db = demo.db
    linked = await db.leads.find_one({"parentContactId": {"$ne": None}})
    orphan = await db.leads.find_one({"parentContactId": None, "parentAccountId": None})
    q = """query($ids: [ID!]!) { nodes(ids: $ids) { ... on Lead {
        topic orphan marketingContext { kind name }
        parentContact { id email } parentAccount { id } } } }"""
    data = await demo.gql(q, {"ids": [gid("Lead", linked["_id"]), gid("Lead", orphan["_id"])]})
    first, second = data["nodes"]
    parent = await db.contacts.find_one({"_id": linked["parentContactId"]})
    assert first["topic"] == linked["topic"] and first["orphan"] is False
    assert first["marketingContext"] == {
        "kind": linked["marketingContext"]["kind"].upper(),
        "name": linked["marketingContext"]["name"],
    }
    assert first["parentContact"] == {"id": gid("Contact", parent["_id"]), "email": parent["email"]}
    assert second["orphan"] is True
    assert second["parentContact"] is None and second["parentAccount"] is None

    q = """{ leads(first: 100, filter: {orphan: false}) { edges { node {
        parentContact { id
          interactions(last: 1) { edges { node { type occurredAt contact { id } } } } }
    } } } }"""
    for edge in (await demo.gql(q))["leads"]["edges"]:
        pc = edge["node"]["parentContact"]
        if pc is None:
            continue
        for it in pc["interactions"]["edges"]:
            assert it["node"]["contact"]["id"] == pc["id"]
            assert it["node"]["type"] and it["node"]["occurredAt"]


LIMITED = """query($ids: [ID!]!) { nodes(ids: $ids) { ... on Contact {
  latest: interactions(last: 3) {
    totalCount pageInfo { hasPreviousPage hasNextPage } edges { node { occurredAt } } }
  oldest: interactions(first: 2) {
    totalCount pageInfo { hasPreviousPage hasNextPage } edges { node { occurredAt } } }
  all: interactions(first: 100) {
    totalCount pageInfo { hasNextPage } edges { node { occurredAt } } }
} } }"""


async def test_first_and_last_read_only_that_many_per_contact_and_agree_with_the_full_list(demo):
    contacts = await demo.db.contacts.find({}, {"_id": 1}).limit(4).to_list()
    ids = [gid("Contact", c["_id"]) for c in contacts]
    for node, contact in zip(
        (await demo.gql(LIMITED, {"ids": ids}))["nodes"], contacts, strict=True
    ):
        full = [e["node"]["occurredAt"] for e in node["all"]["edges"]]
        stored = await demo.db.interactions.count_documents({"contactId": contact["_id"]})
        assert len(full) == stored == node["all"]["totalCount"] > 3
        assert full == sorted(full)
        assert [e["node"]["occurredAt"] for e in node["latest"]["edges"]] == full[-3:]
        assert node["latest"]["pageInfo"] == {"hasPreviousPage": True, "hasNextPage": False}
        assert [e["node"]["occurredAt"] for e in node["oldest"]["edges"]] == full[:2]
        assert node["oldest"]["pageInfo"] == {"hasPreviousPage": False, "hasNextPage": True}
        assert node["latest"]["totalCount"] == node["oldest"]["totalCount"] == stored
        assert node["all"]["pageInfo"]["hasNextPage"] is False
