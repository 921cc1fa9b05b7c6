"""Issue 20 point 14: custom fields declared by ``rules/fields.yaml`` (the shipped example),
typed in GraphQL, checked on every write, in events, filters and conditions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from leadgraph.store.explain import find_plan, plan_stages, scans_collection

ERRORS = "... on ValidationError { field fields { field message } }"
CUSTOM = "custom { setFields tier linkedinUrl interests newsletterOptInDate }"
CREATE = f"""mutation($i: CreateContactInput!) {{ createContact(input: $i) {{ __typename
    ... on ContactPayload {{ contact {{ id {CUSTOM} }} }} {ERRORS} }} }}"""
UPDATE = f"""mutation($i: UpdateContactInput!) {{ updateContact(input: $i) {{ __typename
    ... on ContactPayload {{ contact {{ id {CUSTOM} }} }} {ERRORS} }} }}"""
CREATE_ACCOUNT = f"""mutation($i: CreateAccountInput!) {{ createAccount(input: $i) {{ __typename
    ... on AccountPayload {{ account {{ id custom {{ partnerLevel notes }} }} }} {ERRORS} }} }}"""
CREATE_LEAD = f"""mutation($i: CreateLeadInput!) {{ createLead(input: $i) {{ __typename
    ... on LeadPayload {{ lead {{ id custom {{ budget needsDemo setFields }} }} }} {ERRORS} }} }}"""


async def create(api: Any, custom: Any, **more: Any) -> dict[str, Any]:
    data = await api.gql(CREATE, {"i": {"email": "ada@example.com", "custom": custom, **more}})
    return dict(data["createContact"])


async def test_a_contact_s_custom_fields_are_typed_on_read(api: Any) -> None:
    out = await create(
        api,
        {
            "tier": "gold",
            "linkedinUrl": "https://linkedin.example/ada",
            "interests": ["security", "analytics", "security"],
            "newsletterOptInDate": "2026-03-01",
        },
    )
    assert out["__typename"] == "ContactPayload", out
    assert out["contact"]["custom"] == {
        "setFields": ["tier", "linkedinUrl", "interests", "newsletterOptInDate"],
        "tier": "gold",
        "linkedinUrl": "https://linkedin.example/ada",
        "interests": ["security", "analytics"],  # a value given twice is kept once
        "newsletterOptInDate": "2026-03-01",
    }
    stored = await api.db.contacts.find_one({})
    assert stored["custom"]["newsletterOptInDate"] == datetime(2026, 3, 1, tzinfo=UTC)
    account = (
        await api.gql(
            CREATE_ACCOUNT,
            {
                "i": {
                    "name": "Contoso",
                    "custom": {"partnerLevel": "gold", "notes": "long text " * 100},
                }
            },
        )
    )["createAccount"]
    assert account["account"]["custom"] == {"partnerLevel": "gold", "notes": "long text " * 100}
    lead = (
        await api.gql(
            CREATE_LEAD, {"i": {"topic": "demo", "custom": {"budget": 12000, "needsDemo": True}}}
        )
    )["createLead"]
    assert lead["lead"]["custom"] == {
        "budget": 12000.0,
        "needsDemo": True,
        "setFields": ["budget", "needsDemo"],
    }


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("tier", "platinum", "expected one of: gold, silver, bronze (got 'platinum')"),
        ("tier", 3, "expected one of: gold, silver, bronze (got 3)"),
        ("linkedinUrl", 42, "expected text, got 42"),
        ("linkedinUrl", "x" * 201, "at most 200 characters (got 201)"),
        (
            "interests",
            "security",
            "expected a list of: analytics, automation, security, cloud (got 'security')",
        ),
        (
            "interests",
            ["security", "knitting"],
            "unknown value 'knitting'; expected any of: analytics, automation, security, cloud",
        ),
        ("newsletterOptInDate", "2026-02-30", "expected a date YYYY-MM-DD, got '2026-02-30'"),
        ("newsletterOptInDate", True, "expected a date YYYY-MM-DD, got True"),
        (
            "nickname",
            "Ada",
            "custom field 'nickname' is not declared; expected: tier, "
            "linkedinUrl, interests, newsletterOptInDate",
        ),
    ],
)
async def test_a_bad_value_is_a_validation_error_naming_the_field_and_writes_nothing(
    api: Any, name: str, value: Any, message: str
) -> None:
    out = await create(api, {"tier": "silver", name: value})
    assert out["__typename"] == "ValidationError", out
    assert out["fields"] == [{"field": f"input.custom.{name}", "message": message}]
    assert await api.db.contacts.count_documents({}) == 0


async def test_number_and_boolean_are_checked_on_leads_and_accounts(api: Any) -> None:
    for value, message in (
        (True, "expected a number, got True"),
        ("12", "expected a number, got '12'"),
    ):
        out = await api.gql(CREATE_LEAD, {"i": {"topic": "t", "custom": {"budget": value}}})
        assert out["createLead"]["fields"] == [{"field": "input.custom.budget", "message": message}]
    out = await api.gql(CREATE_LEAD, {"i": {"topic": "t", "custom": {"needsDemo": "yes"}}})
    assert out["createLead"]["fields"] == [
        {"field": "input.custom.needsDemo", "message": "expected true or false, got 'yes'"}
    ]
    out = await api.gql(CREATE_ACCOUNT, {"i": {"name": "A", "custom": {"notes": "n" * 10_001}}})
    assert out["createAccount"]["fields"] == [
        {"field": "input.custom.notes", "message": "at most 10000 characters (got 10001)"}
    ]
    assert await api.db.leads.count_documents({}) == 0
    assert await api.db.accounts.count_documents({}) == 0


async def test_max_length_allows_exactly_the_limit(api: Any) -> None:
    out = await create(api, {"linkedinUrl": "x" * 200})
    assert out["contact"]["custom"]["linkedinUrl"] == "x" * 200


async def test_an_update_changes_only_the_named_fields_and_its_event_names_them(
    api: Any,
) -> None:
    created = await create(api, {"tier": "gold", "interests": ["cloud"]})
    cid = created["contact"]["id"]
    out = await api.gql(UPDATE, {"i": {"id": cid, "custom": {"tier": "silver"}}})
    assert out["updateContact"]["contact"]["custom"]["tier"] == "silver"
    assert out["updateContact"]["contact"]["custom"]["interests"] == ["cloud"]
    cleared = await api.gql(UPDATE, {"i": {"id": cid, "custom": {"interests": None}}})
    assert cleared["updateContact"]["contact"]["custom"]["setFields"] == ["tier"]
    events = [e async for e in api.db.events.find({"type": "contact.updated"}).sort("_id", 1)]
    changes = [e["changes"] for e in events]
    assert changes == [
        [{"field": "custom.tier", "old": "gold", "new": "silver"}],
        [{"field": "custom.interests", "old": ["cloud"], "new": None}],
    ]
    bad = await api.gql(UPDATE, {"i": {"id": cid, "custom": {"tier": "iron"}}})
    assert bad["updateContact"]["field"] == "input.custom.tier"
    assert (await api.db.contacts.find_one({}))["custom"]["tier"] == "silver"


async def test_custom_fields_lists_the_definitions(api: Any) -> None:
    query = """{ customFields(entity: CONTACT) { entity name label type required default
        maxLength values indexed retired } }"""
    found = (await api.gql(query, role="read-only"))["customFields"]
    assert [f["name"] for f in found] == ["tier", "linkedinUrl", "interests", "newsletterOptInDate"]
    assert found[0] == {
        "entity": "CONTACT",
        "name": "tier",
        "label": "Customer tier",
        "type": "ENUM",
        "required": False,
        "default": None,
        "maxLength": None,
        "values": ["gold", "silver", "bronze"],
        "indexed": True,
        "retired": False,
    }
    assert found[1]["maxLength"] == 200
    everything = (await api.gql("{ customFields { entity name } }"))["customFields"]
    assert {f["entity"] for f in everything} == {"CONTACT", "ACCOUNT", "LEAD"}


CONTACTS = """query($f: ContactFilter) { contacts(filter: $f) { totalCount
    edges { node { email custom { tier } } } } }"""


async def test_contacts_filter_on_an_indexed_field_is_served_by_its_index(api: Any) -> None:
    for email, tier in (("a@x.com", "gold"), ("b@x.com", "silver"), ("c@x.com", None)):
        await api.gql(CREATE, {"i": {"email": email, "custom": {"tier": tier}}})
    one = (await api.gql(CONTACTS, {"f": {"custom": {"tier": "gold"}}}))["contacts"]
    assert [e["node"]["email"] for e in one["edges"]] == ["a@x.com"]
    two = (await api.gql(CONTACTS, {"f": {"custom": {"tier": ["gold", "silver"]}}}))["contacts"]
    assert two["totalCount"] == 2
    none = (await api.gql(CONTACTS, {"f": {"custom": {"tier": None}}}))["contacts"]
    assert [e["node"]["email"] for e in none["edges"]] == ["c@x.com"]
    names = {i["name"] async for i in await api.db.contacts.list_indexes()}
    assert "custom.tier" in names
    plan = await find_plan(api.db, "contacts", {"custom.tier": "gold"}, [("createdAt", 1)])
    assert not scans_collection(plan), plan_stages(plan)


@pytest.mark.parametrize(
    ("custom", "field", "message"),
    [
        (
            {"linkedinUrl": "x"},
            "filter.custom.linkedinUrl",
            "custom field 'linkedinUrl' is not indexed; filterable: tier",
        ),
        (
            {"nope": 1},
            "filter.custom.nope",
            "custom field 'nope' is not declared; filterable: tier",
        ),
        (
            {"tier": "iron"},
            "filter.custom.tier",
            "expected one of: gold, silver, bronze (got 'iron')",
        ),
        ("gold", "filter.custom", "expected an object of indexed custom field names to values"),
    ],
)
async def test_a_filter_on_a_field_that_is_not_indexed_or_a_bad_value_is_refused(
    api: Any, custom: Any, field: str, message: str
) -> None:
    response = await api.post(CONTACTS, {"f": {"custom": custom}})
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert (field, message) in [(f["field"], f["message"]) for f in error["extensions"]["fields"]]


async def test_a_lead_range_filter_on_a_number(api: Any) -> None:
    for budget in (500, 5000, 50000):
        await api.gql(CREATE_LEAD, {"i": {"topic": f"b{budget}", "custom": {"budget": budget}}})
    query = """query($f: LeadFilter) { leads(filter: $f) { edges { node { topic } } } }"""
    found = await api.gql(query, {"f": {"custom": {"budget": {"gte": 1000, "lt": 50000}}}})
    assert [e["node"]["topic"] for e in found["leads"]["edges"]] == ["b5000"]


PREVIEW = """query($d: SegmentInput!) { previewSegment(definition: $d) { count
    sample { email } } }"""


async def test_a_segment_condition_reads_a_custom_field(api: Any) -> None:
    await api.gql(
        CREATE, {"i": {"email": "g@x.com", "custom": {"tier": "gold", "interests": ["cloud"]}}}
    )
    await api.gql(CREATE, {"i": {"email": "s@x.com", "custom": {"tier": "silver"}}})
    where = {
        "all": [
            {"fact": "contact.custom.tier", "op": "eq", "value": "gold"},
            {"fact": "contact.custom.interests", "op": "in", "value": ["cloud"]},
        ]
    }
    out = (await api.gql(PREVIEW, {"d": {"name": "gold", "where": where}}))["previewSegment"]
    assert out == {"count": 1, "sample": [{"email": "g@x.com"}]}
    bad = {"fact": "contact.custom.nickname", "op": "eq", "value": "x"}
    response = await api.post(PREVIEW, {"d": {"name": "bad", "where": bad}})
    assert "unknown fact 'contact.custom.nickname'" in response.text


IMPORT = """mutation($i: ImportInput!) { importRecords(input: $i) { __typename
    ... on ImportSummary { created updated rejected rejectedRows { line reason }
      unmappedColumns } } }"""


async def test_an_import_maps_columns_to_custom_fields_by_label_or_name(api: Any) -> None:
    rows = (
        "Email,Customer tier,LinkedIn profile,interests,custom.newsletterOptInDate,Shoe size\n"
        "ada@x.com,gold,https://li/ada,cloud; security,2026-01-05,38\n"
        "bo@x.com,iron,,,,41\n"
    )
    out = (await api.gql(IMPORT, {"i": {"kind": "CONTACTS", "data": rows}}))["importRecords"]
    assert (out["created"], out["rejected"]) == (1, 1), out
    assert out["unmappedColumns"] == ["Shoe size"]  # the custom fields' columns are mapped
    assert out["rejectedRows"] == [
        {"line": 3, "reason": "custom.tier: expected one of: gold, silver, bronze (got 'iron')"}
    ]
    stored = await api.db.contacts.find_one({"email": "ada@x.com"})
    assert stored["custom"] == {
        "tier": "gold",
        "linkedinUrl": "https://li/ada",
        "interests": ["cloud", "security"],
        "newsletterOptInDate": datetime(2026, 1, 5, tzinfo=UTC),
    }
    # a second import of the same person changes the one column it has; the others stay
    again = "email,Customer Tier\nada@x.com,silver\n"
    await api.gql(IMPORT, {"i": {"kind": "CONTACTS", "data": again}})
    stored = await api.db.contacts.find_one({"email": "ada@x.com"})
    assert stored["custom"]["tier"] == "silver" and stored["custom"]["interests"] == [
        "cloud",
        "security",
    ]
    leads = "email,topic,Budget (EUR),Needs a demo\nlea@x.com,demo,1500.5,yes\n"
    await api.gql(IMPORT, {"i": {"kind": "LEADS", "data": leads}})
    lead = await api.db.leads.find_one({"email": "lea@x.com"})
    assert lead["custom"] == {"budget": 1500.5, "needsDemo": True}


SUBMIT = """mutation($i: SubmitFormInput!) { submitForm(input: $i) { __typename
    ... on CapturePayload { contact { custom { tier interests } } lead { custom { budget } } }
    ... on ValidationError { fields { field message } } } }"""


async def test_a_form_submission_writes_and_checks_custom_fields(api: Any) -> None:
    given = {
        "email": "f@x.com",
        "custom": {"tier": "bronze", "interests": "cloud", "budget": "900"},
    }
    out = (await api.gql(SUBMIT, {"i": {"formId": "f1", "fields": given}}))["submitForm"]
    assert out["contact"]["custom"] == {"tier": "bronze", "interests": ["cloud"]}
    assert out["lead"]["custom"] == {"budget": 900.0}
    bad = {"email": "g@x.com", "custom": {"tier": "iron", "shoe": "38"}}
    out = (await api.gql(SUBMIT, {"i": {"formId": "f1", "fields": bad}}))["submitForm"]
    assert out["fields"] == [
        {
            "field": "input.fields.custom.tier",
            "message": "expected one of: gold, silver, bronze (got 'iron')",
        },
        {
            "field": "input.fields.custom.shoe",
            "message": "custom field 'shoe' is not declared "
            "for contacts or leads; expected: budget, interests, linkedinUrl, needsDemo, "
            "newsletterOptInDate, tier",
        },
    ]
    assert await api.db.contacts.count_documents({"email": "g@x.com"}) == 0
    # the same person again: the found contact's other custom fields stay
    more = {"email": "f@x.com", "custom": {"tier": "gold"}}
    out = (await api.gql(SUBMIT, {"i": {"formId": "f1", "fields": more}}))["submitForm"]
    assert out["contact"]["custom"] == {"tier": "gold", "interests": ["cloud"]}


CENTRE_UPDATE = """mutation($t: String!, $i: UpdateSubscriptionsInput!) {
  updateSubscriptions(token: $t, input: $i) { __typename
    ... on SubscriptionCentre { custom allowBulkEmail }
    ... on ValidationError { fields { field message } } } }"""
TOKEN = """mutation($c: ID!) { issueSubscriptionToken(contact: $c) {
    ... on SubscriptionTokenPayload { token } } }"""


async def test_the_subscription_centre_changes_only_its_fields_and_checks_them(api: Any) -> None:
    made = await create(
        api, {"tier": "gold", "interests": ["cloud"]}, preferences={"allowBulkEmail": True}
    )
    token = (await api.gql(TOKEN, {"c": made["contact"]["id"]}))["issueSubscriptionToken"]["token"]

    async def centre(given: dict[str, Any]) -> dict[str, Any]:
        response = await api.post(CENTRE_UPDATE, {"t": token, "i": given}, role=None)
        assert response.status_code == 200, response.text
        return dict(response.json()["data"]["updateSubscriptions"])

    changed = await centre({"custom": {"interests": ["security", "automation"]}})
    assert changed["custom"] == {"interests": ["security", "automation"]}
    stored = await api.db.contacts.find_one({})
    assert stored["custom"] == {"tier": "gold", "interests": ["security", "automation"]}
    event = await api.db.events.find_one({"type": "contact.updated"})
    assert event["changes"] == [
        {"field": "custom.interests", "old": ["cloud"], "new": ["security", "automation"]}
    ]
    assert event["actor"]["via"] == "centre"
    refused = await centre({"custom": {"tier": "bronze"}, "allowBulkEmail": False})
    assert refused["fields"] == [
        {"field": "input.custom.tier", "message": "is not changed in the subscription centre"}
    ]
    bad = await centre({"custom": {"interests": ["knitting"]}})
    assert bad["fields"][0]["field"] == "input.custom.interests"
    after = await api.db.contacts.find_one({})
    assert after["custom"]["tier"] == "gold"
    assert after["preferences"]["allowBulkEmail"] is True  # the refused update wrote nothing
