"""The records and merging services over HTTP: plugins hear what they create and merge (a
failing plugin is named in the payload, the write stays), linking a lead rescores it from its
new contact's interactions, and a merge rescores the survivor's leads."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from foundation import oid_of
from leadgraph import hookimpl
from leadgraph.events import ContactCreated, ContactMerged

PLUGIN_ERRORS = "pluginErrors { plugin hook message code }"
CREATE_CONTACT = f"""mutation($i: CreateContactInput!) {{ createContact(input: $i) {{
    ... on ContactPayload {{ contact {{ id email }} {PLUGIN_ERRORS} }} }} }}"""
CREATE_LEAD = """mutation($i: CreateLeadInput!) { createLead(input: $i) {
    ... on LeadPayload { lead { id scores { model score } } } } }"""
LINK = f"""mutation($id: ID!, $c: ID) {{ linkLead(id: $id, parentContact: $c) {{ __typename
    ... on LeadPayload {{ lead {{ id parentContact {{ id }} scores {{ model score }} }}
      {PLUGIN_ERRORS} }} }} }}"""
RECORD = """mutation($i: RecordInteractionInput!) { recordInteraction(input: $i) { __typename } }"""
MERGE = f"""mutation($s: ID!, $d: [ID!]!) {{ mergeContacts(survivorId: $s, duplicateIds: $d) {{
    __typename
    ... on MergePayload {{ contact {{ id leads {{ edges {{ node {{ id scores {{ score }} }} }} }} }}
      merge {{ id }} {PLUGIN_ERRORS} }} }} }}"""


class Listener:
    """A partner plugin that keeps what it hears."""

    def __init__(self) -> None:
        self.heard: list[tuple[str, Any]] = []

    @hookimpl
    def leadgraph_contact_created(self, event: ContactCreated) -> None:
        self.heard.append(("contact_created", event.email))

    @hookimpl
    def leadgraph_contact_merged(self, event: ContactMerged) -> None:
        self.heard.append(("contacts_merged", (event.contact_id, list(event.merged_ids))))


class Failing:
    """A partner plugin whose event handlers raise."""

    @hookimpl
    def leadgraph_contact_created(self, event: ContactCreated) -> None:
        raise RuntimeError("CRM sync is down")

    @hookimpl
    def leadgraph_contact_merged(self, event_id: str) -> None:
        raise RuntimeError("CRM sync is down")


@pytest.fixture
def plugins(server: Any) -> Iterator[Listener]:
    """A listener and a failing plugin registered on the running server's plugin manager."""
    pm = server.state.leadgraph.pm
    listener, failing = Listener(), Failing()
    pm.register(listener, name="acme-listener")
    pm.register(failing, name="acme-failing")
    try:
        yield listener
    finally:
        pm.unregister(listener)
        pm.unregister(failing)


def _named(errors: list[dict[str, Any]], hook: str) -> None:
    assert [(e["plugin"], e["hook"], e["code"]) for e in errors] == [
        ("acme-failing", hook, "PLUGIN_ERROR")
    ]
    assert "CRM sync is down" in errors[0]["message"]


async def _contact(api: Any, email: str) -> dict[str, Any]:
    """A contact who allows bulk email (no "no bulk email allowed" points off)."""
    fields = {"email": email, "preferences": {"allowBulkEmail": True}}
    return (await api.gql(CREATE_CONTACT, {"i": fields}))["createContact"]


async def test_create_and_merge_are_announced_and_failures_named(api, plugins):
    a = await _contact(api, "ana@example.com")
    b = await _contact(api, "ana.lee@example.com")
    assert a["contact"]["email"] == "ana@example.com"  # stored whatever the plugin did
    _named(a["pluginErrors"], "leadgraph_contact_created")
    assert plugins.heard == [
        ("contact_created", "ana@example.com"),
        ("contact_created", "ana.lee@example.com"),
    ]
    ids = [a["contact"]["id"], b["contact"]["id"]]
    merged = (await api.gql(MERGE, {"s": ids[0], "d": [ids[1]]}))["mergeContacts"]
    assert merged["__typename"] == "MergePayload", merged
    _named(merged["pluginErrors"], "leadgraph_contact_merged")
    assert plugins.heard[2:] == [("contacts_merged", (oid_of(ids[0]), [oid_of(ids[1])]))]


async def _clicks(api: Any, contact_id: str, n: int) -> None:
    for _ in range(n):
        out = await api.gql(RECORD, {"i": {"contact": contact_id, "type": "EMAIL_CLICKED"}})
        assert out["recordInteraction"]["__typename"] == "InteractionPayload", out


async def test_linking_a_lead_scores_it_from_its_new_contacts_interactions(api, orphans_stay):
    contact = (await _contact(api, "bo@example.com"))["contact"]
    await _clicks(api, contact["id"], 2)
    lead = (await api.gql(CREATE_LEAD, {"i": {"topic": "Webinar"}}))["createLead"]["lead"]
    assert lead["scores"] == []  # an orphan lead cannot be scored
    out = (await api.gql(LINK, {"id": lead["id"], "c": contact["id"]}))["linkLead"]
    assert out["__typename"] == "LeadPayload", out
    assert out["lead"]["parentContact"] == {"id": contact["id"]}
    assert out["lead"]["scores"] == [{"model": "engagement", "score": 20}]  # 2 clicks, 10 each


async def test_a_merge_rescores_the_survivors_leads(api):
    survivor = (await _contact(api, "cy@example.com"))["contact"]
    duplicate = (await _contact(api, "cy.diaz@example.com"))["contact"]
    lead = (await api.gql(CREATE_LEAD, {"i": {"topic": "Trial", "parentContact": survivor["id"]}}))[
        "createLead"
    ]["lead"]
    await _clicks(api, duplicate["id"], 3)  # the duplicate's engagement, not yet the lead's
    base = {s["model"]: s["score"] for s in lead["scores"]}["engagement"]
    merged = (await api.gql(MERGE, {"s": survivor["id"], "d": [duplicate["id"]]}))["mergeContacts"]
    assert merged["__typename"] == "MergePayload", merged
    (node,) = [e["node"] for e in merged["contact"]["leads"]["edges"]]
    assert node["id"] == lead["id"] and node["scores"][0]["score"] == base + 30
