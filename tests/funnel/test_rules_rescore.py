"""A rules version going live rescores every lead in the background (services/rescore_job):
through GraphQL, on the embedded database; one server of several does it; a run whose holder
died is resumed from its checkpoint; ``LEADGRAPH_RESCORE_ON_RULES_CHANGE=0`` turns it off."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from conftest import Api, serving
from foundation import create_lead, oid_of
from leadgraph.cli.main import cli
from leadgraph.db import ensure_indexes
from leadgraph.rules.ruleset import load_rules
from leadgraph.services import Services
from leadgraph.services.seed import seed_demo
from leadgraph.services.stages import DatabaseStages
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from rules.live import until
from shipped import SHIPPED

from funnel.test_preview import PREVIEW, candidate_files, changes, snapshot

RESCORE = "{ rulesStatus { version rescore { state done total failed error rulesVersion "
RESCORE += "startedAt finishedAt } } }"
LEADS = "{ leads(first: 100) { edges { node { id rulesVersion } } } }"


@pytest.fixture
async def seeded(
    mongo_client: AsyncMongoClient, tmp_path: Path
) -> AsyncIterator[tuple[AsyncDatabase, Path]]:
    """A small demo database scored with a copy of the shipped rules, and that copy."""
    rules_dir = tmp_path / "rules"
    shutil.copytree(SHIPPED, rules_dir)
    db = mongo_client[f"t_{uuid.uuid4().hex[:12]}"]
    await ensure_indexes(db)
    await seed_demo(db, n_contacts=16, funnel=Services(db, load_rules(rules_dir), None).funnel)
    yield db, rules_dir
    await mongo_client.drop_database(db.name)


@contextlib.asynccontextmanager
async def server(
    client: AsyncMongoClient, uri: str, db: AsyncDatabase, rules_dir: Path, **settings: Any
) -> AsyncIterator[Api]:
    """A server of its own on ``db`` and ``rules_dir`` (small rescore batches)."""
    settings.setdefault("rescore_batch", 7)
    async with (
        serving(client, uri, db.name, rules_dir, **settings) as app,
        httpx.AsyncClient(timeout=60) as http,
    ):
        yield Api(base_url=app.base_url, http=http, db=db)


async def finished(api: Api, version: str) -> dict[str, Any]:
    """The rescore of ``version`` once it ended (polled, with a deadline)."""

    async def check() -> dict[str, Any] | None:
        run = (await api.gql(RESCORE))["rulesStatus"]["rescore"]
        ended = (
            run and run["rulesVersion"] == version and run["state"] not in ("PENDING", "RUNNING")
        )
        return run if ended else None

    return await until(check, f"the rescore for rules {version}", timeout=60)


async def go_live(api: Api, rules_dir: Path, files: dict[str, str]) -> str:
    for name, text in files.items():
        (rules_dir / name).write_text(text)
    reloaded = await api.gql("mutation { reloadRules { version errors { message } } }")
    assert reloaded["reloadRules"]["errors"] == []
    return str(reloaded["reloadRules"]["version"])


async def test_new_rules_rescore_every_lead_as_the_preview_said(
    seeded: tuple[AsyncDatabase, Path], mongo_client: AsyncMongoClient, mongo_uri: str
) -> None:
    db, rules_dir = seeded
    async with server(mongo_client, mongo_uri, db, rules_dir) as api:
        files = candidate_files()
        old = (await api.gql(RESCORE))["rulesStatus"]["version"]
        await finished(api, old)  # the start-up's run: nothing stale, done at once
        before = await snapshot(db)
        data = await api.gql(
            PREVIEW, {"files": [{"path": k, "content": v} for k, v in files.items()]}
        )
        preview = data["previewRules"]
        assert preview["changed"] > 0 and preview["salesReadyOn"] > 0

        version = await go_live(api, rules_dir, files)
        assert version == preview["rulesVersion"] != old
        run = await finished(api, version)
        n = len(before["leads"])
        assert run["state"] == "DONE" and run["done"] == run["total"] == n and run["failed"] == 0
        assert run["startedAt"] <= run["finishedAt"]

        happened = changes(before["leads"], (await snapshot(db))["leads"])
        assert happened["scoreChanged"] == preview["scoreChanged"]
        assert happened["on"] == preview["salesReadyOn"]
        assert happened["off"] == preview["salesReadyOff"]
        assert happened["moves"] == {
            (m["fromStage"], m["toStage"]): m["leads"] for m in preview["stageMoves"]
        }
        nodes = [e["node"] for e in (await api.gql(LEADS))["leads"]["edges"]]
        assert len(nodes) == n and {x["rulesVersion"] for x in nodes} == {version}
        scored = await db["events"].count_documents(
            {"type": "lead.scored", "data.rulesVersion": version}
        )
        assert scored == preview["scoreChanged"]  # one lead.scored per lead whose score moved


async def test_two_servers_on_one_database_rescore_each_lead_once(
    seeded: tuple[AsyncDatabase, Path], mongo_client: AsyncMongoClient, mongo_uri: str
) -> None:
    db, rules_dir = seeded
    async with (
        server(mongo_client, mongo_uri, db, rules_dir) as one,
        server(mongo_client, mongo_uri, db, rules_dir) as two,
    ):
        version = await go_live(one, rules_dir, candidate_files())
        assert (await two.gql("mutation { reloadRules { version } }"))["reloadRules"][
            "version"
        ] == version
        run = await finished(two, version)
        n = await db["leads"].count_documents({})
        assert run["state"] == "DONE" and run["done"] == run["total"] == n
        runs = await db["rescore_runs"].find({"rulesVersion": version}).to_list()
        assert [r["state"] for r in runs] == ["done"]
        scored = db["events"].find({"type": "lead.scored", "data.rulesVersion": version})
        per_lead = Counter([e["record"]["id"] async for e in scored])
        assert per_lead and set(per_lead.values()) == {1}
        assert await db["leads"].count_documents({"funnelVersion": {"$ne": version}}) == 0


async def test_a_run_whose_holder_died_is_resumed_from_its_checkpoint(
    seeded: tuple[AsyncDatabase, Path], mongo_client: AsyncMongoClient, mongo_uri: str
) -> None:
    db, rules_dir = seeded
    live = load_rules(rules_dir)
    await DatabaseStages(lambda: db, rescore=False).prepare(live)  # the version was live
    ids = [d["_id"] async for d in db["leads"].find({}, {"_id": 1}).sort("_id", 1)]
    await db["leads"].update_many({}, {"$set": {"funnelVersion": "older"}})
    k = len(ids) // 3
    t = datetime.now(UTC)
    await db["rescore_runs"].insert_one(
        {
            "rulesVersion": live.version,
            "state": "running",
            "upTo": ids[-1],
            "total": len(ids),
            "done": k,
            "failed": 0,
            "checkpoint": ids[k - 1],
            "holder": "gone:1",
            "error": None,
            "attempts": 0,
            "createdAt": t - timedelta(minutes=5),
            "startedAt": t - timedelta(minutes=5),
            "finishedAt": None,
        }
    )
    await db["leases"].insert_one(
        {"_id": "rules-rescore", "holder": "gone:1", "expiresAt": t - timedelta(minutes=1)}
    )
    async with server(mongo_client, mongo_uri, db, rules_dir) as api:
        run = await finished(api, live.version)
        assert run["state"] == "DONE" and run["done"] == run["total"] == len(ids)
        by_id = {
            oid_of(x["id"]): x["rulesVersion"]
            for x in (e["node"] for e in (await api.gql(LEADS))["leads"]["edges"])
        }
    assert [by_id[i] for i in ids[:k]] == ["older"] * k  # before the checkpoint: not again
    assert [by_id[i] for i in ids[k:]] == [live.version] * (len(ids) - k)


async def test_a_newer_version_supersedes_a_running_run(
    seeded: tuple[AsyncDatabase, Path], mongo_client: AsyncMongoClient, mongo_uri: str
) -> None:
    db, rules_dir = seeded
    async with server(mongo_client, mongo_uri, db, rules_dir) as api:
        old = (await api.gql(RESCORE))["rulesStatus"]["version"]
        await finished(api, old)
        await db["rescore_runs"].update_many({}, {"$set": {"state": "running", "holder": "x"}})
        version = await go_live(api, rules_dir, candidate_files())
        run = await finished(api, version)
        assert run["state"] == "DONE"
        states = {r["rulesVersion"]: r["state"] async for r in db["rescore_runs"].find({})}
        assert states == {old: "superseded", version: "done"}


async def test_the_setting_off_leaves_the_leads_to_leadgraph_rescore(
    seeded: tuple[AsyncDatabase, Path], mongo_client: AsyncMongoClient, mongo_uri: str
) -> None:
    db, rules_dir = seeded
    async with server(mongo_client, mongo_uri, db, rules_dir, rescore_on_rules_change=False) as api:
        old = (await api.gql(RESCORE))["rulesStatus"]["version"]
        version = await go_live(api, rules_dir, candidate_files())
        assert (await api.gql(RESCORE))["rulesStatus"]["rescore"] is None
        nodes = [e["node"] for e in (await api.gql(LEADS))["leads"]["edges"]]
        assert {x["rulesVersion"] for x in nodes} == {old} != {version}


async def test_rules_status_rescore_is_admin_only_as_rules_status(api: Api) -> None:
    response = await api.post(RESCORE, role="marketer")
    body = response.json()
    assert body.get("data") is None or body["data"].get("rulesStatus") is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_replay_then_says_what_it_can_when_no_rules_version_was_recorded(
    api: Api, mongo_uri: str, tmp_path: Path
) -> None:
    lead = await create_lead(api, "id rulesVersion", topic="old data")
    assert lead["rulesVersion"]  # scored when created
    await api.db["leads"].update_one({"_id": oid_of(lead["id"])}, {"$unset": {"funnelVersion": 1}})
    await api.db["lead_history"].delete_many({})
    query = "query($id: ID!) { node(id: $id) { ... on Lead { rulesVersion } } }"
    node = await api.gql(query, {"id": lead["id"]})
    assert node["node"]["rulesVersion"] is None
    env = {
        "MONGODB_URI": mongo_uri,
        "LEADGRAPH_DB_NAME": api.db.name,
        "LEADGRAPH_DATA_DIR": str(tmp_path / "data"),
    }
    at = datetime.now(UTC).isoformat()
    result = await asyncio.to_thread(
        CliRunner().invoke, cli, ["replay", "--lead", lead["id"], "--at", at], env=env
    )
    assert result.exit_code == 0, result.output
    assert "with the rules then (unknown)" in result.stdout
    assert "no rules version is recorded for the lead at that time" in result.stdout
    assert "--rules live" in result.stdout
