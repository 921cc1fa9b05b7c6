"""Mutations: create/update/delete contacts, accounts, leads; linkLead; recordInteraction.

Invalid input comes back as typed errors (errors as data) and writes nothing."""

from __future__ import annotations

import asyncio

from bson import ObjectId
from foundation import create_lists, gid, oid_of

ERRORS = """
    ... on ValidationError { message code field fields { field message } }
    ... on NotFoundError { message code id }
    ... on ForbiddenError { message code permission role }
"""
CREATE_CONTACT = f"""mutation($i: CreateContactInput!) {{ createContact(input: $i) {{ __typename
    ... on ContactPayload {{ contact {{ id email firstName lastName marketingOnly
        account {{ id name }}
        preferences {{ allowBulkEmail allowEmail allowPrefill trackEmail }}
        consent {{ level isChild guardian }} subscriptions }} }}
    {ERRORS} }} }}"""
UPDATE_CONTACT = f"""mutation($i: UpdateContactInput!) {{ updateContact(input: $i) {{ __typename
    ... on ContactPayload {{ contact {{ id email lastName
        preferences {{ allowBulkEmail allowEmail allowPrefill trackEmail }} account {{ id }} }} }}
    {ERRORS} }} }}"""
DELETE = """mutation($id: ID!) {{ {name}(id: $id) {{ __typename
    ... on DeletePayload {{ deletedId }} {errors} }} }}"""
CREATE_ACCOUNT = f"""mutation($i: CreateAccountInput!) {{ createAccount(input: $i) {{ __typename
    ... on AccountPayload {{ account {{ id name domain numberOfEmployees }} }} {ERRORS} }} }}"""
UPDATE_ACCOUNT = f"""mutation($i: UpdateAccountInput!) {{ updateAccount(input: $i) {{ __typename
    ... on AccountPayload {{ account {{ id name domain industry }} }} {ERRORS} }} }}"""
CREATE_LEAD = f"""mutation($i: CreateLeadInput!) {{ createLead(input: $i) {{ __typename
    ... on LeadPayload {{ lead {{ id topic stage orphan marketingContext {{ kind name }}
        parentContact {{ id }} parentAccount {{ id }} }} }} {ERRORS} }} }}"""
UPDATE_LEAD = f"""mutation($i: UpdateLeadInput!) {{ updateLead(input: $i) {{ __typename
    ... on LeadPayload {{ lead {{ id topic email }} }} {ERRORS} }} }}"""
LINK = f"""mutation($id: ID!, $c: ID, $a: ID) {{ linkLead(id: $id, parentContact: $c,
    parentAccount: $a) {{ __typename
    ... on LeadPayload {{ lead {{ id orphan parentContact {{ id }} parentAccount {{ id }} }} }}
    {ERRORS} }} }}"""
LINK_CONTACT_ONLY = f"""mutation($id: ID!, $c: ID) {{ linkLead(id: $id, parentContact: $c) {{
    __typename
    ... on LeadPayload {{ lead {{ orphan parentContact {{ id }} parentAccount {{ id }} }} }}
    {ERRORS} }} }}"""
LINK_NOTHING = f"""mutation($id: ID!) {{ linkLead(id: $id) {{ __typename {ERRORS} }} }}"""
RECORD = f"""mutation($i: RecordInteractionInput!) {{ recordInteraction(input: $i) {{ __typename
    ... on InteractionPayload {{ created interaction {{ id type occurredAt formId
        contact {{ id insights {{ total lastActivityAt counts {{ type count }} }} }} }} }}
    {ERRORS} }} }}"""


async def counts(db):
    return {
        name: await db[name].count_documents({})
        for name in ("contacts", "accounts", "leads", "interactions")
    }


async def make_account(api, name="Contoso Ltd", domain="https://www.Contoso.com/"):
    out = (await api.gql(CREATE_ACCOUNT, {"i": {"name": name, "domain": domain}}))["createAccount"]
    assert out["__typename"] == "AccountPayload", out
    return out["account"]


async def make_contact(api, **fields):
    fields.setdefault("lastName", "Lee")
    out = (await api.gql(CREATE_CONTACT, {"i": fields}))["createContact"]
    assert out["__typename"] == "ContactPayload", out
    return out["contact"]


async def test_contact_create_update_delete(api):
    account = await make_account(api)
    assert account["domain"] == "contoso.com"
    await create_lists(api, "Newsletter")
    contact = await make_contact(
        api,
        firstName="Ana",
        lastName="Lee",
        email=" Ana.Lee@Contoso.COM ",
        account=account["id"],
        preferences={"allowBulkEmail": True},
        consent={"level": "MARKETING", "isChild": True, "guardian": "Bo Lee"},
        subscriptions=["Newsletter"],
    )
    assert contact["email"] == "Ana.Lee@Contoso.COM"
    assert contact["account"] == {"id": account["id"], "name": "Contoso Ltd"}
    assert contact["preferences"] == {
        "allowBulkEmail": True,
        "allowEmail": True,
        "allowPrefill": False,
        "trackEmail": True,
    }
    assert contact["consent"] == {"level": "MARKETING", "isChild": True, "guardian": "Bo Lee"}
    assert contact["subscriptions"] == ["Newsletter"] and contact["marketingOnly"] is False
    stored = await api.db.contacts.find_one({"_id": oid_of(contact["id"])})
    assert stored["emailNormalized"] == "ana.lee@contoso.com"
    assert stored["accountId"] == oid_of(account["id"])

    out = (
        await api.gql(
            UPDATE_CONTACT,
            {
                "i": {
                    "id": contact["id"],
                    "email": "ana@new.example",
                    "preferences": {"allowEmail": False},
                }
            },
        )
    )["updateContact"]
    assert out["__typename"] == "ContactPayload", out
    assert out["contact"]["email"] == "ana@new.example"
    assert out["contact"]["lastName"] == "Lee"  # omitted fields stay
    assert out["contact"]["preferences"] == {
        "allowBulkEmail": True,
        "allowEmail": False,
        "allowPrefill": False,
        "trackEmail": True,
    }
    out = await api.gql(UPDATE_CONTACT, {"i": {"id": contact["id"], "account": None}})
    assert out["updateContact"]["contact"]["account"] is None

    lead = (await api.gql(CREATE_LEAD, {"i": {"topic": "Trial", "parentContact": contact["id"]}}))[
        "createLead"
    ]["lead"]
    await api.gql(RECORD, {"i": {"contact": contact["id"], "type": "EMAIL_OPENED"}})
    out = await api.gql(DELETE.format(name="deleteContact", errors=ERRORS), {"id": contact["id"]})
    assert out["deleteContact"] == {"__typename": "DeletePayload", "deletedId": contact["id"]}
    assert await api.db.contacts.count_documents({}) == 0
    assert await api.db.interactions.count_documents({}) == 0  # its interactions go with it
    orphan = await api.db.leads.find_one({"_id": oid_of(lead["id"])})
    assert orphan["parentContactId"] is None  # its leads stay, as orphans
    again = await api.gql(DELETE.format(name="deleteContact", errors=ERRORS), {"id": contact["id"]})
    assert again["deleteContact"]["__typename"] == "NotFoundError"
    assert again["deleteContact"]["code"] == "NOT_FOUND"


async def test_invalid_contact_input_is_typed_and_writes_nothing(api):
    account = await make_account(api)
    await make_contact(api, email="taken@example.com")
    before = await counts(api.db)
    missing_account = gid("Account", ObjectId())
    cases = [
        ({"email": "not-an-email", "lastName": "X"}, ["input.email"]),
        ({"lastName": "   "}, ["input.lastName"]),
        ({"firstName": "Only"}, ["input.lastName"]),
        ({"firstName": " ", "lastName": "X"}, ["input.firstName"]),
        ({"lastName": "X", "account": missing_account}, ["input.account"]),
        ({"lastName": "X", "account": gid("Lead", ObjectId())}, ["input.account"]),
        ({"email": "a@@b", "firstName": "", "account": account["id"]}, None),
    ]
    for fields, expected in cases:
        out = (await api.gql(CREATE_CONTACT, {"i": fields}))["createContact"]
        assert out["__typename"] == "ValidationError", (fields, out)
        assert out["code"] == "BAD_USER_INPUT"
        got = [f["field"] for f in out["fields"]]
        assert out["field"] == got[0]
        if expected is not None:
            assert got == expected, (fields, out)
        else:  # every problem is reported at once
            assert {"input.email", "input.firstName"} <= set(got), out
        assert all(f["message"] for f in out["fields"])
    assert await counts(api.db) == before

    contact = await api.db.contacts.find_one({})
    cid = gid("Contact", contact["_id"])
    out = (await api.gql(UPDATE_CONTACT, {"i": {"id": cid, "email": "nope"}}))["updateContact"]
    assert out["__typename"] == "ValidationError" and out["field"] == "input.email"
    out = (await api.gql(UPDATE_CONTACT, {"i": {"id": cid, "lastName": ""}}))["updateContact"]
    assert out["__typename"] == "ValidationError" and out["field"] == "input.lastName"
    unknown = gid("Contact", ObjectId())
    out = (await api.gql(UPDATE_CONTACT, {"i": {"id": unknown, "lastName": "Z"}}))["updateContact"]
    assert out["__typename"] == "NotFoundError" and out["id"] == unknown
    out = await api.gql(UPDATE_CONTACT, {"i": {"id": account["id"], "lastName": "Z"}})
    assert out["updateContact"]["__typename"] == "ValidationError"
    assert out["updateContact"]["field"] == "input.id"
    assert await api.db.contacts.find_one({}) == contact  # unchanged
    assert await counts(api.db) == before


async def test_garbage_id_in_mutation_is_a_coded_error_not_500(api):
    before = await counts(api.db)
    response = await api.post(CREATE_CONTACT, {"i": {"lastName": "X", "account": "garbage"}})
    assert response.status_code == 200
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert await counts(api.db) == before


async def test_account_create_update_delete_and_validation(api):
    account = await make_account(api, "Fabrikam", "fabrikam.com")
    contact = await make_contact(api, account=account["id"])
    lead = await api.gql(CREATE_LEAD, {"i": {"topic": "T", "parentAccount": account["id"]}})
    assert lead["createLead"]["lead"]["parentAccount"] == {"id": account["id"]}
    before = await counts(api.db)
    for fields, field in (
        ({"name": "  "}, "input.name"),
        ({"name": "X", "domain": "nodots"}, "input.domain"),
        ({"name": "X", "numberOfEmployees": -3}, "input.numberOfEmployees"),
    ):
        out = (await api.gql(CREATE_ACCOUNT, {"i": fields}))["createAccount"]
        assert out["__typename"] == "ValidationError" and out["field"] == field, out
    out = await api.gql(UPDATE_ACCOUNT, {"i": {"id": account["id"], "name": None}})
    assert out["updateAccount"]["__typename"] == "ValidationError"
    missing = gid("Account", ObjectId())
    out = await api.gql(UPDATE_ACCOUNT, {"i": {"id": missing, "industry": "Retail"}})
    assert out["updateAccount"]["__typename"] == "NotFoundError"
    assert await counts(api.db) == before

    out = await api.gql(UPDATE_ACCOUNT, {"i": {"id": account["id"], "industry": "Retail"}})
    assert out["updateAccount"]["account"] == {
        "id": account["id"],
        "name": "Fabrikam",
        "domain": "fabrikam.com",
        "industry": "Retail",
    }
    out = await api.gql(DELETE.format(name="deleteAccount", errors=ERRORS), {"id": account["id"]})
    assert out["deleteAccount"]["deletedId"] == account["id"]
    assert (await api.db.contacts.find_one({"_id": oid_of(contact["id"])}))["accountId"] is None
    assert await api.db.leads.count_documents({"parentAccountId": None}) == 1
    out = await api.gql(DELETE.format(name="deleteAccount", errors=ERRORS), {"id": account["id"]})
    assert out["deleteAccount"]["__typename"] == "NotFoundError"


async def test_lead_create_update_link_delete(api, orphans_stay):
    contact = await make_contact(api, email="lead.owner@example.com")
    account = await make_account(api)
    out = (
        await api.gql(
            CREATE_LEAD,
            {"i": {"marketingContext": {"kind": "EVENT", "name": "Contoso Ltd Conference"}}},
        )
    )["createLead"]
    assert out["__typename"] == "LeadPayload", out
    lead = out["lead"]
    assert lead["stage"] == "inquiry" and lead["orphan"] is True
    assert lead["marketingContext"] == {"kind": "EVENT", "name": "Contoso Ltd Conference"}
    assert lead["parentContact"] is None

    out = (await api.gql(LINK, {"id": lead["id"], "c": contact["id"]}))["linkLead"]
    assert out["lead"] == {
        "id": lead["id"],
        "orphan": False,
        "parentContact": {"id": contact["id"]},
        "parentAccount": None,
    }
    out = (await api.gql(LINK, {"id": lead["id"], "c": None, "a": account["id"]}))["linkLead"]
    # an explicit null unlinks: the contact goes, the account is set
    assert out["lead"]["parentContact"] is None
    assert out["lead"]["parentAccount"] == {"id": account["id"]}
    out = (await api.gql(LINK_CONTACT_ONLY, {"id": lead["id"], "c": contact["id"]}))["linkLead"]
    # an omitted argument leaves that parent as it was
    assert out["lead"]["parentAccount"] == {"id": account["id"]}
    assert out["lead"]["parentContact"] == {"id": contact["id"]}

    before = await counts(api.db)
    stored = await api.db.leads.find_one({})
    for variables, typename, field in (
        ({"id": lead["id"], "c": gid("Contact", ObjectId())}, "ValidationError", "parentContact"),
        ({"id": lead["id"], "c": account["id"]}, "ValidationError", "parentContact"),
        ({"id": gid("Lead", ObjectId()), "c": contact["id"]}, "NotFoundError", None),
        ({"id": contact["id"], "c": contact["id"]}, "ValidationError", "id"),
    ):
        out = (await api.gql(LINK, variables))["linkLead"]
        assert out["__typename"] == typename, (variables, out)
        if field:
            assert out["field"] == field, out
    out = (await api.gql(LINK_NOTHING, {"id": lead["id"]}))["linkLead"]
    assert out["__typename"] == "ValidationError"
    for fields, field in (
        ({"email": "x"}, "input.email"),
        ({"topic": " "}, "input.topic"),
        ({"formId": "f"}, "input.topic"),
        ({"topic": "T", "parentContact": gid("Contact", ObjectId())}, "input.parentContact"),
        ({"topic": "T", "marketingContext": {"kind": "OFFER", "name": ""}}, None),
    ):
        out = (await api.gql(CREATE_LEAD, {"i": fields}))["createLead"]
        assert out["__typename"] == "ValidationError", (fields, out)
        if field:
            assert out["field"] == field
    assert await counts(api.db) == before
    assert await api.db.leads.find_one({}) == stored

    out = (await api.gql(UPDATE_LEAD, {"i": {"id": lead["id"], "topic": "Renamed"}}))["updateLead"]
    assert out["lead"]["topic"] == "Renamed"
    out = await api.gql(DELETE.format(name="deleteLead", errors=ERRORS), {"id": lead["id"]})
    assert out["deleteLead"]["deletedId"] == lead["id"]
    assert await api.db.leads.count_documents({}) == 0


async def test_record_interaction_updates_insights_and_is_idempotent(api):
    contact = await make_contact(api, email="ia@example.com")
    i = {
        "contact": contact["id"],
        "type": "FORM_SUBMITTED",
        "formId": "landing-trial",
        "occurredAt": "2026-03-01T10:00:00+00:00",
        "idempotencyKey": "submit-1",
    }
    first = (await api.gql(RECORD, {"i": i}))["recordInteraction"]
    assert first["__typename"] == "InteractionPayload" and first["created"] is True
    insights = first["interaction"]["contact"]["insights"]
    assert insights["total"] == 1
    assert insights["counts"] == [{"type": "form_submitted", "count": 1}]
    assert insights["lastActivityAt"].startswith("2026-03-01T10:00:00")

    again = (await api.gql(RECORD, {"i": i}))["recordInteraction"]
    assert again["created"] is False
    assert again["interaction"]["id"] == first["interaction"]["id"]
    assert await api.db.interactions.count_documents({}) == 1
    stored = await api.db.contacts.find_one({"_id": oid_of(contact["id"])})
    assert stored["insights"]["total"] == 1

    # concurrent retries with one new key record it once
    i2 = {**i, "idempotencyKey": "submit-2", "type": "EMAIL_OPENED"}
    i2.pop("formId")
    results = await asyncio.gather(*(api.gql(RECORD, {"i": i2}) for _ in range(4)))
    created = [r["recordInteraction"]["created"] for r in results]
    assert created.count(True) == 1, created
    assert len({r["recordInteraction"]["interaction"]["id"] for r in results}) == 1
    assert await api.db.interactions.count_documents({}) == 2
    stored = await api.db.contacts.find_one({"_id": oid_of(contact["id"])})
    assert stored["insights"]["total"] == 2
    assert stored["insights"]["counts"] == {"form_submitted": 1, "email_opened": 1}

    # without a key every call records
    plain = {"contact": contact["id"], "type": "WEBSITE_VISITED"}
    for _ in range(2):
        out = (await api.gql(RECORD, {"i": plain}))["recordInteraction"]
        assert out["created"] is True
    assert await api.db.interactions.count_documents({}) == 4


async def test_record_interaction_validation_writes_nothing(api):
    contact = await make_contact(api)
    before = await counts(api.db)
    insights = (await api.db.contacts.find_one({}))["insights"]
    for fields, field in (
        ({"contact": gid("Contact", ObjectId()), "type": "EMAIL_SENT"}, "input.contact"),
        ({"contact": gid("Account", ObjectId()), "type": "EMAIL_SENT"}, "input.contact"),
        (
            {"contact": contact["id"], "type": "EMAIL_SENT", "lead": gid("Lead", ObjectId())},
            "input.lead",
        ),
        ({"contact": contact["id"], "type": "EMAIL_SENT", "details": [1, 2]}, "input.details"),
        (
            {"contact": contact["id"], "type": "EMAIL_SENT", "details": {"x": "y" * 20_000}},
            "input.details",
        ),
    ):
        out = (await api.gql(RECORD, {"i": fields}))["recordInteraction"]
        assert out["__typename"] == "ValidationError", (fields, out)
        assert out["field"] == field
    response = await api.post(RECORD, {"i": {"contact": contact["id"], "type": "NOT_A_TYPE"}})
    assert response.status_code == 200 and response.json()["errors"]
    assert await counts(api.db) == before
    assert (await api.db.contacts.find_one({}))["insights"] == insights
