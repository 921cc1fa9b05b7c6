"""The hand-off to sales over GraphQL: owners and "sales accepted", stage fields, opportunities
from qualification, leads created by sales, and the admin's override."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from bson import ObjectId
from foundation import create_contact, create_lead, gid, oid_of
from leadgraph import hookimpl
from leadgraph.events import LeadAssigned, LeadQualified, OpportunityClosed
from test_subscriptions import recv, subscribed

LEAD = """
  __typename
  ... on LeadPayload { lead { id stage status owner marketingSource
      salesAccepted { owner by at }
      stageFields { stage name value }
      stageHistory { stage reason by transition override owner }
      opportunity { id topic value owner stage contact { id } account { id } lead { id } } }
    pluginErrors { plugin } }
  ... on ValidationError { field fields { field message } }
  ... on ConflictError { message }
  ... on ForbiddenError { permission role }
  ... on NotFoundError { id }
"""

OPPORTUNITY = """
  __typename
  ... on OpportunityPayload { opportunity { id stage value owner closedBy closeReason } }
  ... on ValidationError { field }
  ... on ConflictError { message }
  ... on ForbiddenError { permission }
  ... on NotFoundError { id }
"""


async def call(api: Any, mutation: str, role: str = "admin", **variables: Any) -> dict[str, Any]:
    """Run one mutation (``name(args)``, variables declared from ``variables``' names)."""
    name = mutation.split("(")[0]
    decl = ", ".join(f"${k}: {t}" for k, t in _types(name, variables).items())
    selection = OPPORTUNITY if "Opportunity" in name else LEAD
    query = f"mutation{f'({decl})' if decl else ''} {{ {mutation} {{ {selection} }} }}"
    return dict((await api.gql(query, variables, role=role))[name])


def _types(mutation: str, variables: dict[str, Any]) -> dict[str, str]:
    kinds = {"id": "ID!", "to": "String!", "fields": "JSON", "value": "Float"}
    if mutation == "setLeadStageFields":
        kinds["fields"] = "JSON!"
    return {k: kinds.get(k, "String") for k in variables}


async def lead_in_marketing(api: Any) -> tuple[str, str, str]:
    """A contact (of an account) with a lead in automated marketing qualification:
    ``(account id, contact id, lead id)``."""
    account = await api.db["accounts"].insert_one(
        {"name": "Contoso", "numberOfEmployees": 1200, "createdAt": datetime.now(UTC)}
    )
    account_id = gid("Account", account.inserted_id)
    contact = await create_contact(
        api,
        lastName="Moreau",
        email=f"{ObjectId()}@contoso.com",
        role="USER",
        account=account_id,
        marketingOnly=True,
    )
    lead = await create_lead(api, "id stage", topic="Contoso Ltd Conference", parentContact=contact)
    assert lead["stage"] == "automated_marketing_qualification"
    return account_id, contact, lead["id"]


async def lead_at_sales_acceptance(api: Any) -> tuple[str, str, str]:
    """As :func:`lead_in_marketing`, moved to sales acceptance by its score (automatically)."""
    account, contact, lead = await lead_in_marketing(api)
    got = await call(api, "markSalesReady(id: $id)", id=lead)
    assert got["lead"]["stage"] == "sales_acceptance"
    return account, contact, lead


async def accepted_lead(api: Any, role: str = "admin") -> tuple[str, str, str]:
    """As :func:`lead_at_sales_acceptance`, accepted by sales (an owner: the ``role``'s key)."""
    account, contact, lead = await lead_at_sales_acceptance(api)
    got = await call(api, "assignLead(id: $id)", role=role, id=lead)
    assert got["lead"]["salesAccepted"] is not None, got
    return account, contact, lead


async def stored(api: Any, lead: str) -> dict[str, Any]:
    doc = await api.db["leads"].find_one({"_id": oid_of(lead)})
    assert doc is not None
    return dict(doc)


# ---------------------------------------------------------------- owner and "sales accepted"


async def test_assign_lead_gives_the_caller_or_a_named_salesperson(api):
    _, _, lead = await lead_in_marketing(api)
    mine = await call(api, "assignLead(id: $id)", role="sales", id=lead)
    assert mine["lead"]["owner"] == "test sales"
    # not at the acceptance stage: an owner, but not "sales accepted"
    assert mine["lead"]["salesAccepted"] is None
    assert [h["transition"] for h in mine["lead"]["stageHistory"]][-1] == "scored"

    named = await call(api, "assignLead(id: $id, owner: $owner)", id=lead, owner=" Dana Scully ")
    assert named["lead"]["owner"] == "Dana Scully"
    data = await api.gql('{ leads(filter: {owner: "Dana Scully"}) { nodes { id } } }')
    assert data["leads"]["nodes"] == [{"id": lead}]

    blank = await call(api, "assignLead(id: $id, owner: $owner)", id=lead, owner="  ")
    assert blank["__typename"] == "ValidationError" and blank["field"] == "owner"
    denied = await call(api, "assignLead(id: $id)", role="read-only", id=lead)
    assert denied == {
        "__typename": "ForbiddenError",
        "permission": "leads:stage",
        "role": "read-only",
    }
    assert (await stored(api, lead))["owner"] == "Dana Scully"


async def test_assigning_at_sales_acceptance_records_sales_accepted_once(api):
    _, _, lead = await lead_at_sales_acceptance(api)
    before = await stored(api, lead)
    assert "salesAccepted" not in before  # reached by its score: waiting for sales

    got = (await call(api, "assignLead(id: $id, owner: $owner)", id=lead, owner="Dana"))["lead"]
    assert got["owner"] == "Dana"
    assert got["salesAccepted"]["owner"] == "Dana" and got["salesAccepted"]["by"] == "test admin"
    assert got["stageHistory"][-1] == {
        "stage": "sales_acceptance",
        "reason": "sales accepted",
        "by": "test admin",
        "transition": "sales_accepted",
        "override": False,
        "owner": "Dana",
    }
    # a new owner later is a re-assignment, not a second acceptance
    again = (await call(api, "assignLead(id: $id, owner: $owner)", id=lead, owner="Fox"))["lead"]
    assert again["owner"] == "Fox" and again["salesAccepted"]["owner"] == "Dana"
    assert len(again["stageHistory"]) == len(got["stageHistory"])
    data = await api.gql(
        '{ leads(filter: {stage: "sales_acceptance", owner: "Fox"}) { totalCount } }'
    )
    assert data["leads"]["totalCount"] == 1


async def test_entering_sales_acceptance_by_hand_assigns_the_caller(api):
    _, _, lead = await lead_in_marketing(api)
    got = await call(
        api,
        "moveLeadStage(id: $id, to: $to, override: true, reason: $reason, fields: $fields)",
        id=lead,
        to="sales_acceptance",
        reason="met at the fair",
        fields={"timeframe": "immediate"},
    )
    got = got["lead"]
    assert got["owner"] == "test admin" and got["salesAccepted"]["by"] == "test admin"
    assert [h["transition"] for h in got["stageHistory"]][-2:] == [
        "manual_override",
        "sales_accepted",
    ]
    # sent back to marketing: no longer accepted, still owned
    back = await call(api, "moveLeadStage(id: $id, to: $to)", id=lead, to="send_back_to_marketing")
    assert back["lead"]["stage"] == "automated_marketing_qualification"
    assert back["lead"]["salesAccepted"] is None and back["lead"]["owner"] == "test admin"


# ---------------------------------------------------------------- stage fields


async def test_stage_fields_are_checked_and_nothing_is_written_on_error(api):
    _, _, lead = await lead_in_marketing(api)
    before = await stored(api, lead)
    move = "moveLeadStage(id: $id, to: $to, override: true, reason: $reason, fields: $fields)"
    bad: list[tuple[dict[str, Any], dict[str, str]]] = [
        ({}, {"fields.timeframe": "is required at stage 'sales_acceptance'"}),
        (
            {"budget": "lots", "timeframe": "soon", "mood": "happy"},
            {
                "fields.budget": "must be a number, got str",
                "fields.timeframe": "must be one of",
                "fields.mood": "has no such field",
            },
        ),
        ({"timeframe": "immediate", "budget": True}, {"fields.budget": "must be a number"}),
        # the call notes are teleprospecting qualification's (seed 001), not sales acceptance's
        ({"timeframe": "immediate", "callNotes": "x"}, {"fields.callNotes": "has no such field"}),
    ]
    for fields, expected in bad:
        got = await call(api, move, id=lead, to="sales_acceptance", reason="r", fields=fields)
        assert got["__typename"] == "ValidationError", got
        messages = {e["field"]: e["message"] for e in got["fields"]}
        assert set(messages) == set(expected)
        for field, text in expected.items():
            assert text in messages[field]
    after = await stored(api, lead)
    assert after["stage"] == before["stage"] and after["rev"] == before["rev"]
    assert after["stageHistory"] == before["stageHistory"] and "stageFields" not in after

    fields = {"budget": 25000, "timeframe": "this_quarter"}
    got = await call(api, move, id=lead, to="sales_acceptance", reason="r", fields=fields)
    shown = {(f["stage"], f["name"]): f["value"] for f in got["lead"]["stageFields"]}
    assert shown == {
        ("sales_acceptance", "budget"): 25000,
        ("sales_acceptance", "timeframe"): "this_quarter",
    }


async def test_stage_fields_on_a_by_hand_move_and_for_the_current_stage(api):
    _, _, lead = await lead_in_marketing(api)
    await call(api, "markTeleprospectReady(id: $id)", id=lead)
    wrong = await call(
        api,
        "moveLeadStage(id: $id, to: $to, fields: $fields)",
        id=lead,
        to="teleprospecting_qualification",
        fields={"callDate": "tomorrow"},
    )
    assert wrong["__typename"] == "ValidationError" and wrong["field"] == "fields.callDate"
    assert (await stored(api, lead))["stage"] == "teleprospecting_acceptance"
    got = await call(
        api,
        "moveLeadStage(id: $id, to: $to, fields: $fields)",
        role="sales",
        id=lead,
        to="teleprospecting_qualification",
        fields={"callDate": "2026-12-01", "callNotes": "Call went well"},
    )
    assert got["lead"]["stageFields"] == [
        {"stage": "teleprospecting_qualification", "name": "callDate", "value": "2026-12-01"},
        {"stage": "teleprospecting_qualification", "name": "callNotes", "value": "Call went well"},
    ]
    assert (await stored(api, lead))["stageFields"]["teleprospecting_qualification"] == {
        "callDate": datetime(2026, 12, 1, tzinfo=UTC),  # stored as a date, queryable as one
        "callNotes": "Call went well",
    }

    # reached automatically (sales-ready): its fields are recorded where it now is
    await call(api, "markSalesReady(id: $id)", id=lead)
    record = "setLeadStageFields(id: $id, fields: $fields)"
    missing = await call(api, record, id=lead, fields={"budget": 9000})
    assert missing["__typename"] == "ValidationError" and missing["field"] == "fields.timeframe"
    got = await call(api, record, id=lead, fields={"budget": 9000, "timeframe": "this_year"})
    values = {(f["stage"], f["name"]): f["value"] for f in got["lead"]["stageFields"]}
    assert values == {
        ("teleprospecting_qualification", "callDate"): "2026-12-01",
        ("teleprospecting_qualification", "callNotes"): "Call went well",
        ("sales_acceptance", "budget"): 9000,
        ("sales_acceptance", "timeframe"): "this_year",
    }
    cleared = await call(api, record, id=lead, fields={"budget": None})
    assert ("sales_acceptance", "budget") not in {
        (f["stage"], f["name"]) for f in cleared["lead"]["stageFields"]
    }


async def test_the_lifecycle_query_shows_the_stage_fields(api):
    data = await api.gql(
        "{ leadLifecycle { stages { name fields { name type required values label } } } }"
    )
    stages = {s["name"]: s["fields"] for s in data["leadLifecycle"]["stages"]}
    assert [f["name"] for f in stages["teleprospecting_qualification"]] == [
        "callDate",
        "callNotes",
    ]
    assert [f["name"] for f in stages["sales_acceptance"]] == ["budget", "timeframe"]
    timeframe = stages["sales_acceptance"][1]
    assert timeframe["type"] == "enum" and timeframe["required"] is True
    assert "this_quarter" in timeframe["values"]
    assert stages["inquiry"] == []


# ---------------------------------------------------------------- opportunities


async def test_qualification_creates_an_opportunity_from_sales_acceptance_only(api):
    account, contact, lead = await lead_in_marketing(api)
    early = await call(api, "qualifyLead(id: $id)", id=lead)
    assert early["__typename"] == "ConflictError" and "sales_acceptance" in early["message"]
    assert await api.db["opportunities"].count_documents({}) == 0
    assert (await stored(api, lead))["status"] == "open"

    await call(api, "markSalesReady(id: $id)", id=lead)
    await call(api, "assignLead(id: $id, owner: $owner)", id=lead, owner="Dana")
    got = await call(
        api,
        "qualifyLead(id: $id, value: $value, reason: $reason)",
        id=lead,
        value=50000.0,
        reason="budget confirmed",
    )
    assert got["lead"]["status"] == "QUALIFIED"
    opp = got["lead"]["opportunity"]
    assert opp["topic"] == "Contoso Ltd Conference" and opp["value"] == 50000
    assert opp["owner"] == "Dana" and opp["stage"] == "OPEN"
    assert opp["contact"] == {"id": contact} and opp["account"] == {"id": account}
    assert opp["lead"] == {"id": lead}
    contact_doc = await api.db["contacts"].find_one({"_id": oid_of(contact)})
    assert contact_doc["marketingOnly"] is False  # in the same transaction

    again = await call(api, "qualifyLead(id: $id)", id=lead)
    assert again["__typename"] == "ConflictError"
    assert await api.db["opportunities"].count_documents({}) == 1

    query = """query($o: ID!, $c: ID!, $a: ID!) {
      opportunity(id: $o) { id topic }
      node(id: $o) { ... on Opportunity { id stage } }
      opportunities(filter: {stage: OPEN, owner: "Dana"}) { totalCount nodes { id } }
      contact(id: $c) { opportunities { nodes { id } } }
      account(id: $a) { opportunities { totalCount nodes { id lead { id } } } }
    }"""
    data = await api.gql(query, {"o": opp["id"], "c": contact, "a": account})
    assert data["opportunity"] == {"id": opp["id"], "topic": "Contoso Ltd Conference"}
    assert data["node"] == {"id": opp["id"], "stage": "OPEN"}
    assert data["opportunities"] == {"totalCount": 1, "nodes": [{"id": opp["id"]}]}
    assert data["contact"]["opportunities"]["nodes"] == [{"id": opp["id"]}]
    assert data["account"]["opportunities"] == {
        "totalCount": 1,
        "nodes": [{"id": opp["id"], "lead": {"id": lead}}],
    }


async def test_two_qualifications_at_once_make_one_opportunity(api):
    _, _, lead = await accepted_lead(api)
    results = await asyncio.gather(*(call(api, "qualifyLead(id: $id)", id=lead) for _ in range(4)))
    kinds = sorted(r["__typename"] for r in results)
    assert kinds == ["ConflictError"] * 3 + ["LeadPayload"]
    assert await api.db["opportunities"].count_documents({}) == 1


async def test_opportunities_are_won_or_lost_once(api):
    opps = []
    for _ in range(2):
        _, _, lead = await accepted_lead(api, role="sales")
        got = await call(api, "qualifyLead(id: $id)", role="sales", id=lead)
        opps.append(got["lead"]["opportunity"])
    assert opps[0]["owner"] == "test sales"  # no owner on the lead: the caller

    won, lost = opps[0]["id"], opps[1]["id"]
    denied = await call(api, "markOpportunityWon(id: $id)", role="marketer", id=won)
    assert denied == {"__typename": "ForbiddenError", "permission": "opportunities:write"}
    negative = await call(api, "markOpportunityWon(id: $id, value: $value)", id=won, value=-1.0)
    assert negative == {"__typename": "ValidationError", "field": "value"}
    got = await call(
        api, "markOpportunityWon(id: $id, value: $value)", role="sales", id=won, value=42000.0
    )
    assert got["opportunity"] == {
        "id": won,
        "stage": "WON",
        "value": 42000,
        "owner": "test sales",
        "closedBy": "test sales",
        "closeReason": None,
    }
    twice = await call(api, "markOpportunityLost(id: $id)", id=won)
    assert twice["__typename"] == "ConflictError" and "won" in twice["message"]
    got = await call(api, "markOpportunityLost(id: $id, reason: $reason)", id=lost, reason="price")
    assert got["opportunity"]["stage"] == "LOST" and got["opportunity"]["closeReason"] == "price"
    missing = await call(api, "markOpportunityLost(id: $id)", id=gid("Opportunity", ObjectId()))
    assert missing["__typename"] == "NotFoundError"
    wrong_kind = await call(api, "markOpportunityLost(id: $id)", id=gid("Lead", ObjectId()))
    assert wrong_kind["__typename"] == "ValidationError"

    data = await api.gql(
        "{ won: opportunities(filter: {stage: WON}) { nodes { id } } "
        "lost: opportunities(filter: {stage: LOST}) { nodes { id } } }"
    )
    assert data == {"won": {"nodes": [{"id": won}]}, "lost": {"nodes": [{"id": lost}]}}


class Heard:
    """A partner plugin keeping the hand-off events it hears."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    @hookimpl
    def leadgraph_lead_qualified(self, event: LeadQualified) -> None:
        by = event.actor.name if event.actor else None
        self.events.append(("qualified", ("qualified", event.lead_id, by)))

    @hookimpl
    def leadgraph_lead_assigned(self, event: LeadAssigned) -> None:
        self.events.append(("assigned", (event.lead_id, event.owner, event.accepted)))

    @hookimpl
    def leadgraph_opportunity_closed(self, event: OpportunityClosed) -> None:
        self.events.append(("closed", (event.lead_id, event.stage)))


@pytest.fixture
def heard(server: Any) -> Iterator[Heard]:
    pm = server.state.leadgraph.pm
    plugin = Heard()
    pm.register(plugin, name="acme-handoff")
    try:
        yield plugin
    finally:
        pm.unregister(plugin)


async def test_hand_off_events_reach_plugins(api, heard):
    _, _, lead = await lead_at_sales_acceptance(api)
    await call(api, "assignLead(id: $id, owner: $owner)", id=lead, owner="Dana")
    got = await call(api, "qualifyLead(id: $id)", id=lead)
    await call(api, "markOpportunityWon(id: $id)", id=got["lead"]["opportunity"]["id"])
    oid = oid_of(lead)
    assert heard.events == [
        ("assigned", (oid, "Dana", True)),
        ("qualified", ("qualified", oid, "test admin")),
        ("closed", (oid, "won")),
    ]


async def test_lead_qualified_is_pushed_to_subscribers(api):
    query = 'subscription { leadQualified(owner: "Dana") { id topic owner lead { id } } }'
    danas = []
    async with subscribed(api, query) as ws:
        message = None
        for _ in range(20):  # the change stream opens asynchronously: qualify until one arrives
            fox = (await accepted_lead(api))[2]
            dana = (await accepted_lead(api))[2]
            # another owner's opportunity is not pushed to this subscriber
            await call(api, "qualifyLead(id: $id, owner: $owner)", id=fox, owner="Fox")
            await call(api, "qualifyLead(id: $id, owner: $owner)", id=dana, owner="Dana")
            danas.append(dana)
            try:
                message = await recv(ws, timeout=0.5)
                break
            except TimeoutError:
                continue
        assert message is not None and message["type"] == "next", message
        pushed = message["payload"]["data"]["leadQualified"]
        assert pushed["owner"] == "Dana" and pushed["topic"] == "Contoso Ltd Conference"
        assert pushed["lead"]["id"] in danas
        await ws.send(json.dumps({"id": "1", "type": "complete"}))


# ---------------------------------------------------------------- leads created by sales


async def test_leads_created_by_sales_start_at_sales_acceptance(api, orphans_stay):
    by_admin = await create_lead(api, "stage owner salesAccepted { by }", topic="Cold call")
    assert by_admin == {"stage": "inquiry", "owner": None, "salesAccepted": None}

    data = await api.gql(
        """mutation { createLead(input: {topic: "Met at a trade fair"}) {
             ... on LeadPayload { lead { stage owner salesAccepted { owner by }
                 stageHistory { stage transition } } } } }""",
        role="sales",
    )
    lead = data["createLead"]["lead"]
    assert lead["stage"] == "sales_acceptance"
    assert lead["owner"] == "test sales"
    assert lead["salesAccepted"] == {"owner": "test sales", "by": "test sales"}
    assert lead["stageHistory"] == [
        {"stage": "sales_acceptance", "transition": None},
        {"stage": "sales_acceptance", "transition": "sales_accepted"},
    ]

    # a marketer registering a lead whose marketing source is sales
    data = await api.gql(
        """mutation { createLead(input: {topic: "Referral", marketingSource: "sales"}) {
             ... on LeadPayload { lead { stage marketingSource owner } } } }""",
        role="marketer",
    )
    assert data["createLead"]["lead"] == {
        "stage": "sales_acceptance",
        "marketingSource": "sales",
        "owner": "test marketer",
    }
    data = await api.gql(
        """mutation { createLead(input: {topic: "Webinar", marketingSource: "webinar"}) {
             ... on LeadPayload { lead { stage owner } } } }""",
        role="marketer",
    )
    assert data["createLead"]["lead"] == {"stage": "inquiry", "owner": None}


async def test_imported_leads_from_sales_start_at_sales_acceptance_unaccepted(api):
    csv = (
        "email,lastName,topic,marketingSource\n"
        "a@example.com,Ek,Fair,sales\n"
        "b@example.com,Oh,Web,web\n"
    )
    out = await api.gql(
        """mutation($i: ImportInput!) { importRecords(input: $i) {
             ... on ImportSummary { created } } }""",
        {"i": {"kind": "LEADS", "data": csv, "format": "CSV"}},
    )
    assert out["importRecords"]["created"] == 2
    by_source = {d["marketingSource"]: d async for d in api.db["leads"].find({})}
    assert by_source["sales"]["stage"] == "sales_acceptance"
    assert "salesAccepted" not in by_source["sales"]  # no person created it: waits for sales
    assert by_source["web"]["stage"] != "sales_acceptance"


# ---------------------------------------------------------------- admin override


async def test_admin_override_moves_anywhere_with_a_reason_others_are_refused(api):
    _, _, lead = await lead_in_marketing(api)
    before = await stored(api, lead)
    move = "moveLeadStage(id: $id, to: $to, override: true, reason: $reason)"
    for role in ("sales", "marketer"):
        denied = await call(api, move, role=role, id=lead, to="inquiry", reason="typo")
        assert denied == {
            "__typename": "ForbiddenError",
            "permission": "leads:override",
            "role": role,
        }
    no_reason = await call(
        api, "moveLeadStage(id: $id, to: $to, override: true)", id=lead, to="inquiry"
    )
    assert no_reason["__typename"] == "ValidationError" and no_reason["field"] == "reason"
    not_a_stage = await call(api, move, id=lead, to="send_back_to_marketing", reason="x")
    assert not_a_stage["__typename"] == "ValidationError" and not_a_stage["field"] == "to"
    same = await call(api, move, id=lead, to="automated_marketing_qualification", reason="x")
    assert same["__typename"] == "ConflictError"
    after = await stored(api, lead)
    assert after["rev"] == before["rev"] and after["stageHistory"] == before["stageHistory"]

    # no transition leads back to inquiry: only an admin's override does
    plain = await call(api, "moveLeadStage(id: $id, to: $to)", id=lead, to="inquiry")
    assert plain["__typename"] == "ConflictError"
    got = await call(api, move, id=lead, to="inquiry", reason="linked to the wrong contact")
    assert got["lead"]["stage"] == "inquiry"
    assert got["lead"]["stageHistory"][-1] == {
        "stage": "inquiry",
        "reason": "linked to the wrong contact",
        "by": "test admin",
        "transition": "manual_override",
        "override": True,
        "owner": None,
    }


async def test_opportunities_follow_their_contact_through_a_merge_and_its_undo(api):
    _, duplicate, lead = await accepted_lead(api)
    opp = (await call(api, "qualifyLead(id: $id)", id=lead))["lead"]["opportunity"]["id"]
    survivor = await create_contact(api, lastName="Moreau", email=f"{ObjectId()}@contoso.com")
    merged = await api.gql(
        """mutation($s: ID!, $d: [ID!]!) { mergeContacts(survivorId: $s, duplicateIds: $d) {
             ... on MergePayload { merge { id } } } }""",
        {"s": survivor, "d": [duplicate]},
    )
    query = """query($o: ID!, $c: ID!) { opportunity(id: $o) { contact { id } }
                 contact(id: $c) { opportunities { totalCount } } }"""
    data = await api.gql(query, {"o": opp, "c": survivor})
    assert data == {
        "opportunity": {"contact": {"id": survivor}},
        "contact": {"opportunities": {"totalCount": 1}},
    }
    await api.gql(
        "mutation($m: String!) { undoMerge(mergeId: $m) { __typename } }",
        {"m": merged["mergeContacts"]["merge"]["id"]},
    )
    data = await api.gql(query, {"o": opp, "c": survivor})
    assert data == {
        "opportunity": {"contact": {"id": duplicate}},
        "contact": {"opportunities": {"totalCount": 0}},
    }
