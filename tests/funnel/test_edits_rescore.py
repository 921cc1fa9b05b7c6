"""The funnel follows edits: ``updateContact``, ``updateAccount`` and ``updateLead`` rescore the
leads whose facts changed before they answer (the answer shows the new scores), the score
history says an edit caused it, and an edit of a field no rule reads writes no lead."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Api
from foundation import create_contact, create_lead, oid_of
from rules.live import live_server

FIRMOGRAPHIC = Path(__file__).parent / "firmographic_rules"
LEADS = "leads { nodes { id scores { model score } salesReady } }"

UPDATE_CONTACT = f"""mutation($i: UpdateContactInput!) {{ updateContact(input: $i) {{
  __typename ... on ContactPayload {{ contact {{ jobTitle {LEADS} }} pluginErrors {{ plugin }} }}
  ... on ValidationError {{ field message }} }} }}"""

UPDATE_ACCOUNT = f"""mutation($i: UpdateAccountInput!) {{ updateAccount(input: $i) {{
  __typename ... on AccountPayload {{ account {{ {LEADS}
    contacts {{ nodes {{ {LEADS} }} }} }} }} }} }}"""

HISTORY = """query($id: ID!) { lead(id: $id) { scoreHistory(first: 20) {
  nodes { model cause { kind by reason } score scoreBefore } } } }"""


def score(lead: dict[str, Any], model: str = "engagement") -> float:
    return next(s["score"] for s in lead["scores"] if s["model"] == model)


async def history(api: Api, lead: str) -> list[dict[str, Any]]:
    return (await api.gql(HISTORY, {"id": lead}))["lead"]["scoreHistory"]["nodes"]


async def test_a_job_title_edit_rescores_the_contacts_lead_in_the_answer(api: Api) -> None:
    contact = await create_contact(api, lastName="Ito", email="ito@example.com", jobTitle="Intern")
    lead = await create_lead(api, "id scores { model score }", topic="T", parentContact=contact)
    assert score(lead) == -10  # no bulk email allowed (the default)

    got = await api.gql(UPDATE_CONTACT, {"i": {"id": contact, "jobTitle": "Director of IT"}})
    payload = got["updateContact"]
    assert payload["__typename"] == "ContactPayload" and payload["pluginErrors"] == []
    (answered,) = payload["contact"]["leads"]["nodes"]
    assert score(answered) == 0  # + "senior job title", already in the mutation's answer

    stored = await api.db["leads"].find_one({"_id": oid_of(lead["id"])})
    assert stored is not None
    assert stored["scores"][0]["score"] == 0
    last = (await history(api, lead["id"]))[-1]
    assert last["cause"]["kind"] == "UPDATE" and last["cause"]["by"] == "test admin"
    assert last["cause"]["reason"] == "contact edited: jobTitle"
    assert (last["scoreBefore"], last["score"]) == (-10, 0)

    # a field no rule reads: the lead is not even read again, no history entry
    rev = stored["rev"]
    entries = len(await history(api, lead["id"]))
    await api.gql(UPDATE_CONTACT, {"i": {"id": contact, "firstName": "Aiko", "phone": "+1 555"}})
    again = await api.db["leads"].find_one({"_id": oid_of(lead["id"])})
    assert again is not None
    assert again["rev"] == rev and len(await history(api, lead["id"])) == entries


async def test_a_preference_the_rules_read_rescores_and_moving_account_too(api: Api) -> None:
    big = await api.gql(
        """mutation { createAccount(input: {name: "Big", numberOfEmployees: 900}) {
           ... on AccountPayload { account { id } } } }"""
    )
    big_id = big["createAccount"]["account"]["id"]
    contact = await create_contact(
        api, lastName="Ng", email="ng@example.com", preferences={"allowBulkEmail": True}
    )
    lead = await create_lead(api, "id scores { model score }", topic="T", parentContact=contact)
    assert score(lead) == 0

    got = await api.gql(
        UPDATE_CONTACT, {"i": {"id": contact, "preferences": {"allowBulkEmail": False}}}
    )
    assert score(got["updateContact"]["contact"]["leads"]["nodes"][0]) == -10

    moved = await api.gql(UPDATE_CONTACT, {"i": {"id": contact, "account": big_id}})
    assert score(moved["updateContact"]["contact"]["leads"]["nodes"][0]) == 0  # -10 + 10
    reason = (await history(api, lead["id"]))[-1]["cause"]["reason"]
    assert reason == "contact edited: accountId"


@pytest.fixture
async def firmographic(db, mongo_client, mongo_uri) -> AsyncIterator[Api]:
    async with live_server(FIRMOGRAPHIC, db, mongo_client, mongo_uri) as (api, _state):
        yield api


async def test_an_account_edit_rescores_its_leads_and_its_contacts_leads(firmographic) -> None:
    api = firmographic
    made = await api.gql(
        """mutation { createAccount(input: {name: "Contoso", industry: "Retail"}) {
           ... on AccountPayload { account { id } } } }"""
    )
    account = made["createAccount"]["account"]["id"]
    person = await create_contact(api, lastName="Li", email="li@example.com", account=account)
    own = await create_lead(api, "id scores { model score }", topic="P", parentContact=person)
    based = await create_lead(api, "id scores { model score }", topic="A", parentAccount=account)
    elsewhere = await create_contact(api, lastName="Ko", email="ko@example.com")
    other = await create_lead(api, "id", topic="O", parentContact=elsewhere)
    assert score(own, "firmographic") == 0 and score(based, "firmographic") == 0

    got = await api.gql(
        UPDATE_ACCOUNT, {"i": {"id": account, "industry": "Software", "numberOfEmployees": 300}}
    )
    payload = got["updateAccount"]
    assert payload["__typename"] == "AccountPayload"
    # Account.leads: its account-based lead and its contact's (6ef92b4), both rescored
    leads = {node["id"]: node for node in payload["account"]["leads"]["nodes"]}
    assert set(leads) == {based["id"], own["id"]}
    answered = leads[based["id"]]
    assert score(answered, "firmographic") == 35 and answered["salesReady"] is True
    (through,) = payload["account"]["contacts"]["nodes"][0]["leads"]["nodes"]
    assert through["id"] == own["id"] and score(through, "firmographic") == 35
    last = (await history(api, own["id"]))[-1]
    assert last["cause"]["kind"] == "UPDATE"
    assert last["cause"]["reason"] == "account edited: industry, numberOfEmployees"
    untouched = await api.db["leads"].find_one({"_id": oid_of(other["id"])})
    assert untouched["rev"] == 1  # created and scored once; another account's edit: nothing

    # the name is read by no rule: no lead is written
    revs = {d["_id"]: d["rev"] async for d in api.db["leads"].find({})}
    await api.gql(UPDATE_ACCOUNT, {"i": {"id": account, "name": "Contoso Ltd"}})
    assert {d["_id"]: d["rev"] async for d in api.db["leads"].find({})} == revs


async def test_a_lead_edit_rescores_when_a_parent_changes(firmographic) -> None:
    api = firmographic
    made = await api.gql(
        """mutation { createAccount(input: {name: "Big", industry: "Software"}) {
           ... on AccountPayload { account { id } } } }"""
    )
    account = made["createAccount"]["account"]["id"]
    person = await create_contact(api, lastName="Wu", email="wu@example.com")
    lead = await create_lead(api, "id scores { model score }", topic="L", parentContact=person)
    assert score(lead, "firmographic") == 0
    got = await api.gql(
        """mutation($i: UpdateLeadInput!) { updateLead(input: $i) {
           ... on LeadPayload { lead { topic scores { model score } } } } }""",
        {"i": {"id": lead["id"], "parentAccount": account, "topic": "L2"}},
    )
    updated = got["updateLead"]["lead"]
    assert updated["topic"] == "L2" and score(updated, "firmographic") == 20
    # a topic the rules do not read: no rescore, no history entry
    entries = len(await history(api, lead["id"]))
    await api.gql(
        """mutation($i: UpdateLeadInput!) { updateLead(input: $i) { __typename } }""",
        {"i": {"id": lead["id"], "topic": "L3"}},
    )
    assert len(await history(api, lead["id"])) == entries
