"""Issue 8 point 8: a stage that still holds leads cannot be dropped, only retired.

Hot reload (and ``reloadRules``) refuses new rules that remove an occupied stage, naming the
stage and the number of leads at file:line, and the last good rules stay live; a
``lifecycle.retired_stages`` mapping moves the leads (with a stage history entry) when the
rules go live. ``leadgraph rules check`` runs the same check when a database is reachable.
``leadChanged(stage:)`` rejects a stage the lifecycle does not have.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from foundation import gid
from leadgraph import hookimpl
from leadgraph.cli.main import cli
from leadgraph.events import LeadStageChanged
from leadgraph.plugin_manager import get_plugin_manager
from pymongo import AsyncMongoClient, MongoClient
from pymongo.asynchronous.database import AsyncDatabase
from test_mutations import CREATE_LEAD
from test_subscriptions import recv, subscribed

from .live import live_server, reload_rules, rules_status

STAGES = ["inquiry", "nurturing", "do_not_contact"]


def lifecycle(stages: list[str], retired: dict[str, str] | None = None) -> str:
    """A small lifecycle file: the stages, a hand transition to each, optional retirements."""
    lines = [
        "lifecycle:",
        "  name: small",
        "  initial: inquiry",
        "  stages:",
        *[f"    - name: {s}" for s in stages],
        "  transitions:",
        *[f"    - {{name: to_{s}, from: inquiry, to: {s}}}" for s in stages if s != "inquiry"],
    ]
    if retired:
        lines.append("  retired_stages:")
        lines += [f"    {old}: {new}" for old, new in retired.items()]
    return "\n".join(lines) + "\n"


MOVE = """mutation($id: ID!, $to: String!) { moveLeadStage(id: $id, to: $to) { __typename
    ... on LeadPayload { lead { stage } } } }"""
LEAD = """query($id: ID!) { node(id: $id) { ... on Lead {
    stage stageHistory { stage reason rulesVersion } } } }"""


class StageEvents:
    """A plugin that records the stage moves it hears: (lead id, to, transition, version)."""

    def __init__(self) -> None:
        self.moves: list[tuple[str, str, str, str | None]] = []

    @hookimpl
    def leadgraph_lead_stage_changed(self, event: LeadStageChanged) -> None:
        self.moves.append(
            (gid("Lead", event.lead_id), event.to_stage, event.transition, event.rules_version)
        )


async def lead_in(api: Any, stage: str) -> str:
    lead = (await api.gql(CREATE_LEAD, {"i": {"topic": f"in {stage}"}}))["createLead"]["lead"]
    if stage != "inquiry":
        moved = await api.gql(MOVE, {"id": lead["id"], "to": stage})
        assert moved["moveLeadStage"]["lead"]["stage"] == stage, moved
    return str(lead["id"])


async def test_removing_an_occupied_stage_is_refused_until_it_is_retired(
    tmp_path: Path, db: AsyncDatabase, mongo_client: AsyncMongoClient, mongo_uri: str
) -> None:
    directory = tmp_path / "rules"
    directory.mkdir()
    (directory / "lifecycle.yaml").write_text(lifecycle(STAGES))
    heard = StageEvents()
    pm = get_plugin_manager()
    pm.register(heard, name="stage-listener")
    # the move's own writes and events (the background rescore that follows a rules change is
    # tested in tests/funnel/test_rules_rescore.py)
    off = {"rescore_on_rules_change": False}
    async with live_server(directory, db, mongo_client, mongo_uri, pm=pm, **off) as (api, _):
        first = await rules_status(api)
        assert first["errors"] == [] and first["version"]
        leads = [await lead_in(api, "do_not_contact") for _ in range(2)]
        await lead_in(api, "inquiry")

        # nurturing holds no lead: removing it is fine
        (directory / "lifecycle.yaml").write_text(lifecycle(["inquiry", "do_not_contact"]))
        second = await reload_rules(api)
        assert second["errors"] == [] and second["version"] != first["version"]

        # do_not_contact holds two: refused, and the rules of `second` stay live
        (directory / "lifecycle.yaml").write_text(lifecycle(["inquiry", "nurturing"]))
        refused = await reload_rules(api)
        assert refused["version"] == second["version"]
        assert refused["errors"] == [
            {
                "file": "lifecycle.yaml",
                "line": 4,
                "column": 3,
                "message": "stage 'do_not_contact' is removed but 2 lead(s) are in it; keep the "
                "stage or map it to another under lifecycle.retired_stages "
                "(e.g. retired_stages: {do_not_contact: inquiry})",
            }
        ]
        assert (await rules_status(api))["errors"] == refused["errors"]
        life = await api.gql("{ leadLifecycle { stages { name } } }")
        assert "do_not_contact" in [s["name"] for s in life["leadLifecycle"]["stages"]]

        # retired to nurturing: accepted, and the leads move with a history entry
        revs = {d["_id"]: d.get("rev") async for d in db.leads.find({"stage": "do_not_contact"})}
        (directory / "lifecycle.yaml").write_text(
            lifecycle(["inquiry", "nurturing"], {"do_not_contact": "nurturing"})
        )
        accepted = await reload_rules(api)
        assert accepted["errors"] == [] and accepted["version"] not in (
            first["version"],
            second["version"],
        )
        for lead_id in leads:
            node = (await api.gql(LEAD, {"id": lead_id}))["node"]
            assert node["stage"] == "nurturing"
            assert node["stageHistory"][-1] == {
                "stage": "nurturing",
                "reason": "stage 'do_not_contact' retired",
                "rulesVersion": accepted["version"],
            }
        assert await db.leads.count_documents({"stage": "do_not_contact"}) == 0
        async for doc in db.leads.find({"_id": {"$in": list(revs)}}):
            assert doc["rev"] == revs[doc["_id"]] + 1  # concurrent funnel writes see the move
        assert await db.leads.count_documents({"stage": "inquiry"}) == 1  # untouched
        retired = [e for e in heard.moves if e[2] == "retired:do_not_contact"]
        assert sorted(retired) == sorted(
            (lead_id, "nurturing", "retired:do_not_contact", accepted["version"])
            for lead_id in leads
        )

        # the mapping is checked like any rule
        (directory / "lifecycle.yaml").write_text(
            lifecycle(["inquiry", "nurturing"], {"inquiry": "nurturing", "gone": "nowhere"})
        )
        status = await reload_rules(api)
        assert status["version"] == accepted["version"]
        messages = {(e["line"], e["message"]) for e in status["errors"]}
        assert (
            10,
            "stage 'inquiry' is still in the lifecycle; retire it by removing it from stages",
        ) in messages, messages
        assert (
            11,
            "unknown stage 'nowhere'; expected one of: inquiry, nurturing",
        ) in messages, messages


def _cli_env(mongo_uri: str, name: str, tmp_path: Path) -> dict[str, str]:
    return {
        "MONGODB_URI": mongo_uri,
        "LEADGRAPH_DB_NAME": name,
        "LEADGRAPH_DATA_DIR": str(tmp_path / "data"),
    }


def test_rules_check_runs_the_same_check_when_a_database_is_reachable(
    tmp_path: Path, mongo_uri: str
) -> None:
    name = f"cli_{uuid.uuid4().hex[:12]}"
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri, tz_aware=True)
    db = client[name]
    try:
        db.leads.insert_many(
            [{"topic": "a", "stage": "do_not_contact"}, {"topic": "b", "stage": "inquiry"}]
        )
        directory = tmp_path / "rules"
        directory.mkdir()
        (directory / "lifecycle.yaml").write_text(lifecycle(["inquiry", "nurturing"]))

        result = CliRunner().invoke(
            cli, ["rules", "check", str(directory)], env=_cli_env(mongo_uri, name, tmp_path)
        )
        assert result.exit_code == 1, result.output
        assert (
            "lifecycle.yaml:4:3: stage 'do_not_contact' is removed but 1 lead(s) are in it"
            in result.output
        )

        (directory / "lifecycle.yaml").write_text(
            lifecycle(["inquiry", "nurturing"], {"do_not_contact": "nurturing"})
        )
        result = CliRunner().invoke(
            cli, ["rules", "check", str(directory)], env=_cli_env(mongo_uri, name, tmp_path)
        )
        assert result.exit_code == 0, result.output
        assert f"checked the stages of 2 lead(s) in database {name}" in result.output
        # a check never moves anything
        assert db.leads.count_documents({"stage": "do_not_contact"}) == 1

        (directory / "lifecycle.yaml").write_text(lifecycle(["inquiry", "nurturing"]))
        env = {**_cli_env(mongo_uri, name, tmp_path), "MONGODB_URI": ""}
        result = CliRunner().invoke(cli, ["rules", "check", str(directory)], env=env)
        assert result.exit_code == 0, result.output
        assert "skipped the occupied-stage check: no database reachable" in result.output
    finally:
        client.drop_database(name)
        client.close()


async def test_lead_changed_rejects_an_unknown_stage(api: Any) -> None:
    query = "subscription($s: String) { leadChanged(stage: $s) { id stage } }"
    async with subscribed(api, query, {"s": "no_such_stage"}) as ws:
        message = await recv(ws)
    assert message["type"] in ("next", "error"), message
    payload = message["payload"]
    errors = payload["errors"] if message["type"] == "next" else payload
    assert len(errors) == 1, errors
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT", errors
    assert "unknown stage 'no_such_stage'" in errors[0]["message"]
    assert "sales_acceptance" in errors[0]["message"]  # the stages are listed
    assert json.dumps(errors).count("Traceback") == 0


async def test_start_up_runs_the_same_check(
    tmp_path: Path, db: AsyncDatabase, mongo_client: AsyncMongoClient, mongo_uri: str
) -> None:
    await db.leads.insert_one({"topic": "left behind", "stage": "do_not_contact", "rev": 0})
    directory = tmp_path / "rules"
    directory.mkdir()
    (directory / "lifecycle.yaml").write_text(lifecycle(["inquiry", "nurturing"]))
    async with live_server(directory, db, mongo_client, mongo_uri) as (api, _state):
        status = await rules_status(api)
        assert status["version"] is None  # nothing was loaded
        assert [e["message"][:56] for e in status["errors"]] == [
            "stage 'do_not_contact' is removed but 1 lead(s) are in i"
        ]
        (directory / "lifecycle.yaml").write_text(
            lifecycle(["inquiry", "nurturing"], {"do_not_contact": "inquiry"})
        )
        status = await reload_rules(api)
        assert status["errors"] == [] and status["version"]
        assert await db.leads.count_documents({"stage": "inquiry"}) == 1
