"""Segments may start from opportunities (seed 002; issue 20 point 2): a condition on
``opportunity.`` facts (stage, value, owner, ...) makes a contact a member when one of its
opportunities meets it, together with the contact's own facts; an opportunity with no contact
but an account reaches each of the account's contacts, as account-based leads do. The members
are exactly what a raw query on ``opportunities`` and ``contacts`` finds, the explanation names
the opportunity, and unknown opportunity fields (or values) are refused where they are written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bson import ObjectId
from click.testing import CliRunner
from foundation import create_lead, gid
from leadgraph.cli.main import cli
from shipped import SHIPPED

from .helpers import contact, create, members, membership

ACCOUNT = """mutation($i: CreateAccountInput!) { createAccount(input: $i) {
  ... on AccountPayload { account { id } } } }"""
READY = """mutation($id: ID!) { markSalesReady(id: $id) { __typename } }"""
ASSIGN = """mutation($id: ID!, $o: String) { assignLead(id: $id, owner: $o) { __typename } }"""
QUALIFY = """mutation($id: ID!, $v: Float) { qualifyLead(id: $id, value: $v) { __typename
  ... on LeadPayload { lead { opportunity { id } } } ... on ConflictError { message } } }"""
WON = """mutation($id: ID!) { markOpportunityWon(id: $id) { __typename } }"""
OPPORTUNITY_MEMBERSHIP = """query($c: ID!, $s: String!) {
  segmentMembership(contact: $c, segment: $s) {
    member conditions { path condition holds } lead opportunity } }"""


async def opportunity(api: Any, owner: str, value: float, won: bool = False, **parent: str) -> str:
    """A lead of ``parent`` (``parentContact=`` / ``parentAccount=``) qualified by sales into an
    opportunity of ``value`` owned by ``owner`` (won when ``won``); its global id."""
    lead = (await create_lead(api, topic="Fabrikam rollout", **parent))["id"]
    await api.gql(READY, {"id": lead})
    await api.gql(ASSIGN, {"id": lead, "o": owner})
    out = (await api.gql(QUALIFY, {"id": lead, "v": value}))["qualifyLead"]
    assert out["__typename"] == "LeadPayload", out
    opp = str(out["lead"]["opportunity"]["id"])
    if won:
        done = (await api.gql(WON, {"id": opp}))["markOpportunityWon"]
        assert done["__typename"] == "OpportunityPayload", done
    return opp


async def raw(api: Any, query: dict[str, Any], contacts: dict[str, Any] | None = None) -> list[str]:
    """The contacts a raw query finds: those of the matching opportunities that have a contact,
    and every contact of the account of those that have none (meeting ``contacts``)."""
    found = await api.db["opportunities"].find(query).to_list()
    own = {o["contactId"] for o in found if o["contactId"] is not None}
    accounts = [o["accountId"] for o in found if o["contactId"] is None and o["accountId"]]
    reach = {"$or": [{"_id": {"$in": list(own)}}, {"accountId": {"$in": accounts}}]}
    hit = await api.db["contacts"].find({"$and": [reach, contacts or {}]}).to_list()
    return sorted(gid("Contact", c["_id"]) for c in hit)


async def test_segments_on_opportunity_stage_value_and_owner(api: Any) -> None:
    made = await api.gql(ACCOUNT, {"i": {"name": "Fabrikam"}})
    account = made["createAccount"]["account"]["id"]
    boss = await contact(api, f"{ObjectId()}@fabrikam.com", account=account, role="DECISION_MAKER")
    user = await contact(api, f"{ObjectId()}@fabrikam.com", account=account, role="USER")
    dana = await contact(api, f"{ObjectId()}@else.example", role="DECISION_MAKER")
    alex = await contact(api, f"{ObjectId()}@other.example", role="USER")
    await contact(api, f"{ObjectId()}@nobody.example")  # no opportunity: never a member
    big = await opportunity(api, "Dana", 90000.0, won=True, parentContact=dana)
    await opportunity(api, "Alex", 12000.0, parentContact=alex)
    based = await opportunity(api, "Dana", 50000.0, parentAccount=account)  # no contact

    cases: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any] | None]] = [
        ("won", {"fact": "opportunity.stage", "value": "won"}, {"stage": "won"}, None),
        ("open", {"fact": "opportunity.stage", "value": "open"}, {"stage": "open"}, None),
        (
            "big",
            {"fact": "opportunity.value", "op": "gte", "value": 50000},
            {"value": {"$gte": 50000}},
            None,
        ),
        ("danas", {"fact": "opportunity.owner", "value": "Dana"}, {"owner": "Dana"}, None),
        (
            "open-deciders",  # the opportunity's and the contact's criteria together
            {
                "all": [
                    {"fact": "opportunity.stage", "value": "open"},
                    {"fact": "contact.role", "value": "decisionMaker"},
                ]
            },
            {"stage": "open"},
            {"role": "decisionMaker"},
        ),
        (
            "no-open",  # a `not`: contacts with an opportunity that is not open
            {"not": {"fact": "opportunity.stage", "value": "open"}},
            {"stage": {"$ne": "open"}},
            None,
        ),
    ]
    for name, where, query, of_contact in cases:
        out = await create(api, name=name, where=where)
        assert out["__typename"] == "SegmentPayload", out
        assert sorted(await members(api, name)) == await raw(api, query, of_contact), name
    assert await raw(api, {"stage": "won"}) == [dana]
    assert await raw(api, {"value": {"$gte": 50000}}) == sorted([boss, user, dana])
    assert await raw(api, {"stage": "open"}, {"role": "decisionMaker"}) == [boss]

    # the explanation names the opportunity that met the criteria
    why = (await api.gql(OPPORTUNITY_MEMBERSHIP, {"c": dana, "s": "big"}))["segmentMembership"]
    assert why["member"] is True and why["opportunity"] == big and why["lead"] is None
    assert why["conditions"] == [
        {"path": "where", "condition": "opportunity.value gte 50000", "holds": True}
    ]
    via = (await api.gql(OPPORTUNITY_MEMBERSHIP, {"c": user, "s": "big"}))["segmentMembership"]
    assert via["member"] is True and via["opportunity"] == based  # through the account
    no = await api.gql(OPPORTUNITY_MEMBERSHIP, {"c": user, "s": "open-deciders"})
    assert no["segmentMembership"]["member"] is False
    assert no["segmentMembership"]["opportunity"] is None
    assert (await membership(api, alex, "big"))["member"] is False


async def test_unknown_opportunity_fields_and_mixing_with_leads_are_refused(api: Any) -> None:
    typo = await create(api, name="t", where={"fact": "opportunity.stag", "value": "won"})
    assert typo["__typename"] == "ValidationError", typo
    assert typo["fields"][0]["field"] == "input.where.fact"
    said = typo["fields"][0]["message"]
    assert "unknown fact 'opportunity.stag'; did you mean opportunity.stage" in said
    bad = await create(api, name="t", where={"fact": "opportunity.stage", "value": "pending"})
    assert bad["fields"] == [
        {
            "field": "input.where.value",
            "message": "unknown opportunity stage 'pending'; expected one of: open, won, lost",
        }
    ]
    both = {
        "all": [
            {"fact": "lead.topic", "value": "x"},
            {"fact": "opportunity.stage", "value": "won"},
        ]
    }
    mixed = await create(api, name="t", where=both)
    assert mixed["fields"] == [
        {
            "field": "input.where.all.1.fact",
            "message": "a segment reads lead facts or opportunity facts, not both",
        }
    ]


DEALS = """segments:
  - name: big-open-deals
    where:
      all:
        - {fact: opportunity.stage, value: open}
        - {fact: opportunity.value, op: gte, value: 50000}
tests:
  - name: a contact with a big open opportunity is a member
    given:
      contact: {role: user}
      opportunities: [{stage: won, value: 90000}, {stage: open, value: 60000}]
    expect: {segments: {big-open-deals: true}}
  - name: a big one that was won is not
    given:
      contact: {role: user}
      opportunities: [{stage: won, value: 90000}, {stage: open, value: 100}]
    expect: {segments: {big-open-deals: false}}
"""


def test_rules_check_refuses_an_unknown_opportunity_field_with_its_line(tmp_path: Path) -> None:
    directory = tmp_path / "rules"
    directory.mkdir()
    for path in SHIPPED.glob("*.yaml"):
        (directory / path.name).write_bytes(path.read_bytes())
    (directory / "deals.yaml").write_text(
        "segments:\n"
        "  - name: won-deals\n"
        "    where: {fact: opportunity.stage, value: won}\n"
        "  - name: big-deals\n"
        "    where:\n"
        "      all:\n"
        "        - {fact: opportunity.amount, op: gte, value: 1000}\n"
        "        - {fact: contact.role, value: decisionMaker}\n"
    )
    result = CliRunner().invoke(
        cli,
        ["rules", "check", str(directory)],
        env={"MONGODB_URI": "", "LEADGRAPH_DATA_DIR": str(tmp_path / "no-data")},
    )
    assert result.exit_code == 1, result.output
    assert "deals.yaml:7:18: unknown fact 'opportunity.amount'" in result.output
    assert "deals.yaml:3" not in result.output  # opportunity.stage is known
    # the known field loads, and the file's tests give a contact its opportunities
    (directory / "deals.yaml").write_text(DEALS)
    ok = CliRunner().invoke(
        cli,
        ["rules", "check", str(directory)],
        env={"MONGODB_URI": "", "LEADGRAPH_DATA_DIR": str(tmp_path / "no-data")},
    )
    assert ok.exit_code == 0, ok.output
    (directory / "deals.yaml").write_text(DEALS.replace("deals: false", "deals: true"))
    wrong = CliRunner().invoke(
        cli,
        ["rules", "check", str(directory)],
        env={"MONGODB_URI": "", "LEADGRAPH_DATA_DIR": str(tmp_path / "no-data")},
    )
    assert wrong.exit_code == 1, wrong.output
    assert "segment big-open-deals: expected member=True, got False" in wrong.output
