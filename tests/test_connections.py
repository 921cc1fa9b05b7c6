"""Root Relay connections: first/after, last/before, pageInfo, totalCount, filters, ordering."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from foundation import gid, oid_of, walk
from leadgraph import normalize
from leadgraph.services.seed import seed_demo


@pytest.fixture
async def demo(api):
    await seed_demo(api.db, n_contacts=40, interactions_per_contact=2)
    return api


def _ids(docs):
    return [str(d["_id"]) for d in docs]


@pytest.mark.parametrize(
    ("root", "collection", "order"),
    [
        ("contacts", "contacts", ""),
        ("accounts", "accounts", ""),
        ("leads", "leads", ""),
        ("contacts", "contacts", "orderBy: {field: NAME, direction: DESC}"),
        ("accounts", "accounts", "orderBy: {field: NAME}"),
        ("leads", "leads", "orderBy: {field: CREATED_AT, direction: DESC}"),
    ],
)
async def test_walking_pages_both_ways_returns_every_record_once_in_order(
    demo, root, collection, order
):
    forward = await walk(demo, root, order, page=7)
    backward = await walk(demo, root, order, page=6, backward=True)
    ids = [str(oid_of(n["id"])) for n in forward]
    assert ids == [str(oid_of(n["id"])) for n in backward]
    assert len(ids) == len(set(ids)) == await demo.db[collection].count_documents({})
    field = {"contacts": "sortName", "accounts": "nameNormalized"}.get(collection, "createdAt")
    if "NAME" not in order and "CREATED_AT" not in order:
        field = "createdAt"
    descending = "DESC" in order
    expected = (
        await demo.db[collection]
        .find({}, {"_id": 1})
        .sort([(field, -1 if descending else 1), ("_id", -1 if descending else 1)])
        .to_list()
    )
    assert ids == _ids(expected)


async def test_page_info_and_total_count(demo):
    q = """query($a: String) { contacts(first: 10, after: $a) {
        totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        edges { cursor node { id } } } }"""
    first = (await demo.gql(q))["contacts"]
    assert first["totalCount"] == 40 and len(first["edges"]) == 10
    assert first["pageInfo"]["hasNextPage"] and not first["pageInfo"]["hasPreviousPage"]
    second = (await demo.gql(q, {"a": first["pageInfo"]["endCursor"]}))["contacts"]
    assert second["pageInfo"]["hasPreviousPage"]
    assert second["totalCount"] == 40
    assert not {e["node"]["id"] for e in first["edges"]} & {
        e["node"]["id"] for e in second["edges"]
    }
    # default page size and explicit empty pages
    default = (await demo.gql("{ leads { totalCount edges { node { id } } } }"))["leads"]
    assert len(default["edges"]) == 20 and default["totalCount"] == 100
    empty = await demo.gql("{ accounts(first: 0) { totalCount edges { node { id } } } }")
    assert empty["accounts"] == {"totalCount": 8, "edges": []}


async def test_page_size_limits_and_bad_cursors_are_typed_errors(demo):
    for args, field in (
        ("first: 101", "first"),
        ("last: -1", "last"),
        ('first: 2, after: "not-a-cursor"', "after"),
        ('last: 2, before: "bm9wZQ"', "before"),
    ):
        response = await demo.post(f"{{ contacts({args}) {{ totalCount }} }}")
        assert response.status_code == 200
        body = response.json()
        assert body.get("data") is None  # absent when refused before execution (page size)
        (error,) = body["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT", error
        assert error["extensions"]["fields"][0]["field"] == field
    # a cursor made for another ordering is refused, not misused
    page = await demo.gql("{ contacts(first: 1) { pageInfo { endCursor } } }")
    cursor = page["contacts"]["pageInfo"]["endCursor"]
    response = await demo.post(
        "query($c: String) {"
        " contacts(first: 1, after: $c, orderBy: {field: NAME}) { totalCount } }",
        {"c": cursor},
    )
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def _contact_ids(api, filter_, variables=None):
    q = f"""{{ contacts(first: 100, filter: {filter_}) {{
        totalCount edges {{ node {{ id }} }} }} }}"""
    conn = (await api.gql(q, variables))["contacts"]
    assert conn["totalCount"] == len(conn["edges"])
    return sorted(str(oid_of(e["node"]["id"])) for e in conn["edges"])


async def _expected(api, collection, query):
    return sorted(_ids(await api.db[collection].find(query, {"_id": 1}).to_list()))


async def test_contact_filters(demo):
    db = demo.db
    some = await db.contacts.find_one({"accountId": {"$ne": None}})
    await db.contacts.update_one(
        {"_id": some["_id"]}, {"$set": {"marketingOnly": True, "consent.isChild": True}}
    )
    checks = [
        (f'{{email: "{some["email"].upper()}"}}', {"_id": some["_id"]}),
        (f'{{account: "{gid("Account", some["accountId"])}"}}', {"accountId": some["accountId"]}),
        ("{marketingOnly: true}", {"marketingOnly": True}),
        ("{marketingOnly: false}", {"marketingOnly": False}),
        ("{allowBulkEmail: true}", {"preferences.allowBulkEmail": True}),
        ("{allowEmail: false}", {"preferences.allowEmail": False}),
        (
            "{allowPrefill: true, trackEmail: true}",
            {"preferences.allowPrefill": True, "preferences.trackEmail": True},
        ),
        ("{consentLevel: MARKETING}", {"consent.level": "marketing"}),
        ("{isChild: true}", {"consent.isChild": True}),
        ("{role: DECISION_MAKER}", {"role": "decisionMaker"}),
    ]
    for filter_, query in checks:
        expected = await _expected(demo, "contacts", query)
        assert expected, filter_  # the filter is not vacuous
        assert await _contact_ids(demo, filter_) == expected, filter_
    # nameContains is case- and accent-insensitive on "first last"
    needle = some["lastName"][:4]
    expected = [
        str(d["_id"])
        for d in await db.contacts.find({}).to_list()
        if normalize.name(needle) in d["sortName"]
    ]
    assert await _contact_ids(demo, f'{{nameContains: "{needle.upper()}"}}') == sorted(expected)
    # created between
    docs = await db.contacts.find({}).sort("createdAt", 1).to_list()
    lo, hi = docs[10]["createdAt"], docs[30]["createdAt"]
    got = (
        await demo.gql(
            """query($a: DateTime, $b: DateTime) { contacts(first: 100,
               filter: {createdAfter: $a, createdBefore: $b}) { totalCount } }""",
            {"a": lo.isoformat(), "b": hi.isoformat()},
        )
    )["contacts"]["totalCount"]
    assert got == await db.contacts.count_documents({"createdAt": {"$gte": lo, "$lt": hi}})
    assert 0 < got < 40


async def test_account_and_lead_filters(demo):
    db = demo.db
    account = await db.accounts.find_one({})
    q = """query($f: AccountFilter) { accounts(first: 100, filter: $f) {
           totalCount edges { node { id name domain } } } }"""
    by_domain = await demo.gql(q, {"f": {"domain": "https://WWW." + account["domain"]}})
    assert [e["node"]["name"] for e in by_domain["accounts"]["edges"]] == [account["name"]]
    by_name = await demo.gql(q, {"f": {"nameContains": account["name"][:3].lower()}})
    assert account["name"] in [e["node"]["name"] for e in by_name["accounts"]["edges"]]
    industry = (await demo.gql(q, {"f": {"industry": account["industry"]}}))["accounts"]
    assert industry["totalCount"] == await db.accounts.count_documents(
        {"industry": account["industry"]}
    )

    lq = """query($f: LeadFilter) { leads(first: 100, filter: $f) {
            totalCount edges { node { id topic stage orphan } } } }"""
    checks: list[tuple[dict[str, Any], dict[str, Any]]] = [
        ({"topic": "Contoso Ltd Conference"}, {"topic": "Contoso Ltd Conference"}),
        ({"topicContains": "contoso"}, {"topic": {"$regex": "contoso", "$options": "i"}}),
        ({"stage": "inquiry"}, {"stage": "inquiry"}),
        ({"orphan": True}, {"parentContactId": None, "parentAccountId": None}),
        (
            {"orphan": False},
            {"$or": [{"parentContactId": {"$ne": None}}, {"parentAccountId": {"$ne": None}}]},
        ),
    ]
    lead = await db.leads.find_one({"parentContactId": {"$ne": None}})
    assert lead is not None
    checks.append(
        (
            {"parentContact": gid("Contact", lead["parentContactId"])},
            {"parentContactId": lead["parentContactId"]},
        )
    )
    for filter_, query in checks:
        conn = (await demo.gql(lq, {"f": filter_}))["leads"]
        expected = await _expected(demo, "leads", query)
        assert expected, filter_
        assert sorted(str(oid_of(e["node"]["id"])) for e in conn["edges"]) == expected, filter_
        assert conn["totalCount"] == len(expected)
        if filter_.get("orphan") is True:
            assert all(e["node"]["orphan"] for e in conn["edges"])
    created = (await db.leads.find_one({}, sort=[("createdAt", 1)]))["createdAt"]
    after = await demo.gql(lq, {"f": {"createdAfter": (created + timedelta(days=100)).isoformat()}})
    assert after["leads"]["totalCount"] == await db.leads.count_documents(
        {"createdAt": {"$gte": created + timedelta(days=100)}}
    )


async def test_filter_with_wrong_id_type_is_a_typed_error(demo):
    account = await demo.db.accounts.find_one({})
    response = await demo.post(
        f'{{ contacts(filter: {{account: "{gid("Contact", account["_id"])}"}}) {{ totalCount }} }}'
    )
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "Account" in error["message"]
