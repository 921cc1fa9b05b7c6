"""One matching path: a partner's kind (``sounds-like``, registered in a real plugin manager)
and the built-in ``exact`` kind give the same answers through ``submitForm``,
``importRecords``, ``linkOrphanLeads``, ``duplicateCandidates`` and the rule files' tests; key
backfill covers the plugin kind; account-based leads are not orphans."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Api
from foundation import oid_of
from leadgraph.rules.ruletests import run_tests

from .helpers import submit
from .test_import import run

LINK = """mutation { linkOrphanLeads { __typename ... on LinkOrphansPayload {
  linked contactsCreated contactsMatched leads { id parentContact { id } } } } }"""
CREATE_LEAD = """mutation($i: CreateLeadInput!) { createLead(input: $i) {
  ... on LeadPayload { lead { id scores { model score } } } } }"""
CREATE_CONTACT = """mutation($i: CreateContactInput!) { createContact(input: $i) {
  ... on ContactPayload { contact { id } } } }"""
CREATE_ACCOUNT = """mutation($i: CreateAccountInput!) { createAccount(input: $i) {
  ... on AccountPayload { account { id } } } }"""
CANDIDATES = "{ duplicateCandidates { reason strategy key contacts { id } } }"
LEAD = """query($id: ID!) { node(id: $id) { ... on Lead {
  parentContact { id } parentAccount { id } scores { model score } } } }"""


# Five spellings of one person for each strategy: two submissions, an import row, an orphan
# lead, a contact entered by hand.
SOUNDS_LIKE = {
    "form": "fair",
    "strategy": "contact-sounds-like",
    "values": {"firstName": "A500", "lastName": "M600"},
    "people": [
        {"firstName": "Ann", "lastName": "Meyer", "email": "a1@x.com"},
        {"firstName": "Anne", "lastName": "Maier", "email": "a2@x.com"},
        {"firstName": "Ann", "lastName": "Mayer", "email": "a3@x.com"},
        {"firstName": "Anna", "lastName": "Meier", "email": "a4@x.com"},
        {"firstName": "Ann", "lastName": "Myer", "email": "a5@x.com"},
    ],
}
EXACT = {
    "form": "spring",
    "strategy": "contact-email",
    "values": {"email": "bo@example.com"},
    "people": [
        {"email": "Bo@Example.com"},
        {"email": " bo@example.COM "},
        {"email": "BO@example.com", "lastName": "Chen"},
        {"email": "bo@EXAMPLE.com", "lastName": "Chen"},
        {"email": "bO@example.com", "lastName": "Okafor"},
    ],
}


@pytest.mark.parametrize("case", [SOUNDS_LIKE, EXACT], ids=["plugin-kind", "exact-kind"])
async def test_one_person_on_every_road(partner: Api, case: dict[str, Any]) -> None:
    form, people = case["form"], case["people"]
    first = await submit(partner, form, people[0])
    second = await submit(partner, form, people[1])
    assert first["contactCreated"] and first["contactMatch"]["strategy"] == case["strategy"]
    assert second["contactMatch"]["matched"], second
    assert first["contactMatch"]["values"] == second["contactMatch"]["values"] == case["values"]
    contact = first["contact"]["id"]
    assert second["contact"]["id"] == contact

    header = ",".join(people[2])
    row = ",".join(v.strip() for v in people[2].values())
    out = await run(partner, "CONTACTS", f"{header}\n{row}\n", formId=form)
    assert (out["created"], out["updated"], out["rejected"]) == (0, 1, 0), out
    assert await partner.db.contacts.count_documents({}) == 1

    orphan = await partner.gql(CREATE_LEAD, {"i": {"topic": "visit", "formId": form, **people[3]}})
    linked = (await partner.gql(LINK))["linkOrphanLeads"]
    assert (linked["linked"], linked["contactsMatched"], linked["contactsCreated"]) == (1, 1, 0)
    assert linked["leads"] == [
        {"id": orphan["createLead"]["lead"]["id"], "parentContact": {"id": contact}}
    ]

    by_hand = (await partner.gql(CREATE_CONTACT, {"i": people[4]}))["createContact"]["contact"]
    groups = (await partner.gql(CANDIDATES))["duplicateCandidates"]
    group = next(g for g in groups if g["strategy"] == case["strategy"])
    assert group["reason"] == "MATCHING_STRATEGY"
    assert group["key"] == "|".join(case["values"].values())
    assert {c["id"] for c in group["contacts"]} == {contact, by_hand["id"]}


async def test_external_id_ab_12_normalises_the_same_everywhere(partner: Api) -> None:
    ruleset = partner.app.state.leadgraph.rules.current  # type: ignore[attr-defined]
    outcomes = [o for o in run_tests(ruleset) if o.file == "matching.yaml"]
    assert len(outcomes) == 3 and all(o.ok for o in outcomes), [str(o) for o in outcomes]

    first = await submit(partner, "crm-sync", {"email": "e@x.com", "externalId": " AB-12 "})
    assert first["leadCreated"] and first["leadMatch"]["strategy"] == "lead-external-id"
    assert first["leadMatch"]["values"] == {"externalId": "AB-12"}
    again = await submit(partner, "crm-sync", {"email": "f@x.com", "externalId": "AB-12"})
    assert again["leadMatch"]["matched"] and again["lead"]["id"] == first["lead"]["id"]
    other = await submit(partner, "crm-sync", {"email": "g@x.com", "externalId": "ab-12"})
    assert other["leadCreated"] and other["leadMatch"]["values"] == {"externalId": "ab-12"}

    out = await run(
        partner, "LEADS", "email,externalId,topic\nh@x.com,AB-12 ,renewal\n", formId="crm-sync"
    )
    assert (out["created"], out["updated"]) == (0, 1), out
    lead = await partner.db.leads.find_one({"_id": oid_of(first["lead"]["id"])})
    assert lead is not None
    assert lead["email"] == "h@x.com"
    assert await partner.db.leads.count_documents({}) == 2


async def test_key_backfill_covers_a_plugin_kind(partner: Api) -> None:
    person = {"firstName": "Ann", "lastName": "Meyer", "email": "hand@x.com"}
    contact = (await partner.gql(CREATE_CONTACT, {"i": person}))["createContact"]["contact"]
    kid = "contacts:sounds-like~firstName+lastName:A500|M600"
    assert await partner.db.match_keys.find_one({"_id": kid}) is None

    out = await run(partner, "CONTACTS", "email,lastName\nsomeone@else.com,Else\n")
    assert out["created"] == 1
    claim = await partner.db.match_keys.find_one({"_id": kid})
    assert claim is not None and claim["recordId"] == oid_of(contact["id"])

    found = await submit(partner, "fair", {"firstName": "Anne", "lastName": "Maier"})
    assert found["contactMatch"]["matched"] and found["contact"]["id"] == contact["id"]


async def test_account_based_leads_are_not_orphans(partner: Api) -> None:
    account = (await partner.gql(CREATE_ACCOUNT, {"i": {"name": "Contoso", "domain": "c.com"}}))[
        "createAccount"
    ]["account"]["id"]
    based = (
        await partner.gql(CREATE_LEAD, {"i": {"topic": "platform deal", "parentAccount": account}})
    )["createLead"]["lead"]
    orphan = (await partner.gql(CREATE_LEAD, {"i": {"topic": "stand visit", "email": "o@x.com"}}))[
        "createLead"
    ]["lead"]

    linked = (await partner.gql(LINK))["linkOrphanLeads"]
    assert (linked["linked"], linked["contactsCreated"]) == (1, 1)
    assert [lead["id"] for lead in linked["leads"]] == [orphan["id"]]
    after = (await partner.gql(LEAD, {"id": based["id"]}))["node"]
    assert after["parentContact"] is None and after["parentAccount"] == {"id": account}
    assert after["scores"] == based["scores"]
    assert await partner.db.contacts.count_documents({}) == 1  # the orphan's contact only
    assert (await partner.gql(LINK))["linkOrphanLeads"]["linked"] == 0


FAILING_SUBMIT = """mutation($i: SubmitFormInput!) { submitForm(input: $i) {
  __typename ... on PluginError { plugin hook message code } } }"""
FAILING_IMPORT = """mutation($i: ImportInput!) { importRecords(input: $i) {
  __typename ... on PluginError { plugin hook message code } } }"""


async def test_a_failing_kind_is_named_and_nothing_is_stored(partner: Api) -> None:
    submitted = {"formId": "fragile-form", "fields": {"email": "boom@x.com"}}
    out = (await partner.gql(FAILING_SUBMIT, {"i": submitted}))["submitForm"]
    assert out["__typename"] == "PluginError" and out["code"] == "PLUGIN_ERROR", out
    assert out["plugin"] == "acme-matching" and "fragile" in out["hook"]
    assert "cannot key boom@x.com" in out["message"]

    data = {"kind": "CONTACTS", "data": "email\nboom@y.com\n", "formId": "fragile-form"}
    out = (await partner.gql(FAILING_IMPORT, {"i": data}))["importRecords"]
    assert out["__typename"] == "PluginError" and out["plugin"] == "acme-matching", out
    for name in ("contacts", "leads", "interactions", "match_keys"):
        assert await partner.db[name].count_documents({}) == 0, name
