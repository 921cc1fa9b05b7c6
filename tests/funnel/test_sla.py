"""Stage SLAs (``lifecycle.stages[].sla``) over GraphQL on HTTP: the due date a lead gets on
entering a stage, ``leads(filter: {slaBreached})``, the scheduler's breaches acted on once (two
rounds at once, two processes, a restart after breaches fell due), a move through the
lifecycle's transition and guard with its history, a reassignment by an assignment rule, the
``lead.sla_breached`` event in the audit log and a webhook's queue, a bad duration refused with
its file and line while the live rules stay, and a changed SLA restated on reload.

Time passes by the test clock (``clock.advance``), never by sleeping; the scheduler's rounds
are run by the tests (the servers' own poll is an hour)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from conftest import Api
from foundation import create_contact, create_lead, oid_of
from leadgraph.services.sla import breach_round
from leadgraph.store import leases
from leadgraph.store.clock import ManualClock
from leadgraph.web import sla_scheduler
from leadgraph.web.state import AppState
from rules.helpers import copy_rules
from rules.live import live_server, reload_rules
from webhooks.helpers import create as create_webhook
from webhooks.helpers import deliveries

MARKETING = "automated_marketing_qualification"
TELE = "teleprospecting_acceptance"
ASSIGNMENT = """\
  assignment:
    - name: telemarketers
      when: interaction
      where: {fact: lead.topic, value: never assigned by a trigger}
      round_robin: [Ann, Bob]
"""
MARKETING_SLA = """\
      sla:
        within: 2d
        then: [event, {move: teleprospecting_acceptance}]
"""
TELE_SLA = """\
      sla: {within: 4h, then: [{reassign: telemarketers}]}
"""
ESCALATION = """\
    - name: sla_escalation
      from: automated_marketing_qualification
      to: teleprospecting_acceptance
      guard: {not: {fact: lead.topic, value: Frozen}}
"""
LEAD = (
    "id stage owner sla { stage within enteredAt dueAt breached breachedAt } "
    "stageHistory { stage reason transition owner }"
)
ONE_LEAD = "query($id: ID!) { lead(id: $id) { " + LEAD + " } }"
BREACHED = "query($b: Boolean) { leads(filter: {slaBreached: $b}, first: 50) { nodes { id } } }"


def with_slas(rules: Path) -> None:
    """The shipped lifecycle with SLAs on two stages, the escalation transition (guarded) and
    an assignment rule no trigger takes."""
    path = rules / "lifecycle.yaml"
    text = path.read_text()
    for anchor, block in (
        ("  accept_at: sales_acceptance\n", ASSIGNMENT),
        ("      description: Scored and nurtured until the model's sales-ready threshold is "
         "reached.\n", MARKETING_SLA),
        ("      description: A telemarketer picks up a teleprospect-ready lead.\n", TELE_SLA),
        ("  transitions:\n", ESCALATION),
    ):  # fmt: skip
        assert anchor in text, anchor
        text = text.replace(anchor, anchor + block)
    path.write_text(text)


@pytest.fixture(scope="module")
async def sla_server(
    tmp_path_factory: pytest.TempPathFactory, mongo_client: Any, mongo_uri: str
) -> AsyncIterator[tuple[Path, Api, AppState]]:
    """One server for the module on SLA rules (each test swaps in its own database)."""
    rules = copy_rules(tmp_path_factory.mktemp("sla") / "rules")
    with_slas(rules)
    db = mongo_client["t_sla_bootstrap"]
    async with live_server(
        rules, db, mongo_client, mongo_uri, sla_poll_seconds=3600.0, webhook_worker=False
    ) as (api, state):
        assert state.rules.errors == [], state.rules.errors
        yield rules, api, state
    await mongo_client.drop_database(db.name)


@pytest.fixture
async def slas(sla_server: Any, db: Any) -> AsyncIterator[tuple[Api, AppState]]:
    from leadgraph.db import Connection
    from leadgraph.services.stages import DatabaseStages

    _rules, api, state = sla_server
    previous = state.connection
    assert previous is not None
    state.connection = Connection(client=previous.client, db=db, embedded=None, uri=previous.uri)
    await DatabaseStages(lambda: db).prepare(state.rules.current)
    try:
        yield Api(base_url=api.base_url, http=api.http, db=db), state
    finally:
        state.connection = previous


async def marketing_lead(api: Api, topic: str = "Webinar") -> dict[str, Any]:
    contact = await create_contact(api, lastName="Moreau", email=f"{ObjectId()}@acme.example")
    lead = await create_lead(api, LEAD, topic=topic, parentContact=contact)
    assert lead["stage"] == MARKETING
    return lead


async def read(api: Api, lead: str) -> dict[str, Any]:
    return dict((await api.gql(ONE_LEAD, {"id": lead}))["lead"])


async def breached(api: Api, value: bool) -> set[str]:
    return {n["id"] for n in (await api.gql(BREACHED, {"b": value}))["leads"]["nodes"]}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def sla_events(api: Api, lead: str | None = None) -> list[dict[str, Any]]:
    query: dict[str, Any] = {"type": "lead.sla_breached"}
    if lead is not None:
        query["record.id"] = oid_of(lead)
    return await api.db["events"].find(query).sort("_id", 1).to_list()


async def test_a_lead_gets_its_due_date_and_is_found_breached(slas, clock: ManualClock):
    api, state = slas
    lead = await marketing_lead(api)
    sla = lead["sla"]
    assert (sla["stage"], sla["within"], sla["breached"], sla["breachedAt"]) == (
        MARKETING,
        "2d",
        False,
        None,
    )
    assert at(sla["dueAt"]) - at(sla["enteredAt"]) == timedelta(days=2)
    assert at(sla["enteredAt"]) == clock.time
    assert lead["id"] in await breached(api, False)
    assert lead["id"] not in await breached(api, True)
    clock.advance(timedelta(days=2))
    now = await read(api, lead["id"])
    assert now["sla"]["breached"] is True and now["sla"]["breachedAt"] is None  # not acted yet
    assert lead["id"] in await breached(api, True)
    assert lead["id"] not in await breached(api, False)
    # a closed lead is past every SLA: none, in neither filter, never acted on
    out = await api.gql(
        "mutation($id: ID!) { disqualifyLead(id: $id) { ... on LeadPayload { lead { sla "
        "{ stage } } } } }",
        {"id": lead["id"]},
    )
    assert out["disqualifyLead"]["lead"]["sla"] is None
    assert lead["id"] not in await breached(api, True) | await breached(api, False)
    assert await sla_scheduler.one_round(state) == 0


async def test_a_breach_moves_the_lead_through_its_transition_with_history(
    slas, clock: ManualClock
):
    api, state = slas
    lead = await marketing_lead(api)
    clock.advance(timedelta(days=2, minutes=1))
    assert await sla_scheduler.one_round(state) == 1
    after = await read(api, lead["id"])
    assert after["stage"] == TELE
    breach, move = after["stageHistory"][-2:]
    assert breach["stage"] == MARKETING and breach["transition"] == "sla_breached"
    assert breach["reason"].startswith("SLA of 'automated_marketing_qualification' (2d) breached")
    assert (move["stage"], move["transition"]) == (TELE, "sla_escalation")
    # the new stage's SLA runs from the move
    assert after["sla"]["stage"] == TELE and after["sla"]["within"] == "4h"
    assert at(after["sla"]["enteredAt"]) == clock.time and after["sla"]["breached"] is False
    (event,) = await sla_events(api, lead["id"])
    assert event["data"]["actions"] == ["event", f"move:{TELE}"]
    assert event["data"]["skipped"] == [] and event["data"]["stage"] == MARKETING
    moved = await api.db["events"].count_documents(
        {"type": "lead.stage_changed", "record.id": oid_of(lead["id"]), "data.toStage": TELE}
    )
    assert moved == 1
    # the audit log shows it
    log = await api.gql(
        'query($r: ID) { auditLog(record: $r, actions: ["lead.sla_breached"], first: 5) '
        "{ totalCount nodes { action recordType } } }",
        {"r": lead["id"]},
    )
    assert log["auditLog"]["totalCount"] == 1
    assert log["auditLog"]["nodes"][0] == {"action": "lead.sla_breached", "recordType": "lead"}
    # acted on once: another round finds nothing
    assert await sla_scheduler.one_round(state) == 0


async def test_a_failing_guard_keeps_the_lead_and_says_why(slas, clock: ManualClock):
    api, state = slas
    lead = await marketing_lead(api, topic="Frozen")
    clock.advance(timedelta(days=3))
    assert await sla_scheduler.one_round(state) == 1
    after = await read(api, lead["id"])
    assert after["stage"] == MARKETING
    assert after["sla"]["breached"] is True and at(after["sla"]["breachedAt"]) == clock.time
    assert after["stageHistory"][-1]["transition"] == "sla_breached"
    (event,) = await sla_events(api, lead["id"])
    assert event["data"]["actions"] == ["event"]
    (skip,) = event["data"]["skipped"]
    assert skip.startswith(f"move:{TELE}: transition") and "guard fails" in skip
    assert lead["id"] in await breached(api, True)
    clock.advance(timedelta(days=3))
    assert await sla_scheduler.one_round(state) == 0  # once per stay


async def test_a_breach_reassigns_by_the_assignment_rule(slas, clock: ManualClock):
    api, state = slas
    lead = await marketing_lead(api)
    await api.gql(
        'mutation($id: ID!) { assignLead(id: $id, owner: "Ann") { __typename } }',
        {"id": lead["id"]},
    )
    clock.advance(timedelta(days=2))
    assert await sla_scheduler.one_round(state) == 1  # moved to teleprospecting acceptance
    clock.advance(timedelta(hours=4))
    assert await sla_scheduler.one_round(state) == 1
    after = await read(api, lead["id"])
    assert after["owner"] == "Bob"  # Ann's turn came first: she has it, so the next
    breach, assigned = after["stageHistory"][-2:]
    assert (breach["stage"], breach["transition"]) == (TELE, "sla_breached")
    assert (assigned["transition"], assigned["owner"]) == ("assigned", "Bob")
    assert "assignment rule 'telemarketers': round robin, turn 2" in assigned["reason"]
    given = await api.db["events"].find_one(
        {"type": "lead.assigned", "record.id": oid_of(lead["id"]), "data.rule": "telemarketers"}
    )
    assert given is not None and given["data"]["previousOwner"] == "Ann"
    last = (await sla_events(api, lead["id"]))[-1]
    assert last["data"]["actions"] == ["reassign:Bob"]


async def test_concurrent_rounds_and_processes_act_on_each_breach_once(
    slas, clock: ManualClock, db, mongo_client, mongo_uri, sla_server
):
    api, state = slas
    leads = [(await marketing_lead(api))["id"] for _ in range(6)]
    clock.advance(timedelta(days=2))
    rules, _api, _state = sla_server
    async with live_server(
        rules, db, mongo_client, mongo_uri, sla_poll_seconds=3600.0, webhook_worker=False
    ) as (_other, other):
        assert await other.sla_start == 6  # its start-up round acted on all six
        first = await asyncio.gather(
            sla_scheduler.one_round(state),
            sla_scheduler.one_round(state),
            *(state.services.get(db, state.rules, state.pm).sla.act(oid_of(x)) for x in leads),
        )
    assert set(first[:2]) <= {0, None} and first[2:] == [None] * 6  # (None: the other's lease)
    for lead in leads:
        history = (await read(api, lead))["stageHistory"]
        assert [h["transition"] for h in history].count("sla_breached") == 1
        assert len(await sla_events(api, lead)) == 1
    # breaches nobody took yet, each acted on twice at once, then by three rounds at once
    clock.advance(timedelta(hours=4))
    breaches = state.services.get(db, state.rules, state.pm).sla
    acted = await asyncio.gather(*(breaches.act(oid_of(x)) for x in leads for _ in range(2)))
    assert sum(a is not None for a in acted) == 6
    done = await asyncio.gather(*(sla_scheduler.one_round(state) for _ in range(3)))
    assert set(done) <= {0, None}
    assert len(await sla_events(api)) == 12
    owners = [(await read(api, lead))["owner"] for lead in leads]
    assert sorted(owners) == ["Ann", "Ann", "Ann", "Bob", "Bob", "Bob"]  # one turn each


async def test_the_lease_keeps_a_second_process_out(slas, clock: ManualClock):
    api, state = slas
    await marketing_lead(api)
    clock.advance(timedelta(days=2))
    breaches = state.services.get(api.db, state.rules, state.pm).sla
    assert await leases.acquire(api.db, "sla-breaches", "another-server", 30) is not None
    assert await breach_round(breaches, "this-server") is None  # the other one is at it
    assert len(await sla_events(api)) == 0
    clock.advance(timedelta(seconds=31))  # its lease ran out: this one takes over
    assert await breach_round(breaches, "this-server") == 1


async def test_a_breach_due_while_no_server_ran_is_acted_on_at_start(
    slas, clock: ManualClock, db, mongo_client, mongo_uri, sla_server
):
    api, _state = slas
    lead = await marketing_lead(api)
    # no scheduler ran while the lead fell due (the module's server polls hourly)
    clock.advance(timedelta(days=5))
    rules, _api, _ = sla_server
    async with live_server(
        rules, db, mongo_client, mongo_uri, sla_poll_seconds=3600.0, webhook_worker=False
    ) as (_restarted, state):
        assert await state.sla_start == 1
    assert (await read(api, lead["id"]))["stage"] == TELE
    assert len(await sla_events(api, lead["id"])) == 1


async def test_the_breach_reaches_a_webhook(slas, clock: ManualClock):
    api, state = slas
    hook = await create_webhook(api, "http://127.0.0.1:9/hook", ["lead.sla_breached"])
    webhook = hook["webhook"]["id"]
    lead = await marketing_lead(api)
    clock.advance(timedelta(days=2))
    assert await sla_scheduler.one_round(state) == 1
    (queued,) = await deliveries(api, webhook)
    (event,) = await sla_events(api, lead["id"])
    assert queued["eventType"] == "lead.sla_breached" and queued["eventId"] == str(event["_id"])


async def test_a_bad_duration_is_refused_with_its_line_and_a_changed_sla_restated(
    slas, clock: ManualClock, sla_server
):
    api, _state = slas
    rules, _api, _ = sla_server
    path = rules / "lifecycle.yaml"
    good = path.read_text()
    lead = await marketing_lead(api)
    entered = at(lead["sla"]["enteredAt"])
    try:
        bad = good.replace("        within: 2d\n", "        within: 2 days\n")
        path.write_text(bad)
        status = await reload_rules(api)
        line = bad.splitlines().index("        within: 2 days") + 1
        found = [(Path(e["file"]).name, e["line"], e["message"]) for e in status["errors"]]
        assert len(found) == 1 and found[0][:2] == ("lifecycle.yaml", line), found
        assert "should match pattern" in found[0][2]
        assert (await read(api, lead["id"]))["sla"]["within"] == "2d"  # the live rules stay
        path.write_text(good.replace("        within: 2d\n", "        within: 1w\n"))
        assert (await reload_rules(api))["errors"] == []
        restated = (await read(api, lead["id"]))["sla"]
        assert restated["within"] == "1w" and at(restated["dueAt"]) == entered + timedelta(weeks=1)
    finally:
        path.write_text(good)
        assert (await reload_rules(api))["errors"] == []
    assert (await read(api, lead["id"]))["sla"]["within"] == "2d"
