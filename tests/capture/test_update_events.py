"""Issue 17 point 1: a capture or an import that changes an existing contact appends its
``contact.updated`` event (each field's old and new value), and one that creates an account
appends ``account.created``; seen through ``auditLog`` as an integrator sees them."""

from __future__ import annotations

from typing import Any

from .helpers import submit
from .test_import import run

AUDIT = """query($record: ID, $actions: [String!]) {
  auditLog(record: $record, actions: $actions, first: 50) {
    totalCount
    nodes { action record recordType actor { name via } changes { field old new } } } }"""


async def _log(api: Any, record: str | None, *actions: str) -> list[dict[str, Any]]:
    out = await api.gql(AUDIT, {"record": record, "actions": list(actions)})
    return list(out["auditLog"]["nodes"])


async def test_a_submission_changing_a_contact_appends_contact_updated_with_old_and_new(api):
    first = await submit(api, "f1", {"email": "ann@example.com", "jobTitle": "Intern"})
    contact = first["contact"]["id"]
    assert await _log(api, contact, "contact.updated") == []  # created, not updated
    again = await submit(
        api, "f1", {"email": "ann@example.com", "jobTitle": "Director of IT", "firstName": "Ann"}
    )
    assert again["contact"]["id"] == contact and not again["contactCreated"]
    (entry,) = await _log(api, contact, "contact.updated")
    assert entry["recordType"] == "contact"
    assert sorted(entry["changes"], key=lambda c: c["field"]) == [
        {"field": "firstName", "old": None, "new": "Ann"},
        {"field": "jobTitle", "old": "Intern", "new": "Director of IT"},
    ]
    stored = await api.db.contacts.find_one({"emailNormalized": "ann@example.com"})
    assert stored["jobTitle"] == "Director of IT" and stored["sortName"] == "ann"
    assert stored["insights"]["total"] == 2
    # the event was written with the change: the events collection holds it too
    event = await api.db.events.find_one({"type": "contact.updated"})
    assert event is not None and event["record"]["id"] == stored["_id"]


async def test_a_submission_changing_nothing_appends_no_contact_updated(api):
    fields = {"email": "bo@example.com", "jobTitle": "CTO", "lastName": "Bo"}
    contact = (await submit(api, "f1", fields))["contact"]["id"]
    await submit(api, "f1", fields)
    await submit(api, "f1", {"email": "BO@example.com"})  # the same email, spelled otherwise
    entries = await _log(api, contact, "contact.updated")
    assert [c["field"] for e in entries for c in e["changes"]] == ["email"]


async def test_an_import_updating_a_contact_appends_contact_updated(api):
    first = await submit(api, "f1", {"email": "cy@example.com", "jobTitle": "Intern"})
    contact = first["contact"]["id"]
    out = await run(api, "CONTACTS", "email,jobTitle,lastName\ncy@example.com,CFO,Diaz\n")
    assert out["__typename"] == "ImportSummary" and out["updated"] == 1, out
    (entry,) = await _log(api, contact, "contact.updated")
    assert entry["actor"]["via"] == "import"
    assert {"field": "jobTitle", "old": "Intern", "new": "CFO"} in entry["changes"]
    assert {"field": "lastName", "old": None, "new": "Diaz"} in entry["changes"]
    again = await run(api, "CONTACTS", "email,jobTitle,lastName\ncy@example.com,CFO,Diaz\n\n")
    assert again["__typename"] == "ImportSummary", again
    assert len(await _log(api, contact, "contact.updated")) == 1  # nothing changed: no event


async def test_an_import_creating_accounts_appends_account_created(api):
    data = "email,lastName,company,website\nd@example.com,D,Contoso,contoso.com\n"
    data += "e@example.com,E,Contoso Ltd,https://www.contoso.com\nf@example.com,F,Fabrikam,\n"
    out = await run(api, "CONTACTS", data)
    assert out["__typename"] == "ImportSummary" and out["accountsCreated"] == 2, out
    created = await _log(api, None, "account.created")
    ids = {str(a["_id"]) for a in await api.db.accounts.find({}).to_list()}
    assert len(created) == 2 and all(e["actor"]["via"] == "import" for e in created)
    stored = await api.db.events.find({"type": "account.created"}).to_list()
    assert {str(e["record"]["id"]) for e in stored} == ids
    again = await run(api, "ACCOUNTS", "name,domain\nFabrikam,\nNorthwind,northwind.example\n")
    assert again["__typename"] == "ImportSummary", again
    assert len(await _log(api, None, "account.created")) == 3  # Northwind only


async def test_a_submission_changing_a_lead_appends_lead_updated_in_its_transaction(api):
    first = await submit(api, "f1", {"email": "lu@example.com", "jobTitle": "Intern"})
    lead = first["lead"]["id"]
    assert await _log(api, lead, "lead.updated") == []  # created, not updated
    again = await submit(
        api, "f1", {"email": "lu@example.com", "jobTitle": "CTO", "companyName": "Contoso"}
    )
    assert again["lead"]["id"] == lead and not again["leadCreated"], again
    (entry,) = await _log(api, lead, "lead.updated")
    assert entry["recordType"] == "lead"
    assert sorted(entry["changes"], key=lambda c: c["field"]) == [
        {"field": "companyName", "old": None, "new": "Contoso"},
        {"field": "jobTitle", "old": "Intern", "new": "CTO"},
    ]
    stored = await api.db.leads.find_one({"emailNormalized": "lu@example.com"})
    assert stored["jobTitle"] == "CTO" and stored["companyName"] == "Contoso"
    # the same values again change nothing: no second event
    await submit(api, "f1", {"email": "lu@example.com", "jobTitle": "CTO"})
    assert len(await _log(api, lead, "lead.updated")) == 1


CREATE_ACCOUNT = """mutation($i: CreateAccountInput!) { createAccount(input: $i) {
  ... on AccountPayload { account { id } } } }"""


async def test_an_import_updating_an_account_appends_account_updated_with_old_and_new(api):
    fields = {"name": "Contoso", "domain": "contoso.com", "industry": "Retail"}
    made = await api.gql(CREATE_ACCOUNT, {"i": fields})
    account = made["createAccount"]["account"]["id"]
    data = "name,domain,industry,numberOfEmployees\nContoso Inc,contoso.com,Software,120\n"
    out = await run(api, "ACCOUNTS", data)
    assert (out["created"], out["updated"]) == (0, 1), out
    (entry,) = await _log(api, account, "account.updated")
    assert entry["recordType"] == "account" and entry["actor"]["via"] == "import"
    assert sorted(entry["changes"], key=lambda c: c["field"]) == [
        {"field": "industry", "old": "Retail", "new": "Software"},
        {"field": "name", "old": "Contoso", "new": "Contoso Inc"},
        {"field": "numberOfEmployees", "old": None, "new": 120},
    ]
    stored = await api.db.accounts.find_one({"domain": "contoso.com"})
    event = await api.db.events.find_one({"type": "account.updated"})
    assert event is not None and event["record"]["id"] == stored["_id"]
    again = await run(api, "ACCOUNTS", data + "\n")  # another file, the same values
    assert again["updated"] == 1 and again["skipped"] == 1, again
    assert len(await _log(api, account, "account.updated")) == 1  # nothing changed: no event
