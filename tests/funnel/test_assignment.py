"""Assignment rules (``lifecycle.assignment``) over GraphQL on HTTP: a lead reaching sales
acceptance by its score gets an owner by territory, least loaded or round robin (the turn kept
in the database, exact under concurrent arrivals); no rule, no owner; an owner stays; a bad
rule file is refused with its file and line and the live rules stay."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from conftest import Api
from foundation import create_contact, create_lead, oid_of
from rules.helpers import copy_rules
from rules.live import live_server, reload_rules

ASSIGNMENT = """\
  assignment:
    - name: emea
      where: {fact: account.country, op: in, value: [FR, DE]}
      owner: Marie
    - name: enterprise
      where: {fact: account.numberOfEmployees, op: gte, value: 5000}
      least_loaded: [Lin, Sam]
    - name: americas
      where: {fact: account.country, op: in, value: [US, CA]}
      round_robin: [Ann, Bob]
    - name: referrals
      when: created
      where: {fact: lead.topic, value: Partner referral}
      owner: Pat
    - name: fairs
      when: scored
      where: {fact: lead.topic, value: Trade fair}
      owner: Tess
"""
LEAD = "id stage owner stageHistory { stage reason by transition owner }"


def with_assignment(rules: Path, block: str) -> None:
    """Put ``block`` into the lifecycle section of ``rules``' lifecycle.yaml."""
    path = rules / "lifecycle.yaml"
    text = path.read_text()
    anchor = "  accept_at: sales_acceptance\n"
    assert anchor in text
    path.write_text(text.replace(anchor, anchor + block))


@pytest.fixture
async def assigning(db, mongo_client, mongo_uri, tmp_path) -> AsyncIterator[Api]:
    rules = copy_rules(tmp_path / "rules")
    with_assignment(rules, ASSIGNMENT)
    async with live_server(rules, db, mongo_client, mongo_uri) as (api, _state):
        assert (await reload_rules(api))["errors"] == []
        yield api


async def lead_in_marketing(api: Api, country: str, employees: int = 1200) -> str:
    """A lead in automated marketing qualification of a contact of an account in ``country``."""
    data = await api.gql(
        """mutation($i: CreateAccountInput!) { createAccount(input: $i) {
           ... on AccountPayload { account { id } } } }""",
        {"i": {"name": f"Acme {country}", "numberOfEmployees": employees, "country": country}},
    )
    account = data["createAccount"]["account"]["id"]
    contact = await create_contact(
        api, lastName="Moreau", email=f"{ObjectId()}@acme.example", account=account
    )
    lead = await create_lead(api, "id stage", topic="Webinar", parentContact=contact)
    assert lead["stage"] == "automated_marketing_qualification"
    return str(lead["id"])


async def sales_ready(api: Api, lead: str) -> dict[str, Any]:
    """``markSalesReady``: the lead reaches sales acceptance automatically."""
    data = await api.gql(
        "mutation($id: ID!) { markSalesReady(id: $id) { ... on LeadPayload { lead { "
        + LEAD
        + " } } } }",
        {"id": lead},
    )
    got = dict(data["markSalesReady"]["lead"])
    assert got["stage"] == "sales_acceptance"
    return got


async def assign_by_hand(api: Api, lead: str, owner: str) -> None:
    data = await api.gql(
        """mutation($id: ID!, $o: String) { assignLead(id: $id, owner: $o) {
           ... on LeadPayload { lead { owner } } } }""",
        {"id": lead, "o": owner},
    )
    assert data["assignLead"]["lead"]["owner"] == owner


def turn(entry: dict[str, Any]) -> int:
    found = re.search(r"turn (\d+)", entry["reason"])
    assert found, entry
    return int(found.group(1))


async def test_a_territory_gets_its_owner_recorded_with_its_event(assigning):
    api = assigning
    lead = await sales_ready(api, await lead_in_marketing(api, "FR"))
    assert lead["owner"] == "Marie"
    assert lead["stageHistory"][-1] == {
        "stage": "sales_acceptance",
        "reason": "assignment rule 'emea': owner",
        "by": None,
        "transition": "assigned",
        "owner": "Marie",
    }
    events = await api.db["events"].find({"type": "lead.assigned"}).to_list()
    assert [(e["record"]["id"], e["data"]["owner"], e["data"]["rule"]) for e in events] == [
        (oid_of(lead["id"]), "Marie", "emea")
    ]
    # assigned, not accepted: sales still accepts it
    stored = await api.db["leads"].find_one({"_id": oid_of(lead["id"])})
    assert stored is not None and stored["owner"] == "Marie" and not stored.get("salesAccepted")


async def test_round_robin_alternates_exactly_under_concurrent_arrivals(assigning):
    api = assigning
    leads = [await lead_in_marketing(api, "US") for _ in range(6)]
    got = await asyncio.gather(*(sales_ready(api, lead) for lead in leads))
    entries = sorted((turn(g["stageHistory"][-1]), g["owner"]) for g in got)
    assert entries == [(n, ["Ann", "Bob"][(n - 1) % 2]) for n in range(1, 7)]
    # the turn lives in the database: the next lead takes turn 7
    seventh = await sales_ready(api, await lead_in_marketing(api, "CA"))
    assert (turn(seventh["stageHistory"][-1]), seventh["owner"]) == (7, "Ann")


async def test_least_loaded_takes_the_owner_with_fewest_open_leads(assigning):
    api = assigning
    await assign_by_hand(api, await lead_in_marketing(api, "JP"), "Lin")
    first = await sales_ready(api, await lead_in_marketing(api, "JP", employees=9000))
    assert first["owner"] == "Sam"  # Lin has one open lead, Sam none
    second = await sales_ready(api, await lead_in_marketing(api, "JP", employees=9000))
    assert second["owner"] == "Lin"  # one each: the first listed
    assert second["stageHistory"][-1]["reason"] == (
        "assignment rule 'enterprise': least loaded (1 open lead(s))"
    )


async def test_a_named_trigger_assigns_a_new_lead(assigning):
    api = assigning
    contact = await create_contact(api, lastName="Ng", email=f"{ObjectId()}@acme.example")
    lead = await create_lead(api, LEAD, topic="Partner referral", parentContact=contact)
    assert lead["stage"] == "automated_marketing_qualification"
    assert lead["owner"] == "Pat"
    assert lead["stageHistory"][-1]["reason"] == "assignment rule 'referrals': owner"
    other = await create_lead(api, LEAD, topic="Webinar", parentContact=contact)
    assert other["owner"] is None
    # every run that scores fires `scored` (here: the new lead's first score)
    fair = await create_lead(api, LEAD, topic="Trade fair", parentContact=contact)
    assert fair["owner"] == "Tess"
    assert fair["stageHistory"][-1]["reason"] == "assignment rule 'fairs': owner"


async def test_two_server_processes_share_the_turn(
    assigning, db, mongo_client, mongo_uri, tmp_path
):
    api = assigning
    leads = [await lead_in_marketing(api, "US") for _ in range(6)]
    async with live_server(tmp_path / "rules", db, mongo_client, mongo_uri) as (other, _state):
        got = await asyncio.gather(
            *(sales_ready(api if i % 2 else other, lead) for i, lead in enumerate(leads))
        )
    entries = sorted((turn(g["stageHistory"][-1]), g["owner"]) for g in got)
    assert entries == [(n, ["Ann", "Bob"][(n - 1) % 2]) for n in range(1, 7)]


async def test_no_rule_no_owner_and_an_owner_stays(assigning):
    api = assigning
    nobody = await sales_ready(api, await lead_in_marketing(api, "JP"))
    assert nobody["owner"] is None
    assert nobody["stageHistory"][-1]["transition"] == "sales_ready"

    owned = await lead_in_marketing(api, "FR")
    await assign_by_hand(api, owned, "Zed")
    kept = await sales_ready(api, owned)
    assert kept["owner"] == "Zed"
    assert "assigned" not in [h["transition"] for h in kept["stageHistory"]]
    assert await api.db["events"].count_documents({"data.rule": {"$ne": None}}) == 0


async def test_a_bad_assignment_rule_is_refused_with_its_line(assigning, tmp_path):
    api = assigning
    rules = tmp_path / "rules"
    path = rules / "lifecycle.yaml"
    good = path.read_text()
    bad = good.replace("      owner: Marie\n", "      owner: Marie\n      round_robin: [Ann]\n")
    path.write_text(bad)
    status = await reload_rules(api)
    rule_line = bad.splitlines().index("    - name: emea") + 1
    found = [(Path(e["file"]).name, e["line"], e["message"]) for e in status["errors"]]
    assert len(found) == 1, found
    assert found[0][:2] == ("lifecycle.yaml", rule_line), found
    assert "exactly one of round_robin, owner, least_loaded (got round_robin, owner)" in found[0][2]
    # the live rules stay: the territory rule still assigns
    lead = await sales_ready(api, await lead_in_marketing(api, "DE"))
    assert lead["owner"] == "Marie"


async def test_the_demo_seed_assigns_its_new_leads(db, tmp_path):
    from leadgraph.rules.manager import RulesManager
    from leadgraph.services import Services
    from leadgraph.services.seed import seed_demo

    rules = copy_rules(tmp_path / "rules")
    rule = "  assignment:\n    - {name: all, when: created, round_robin: [Ann, Bob]}\n"
    with_assignment(rules, rule)
    manager = RulesManager(rules)
    assert manager.reload() and manager.current is not None, manager.errors
    funnel = Services(db, manager.current, manager.pm).funnel
    counts = await seed_demo(db, n_contacts=12, interactions_per_contact=2, funnel=funnel)
    owners = [d.get("owner") for d in await db["leads"].find().to_list()]
    assert len(owners) == counts["leads"] > 0
    assert set(owners) == {"Ann", "Bob"}
    assert abs(owners.count("Ann") - owners.count("Bob")) <= 1
    assert await db["events"].count_documents({"data.rule": "all"}) == len(owners)
