"""Rule-change previews (``previewRules`` over HTTP, ``leadgraph rules diff``, ``leadgraph
rescore --dry-run``): what they report is what a real rescore then changes, and they write
nothing."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from conftest import Api, serving
from foundation import oid_of
from leadgraph.cli.main import cli
from leadgraph.rules.ruleset import load_rules
from leadgraph.services import Services
from leadgraph.services.report import changed_leads
from leadgraph.services.seed import seed_demo
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from shipped import SHIPPED

PREVIEW = """
query($files: [RuleFileInput!]!, $sample: Int) { previewRules(files: $files, sample: $sample) {
  __typename
  ... on RulesPreview {
    liveVersion rulesVersion leads changed scoreChanged salesReadyOn salesReadyOff failed
    stageMoves { fromStage toStage leads }
    models { model changed salesReadyOn salesReadyOff
      before { count mean p50 p90 max buckets { low high leads } }
      after { count mean p50 p90 max buckets { low high leads } }
      rules { rule leads pointsBefore pointsAfter } }
    segments { name before after added removed addedContacts removedContacts }
    samples { lead { id } stageBefore stageAfter salesReadyBefore salesReadyAfter
      scores { model before { score salesReady explanation { rule points } }
                     after { score salesReady explanation { rule points } } } }
  }
  ... on RulesInvalidError { code message errors { file line column message } }
  ... on ValidationError { field message }
  ... on ForbiddenError { permission }
} }
"""


def candidate_files() -> dict[str, str]:
    """The shipped rules with a lower threshold, a heavier and a lighter rule, and a segment
    that asks for one recent open instead of two."""
    files = {p.name: p.read_text() for p in sorted(SHIPPED.glob("*.yaml"))}
    scoring = files["scoring.yaml"]
    scoring = scoring.replace("threshold: 60", "threshold: 45", 1)
    scoring = scoring.replace("points: 20\n", "points: 30\n", 1)  # decision maker
    scoring = scoring.replace(
        "        points: 25\n      - name: no bulk", "        points: 5\n      - name: no bulk"
    )
    files["scoring.yaml"] = scoring.split("\ntests:")[0] + "\n"  # its tests assert the old numbers
    files["lifecycle.yaml"] = files["lifecycle.yaml"].split("\ntests:")[0] + "\n"
    files["segments.yaml"] = files["segments.yaml"].replace("min: 2}", "min: 1}")
    return files


@pytest.fixture
async def world(
    mongo_client: AsyncMongoClient, mongo_uri: str, tmp_path: Path
) -> AsyncIterator[tuple[Api, Path, dict[str, str]]]:
    """A server on its own copy of the shipped rules, over a seeded demo database."""
    rules_dir = tmp_path / "rules"
    shutil.copytree(SHIPPED, rules_dir)
    name = f"t_{uuid.uuid4().hex[:12]}"
    db = mongo_client[name]
    live = load_rules(rules_dir)
    await seed_demo(db, n_contacts=40, funnel=Services(db, live, None).funnel)
    env = {
        "MONGODB_URI": mongo_uri,
        "LEADGRAPH_DB_NAME": name,
        "LEADGRAPH_RULES_DIR": str(rules_dir),
        "LEADGRAPH_DATA_DIR": str(tmp_path / "data"),
    }
    async with (
        # the CLI's rescore is tested here; the background one in test_rules_rescore.py
        serving(mongo_client, mongo_uri, name, rules_dir, rescore_on_rules_change=False) as app,
        httpx.AsyncClient(timeout=120) as http,
    ):
        yield Api(base_url=app.base_url, http=http, db=db), rules_dir, env
    await mongo_client.drop_database(name)


async def snapshot(db: AsyncDatabase) -> dict[str, list[dict[str, Any]]]:
    """Every document of every collection but the API keys (which the test client adds);
    empty collections (which opening the database creates with their indexes) left out."""
    out = {}
    for coll in sorted(await db.list_collection_names()):
        docs = await db[coll].find({}).sort("_id", 1).to_list()
        if coll != "api_keys" and docs:
            out[coll] = docs
    return out


def cli_run(env: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(cli, list(args), env=env)


def changes(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> dict[str, Any]:
    """What happened to the leads between two snapshots, counted as a preview counts."""
    old = {d["_id"]: d for d in before}
    score_changed = on = off = 0
    moves: dict[tuple[str, str], int] = {}
    for doc in after:
        was = old[doc["_id"]]

        def essence(lead: dict[str, Any]) -> dict[str, Any]:
            return {s["model"]: (s["score"], s["salesReady"]) for s in lead.get("scores") or []}

        score_changed += essence(was) != essence(doc)
        on += bool(doc.get("salesReady")) and not was.get("salesReady")
        off += bool(was.get("salesReady")) and not doc.get("salesReady")
        if was.get("stage") != doc.get("stage"):
            key = (was["stage"], doc["stage"])
            moves[key] = moves.get(key, 0) + 1
    return {"scoreChanged": score_changed, "on": on, "off": off, "moves": moves}


async def test_a_preview_writes_nothing_and_counts_what_a_rescore_then_changes(world) -> None:
    api, rules_dir, env = world
    files = candidate_files()
    before = await snapshot(api.db)
    data = await api.gql(
        PREVIEW, {"files": [{"path": k, "content": v} for k, v in files.items()], "sample": 3}
    )
    preview = data["previewRules"]
    assert preview["__typename"] == "RulesPreview"
    assert await snapshot(api.db) == before  # nothing written, not even a read mark

    leads = before["leads"]
    assert preview["leads"] == len(leads) and preview["failed"] == 0
    assert preview["liveVersion"] != preview["rulesVersion"]
    assert preview["salesReadyOn"] > 0 and preview["salesReadyOff"] > 0
    assert preview["stageMoves"]
    (model,) = preview["models"]
    assert model["model"] == "engagement" and model["changed"] == preview["scoreChanged"]
    assert model["before"]["count"] == model["after"]["count"]
    assert sum(b["leads"] for b in model["before"]["buckets"]) == model["before"]["count"]
    by_rule = {r["rule"]: r for r in model["rules"]}
    assert set(by_rule) == {"decision maker", "attended an event"}
    maker = by_rule["decision maker"]
    assert maker["pointsAfter"] == maker["pointsBefore"] * 1.5  # 20 -> 30 on the same leads
    assert len(preview["samples"]) == 3

    # the candidate goes live, and the real rescore changes exactly what was previewed
    for name, text in files.items():
        (rules_dir / name).write_text(text)
    reloaded = await api.gql("mutation { reloadRules { version errors { message } } }")
    assert reloaded["reloadRules"]["version"] == preview["rulesVersion"]
    result = await asyncio.to_thread(cli_run, env, "rescore")
    assert result.exit_code == 0, result.stderr
    # the rescore counts what the preview counted, not every lead it wrote
    unchanged = preview["leads"] - preview["changed"]
    assert f": {changed_leads(preview['changed'])}, {unchanged} unchanged" in result.stderr
    after = await snapshot(api.db)
    happened = changes(leads, after["leads"])
    assert happened["scoreChanged"] == preview["scoreChanged"]
    assert happened["on"] == preview["salesReadyOn"]
    assert happened["off"] == preview["salesReadyOff"]
    assert happened["moves"] == {
        (m["fromStage"], m["toStage"]): m["leads"] for m in preview["stageMoves"]
    }
    now_stored = {d["_id"]: d for d in after["leads"]}
    for sample in preview["samples"]:
        stored = now_stored[oid_of(sample["lead"]["id"])]
        assert stored["stage"] == sample["stageAfter"]
        assert bool(stored["salesReady"]) == sample["salesReadyAfter"]
        for score in sample["scores"]:
            entry = next(s for s in stored["scores"] if s["model"] == score["model"])
            assert entry["score"] == score["after"]["score"]
            assert [{"rule": e["rule"], "points": e["points"]} for e in entry["explanation"]] == (
                score["after"]["explanation"]
            )

    # segment members as previewed are the live segment's members now
    segments = {s["name"]: s for s in preview["segments"]}
    engaged = segments["engaged-bulk-email-audience"]
    assert engaged["added"] > 0 and engaged["removed"] == 0
    assert engaged["after"] == engaged["before"] + engaged["added"]
    assert segments["contoso-conference-decision-makers"]["added"] == 0
    for name, seg in segments.items():
        got = await api.gql(f'{{ segment(name: "{name}") {{ memberCount }} }}')
        assert got["segment"]["memberCount"] == seg["after"]


async def test_bad_candidate_files_get_a_typed_error_at_file_and_line(api) -> None:
    broken = "scoring:\n  - name: engagement\n    thresold: 60\n    rules: []\n"
    data = await api.gql(PREVIEW, {"files": [{"path": "scoring.yaml", "content": broken}]})
    got = data["previewRules"]
    assert got["__typename"] == "RulesInvalidError" and got["code"] == "RULES_INVALID"
    assert any(
        e["file"] == "scoring.yaml" and e["line"] == 3 and "thresold" in e["message"]
        for e in got["errors"]
    )
    named = await api.gql(PREVIEW, {"files": [{"path": "../x.yaml", "content": "segments: []"}]})
    assert named["previewRules"]["__typename"] == "RulesInvalidError"
    assert named["previewRules"]["errors"][0]["file"] == "../x.yaml"
    sample = await api.gql(
        PREVIEW, {"files": [{"path": "a.yaml", "content": "segments: []"}], "sample": 1000}
    )
    assert sample["previewRules"] == {
        "__typename": "ValidationError",
        "field": "sample",
        "message": "sample: must be between 0 and 100",
    }
    denied = await api.gql(
        PREVIEW, {"files": [{"path": "a.yaml", "content": "segments: []"}]}, role="marketer"
    )
    assert denied["previewRules"] == {"__typename": "ForbiddenError", "permission": "rules:admin"}


async def test_dry_run_and_rules_diff_print_what_a_rescore_would_change(world) -> None:
    api, rules_dir, env = world
    candidate = rules_dir.parent / "candidate"
    candidate.mkdir()
    for name, text in candidate_files().items():
        (candidate / name).write_text(text)
    before = await snapshot(api.db)

    diff = await asyncio.to_thread(cli_run, env, "rules", "diff", str(candidate))
    assert diff.exit_code == 0, diff.stderr
    assert "previewing" in diff.stderr  # the progress bar
    assert "nothing was written" in diff.stdout
    assert "engaged-bulk-email-audience" in diff.stdout
    assert "rule 'decision maker'" in diff.stdout
    assert await snapshot(api.db) == before

    # the candidate directory as the live rules: the dry run reports, the rescore does it
    live_env = {**env, "LEADGRAPH_RULES_DIR": str(candidate)}
    dry = await asyncio.to_thread(cli_run, live_env, "rescore", "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert await snapshot(api.db) == before
    headline = dry.stdout.splitlines()[1]
    assert headline == diff.stdout.splitlines()[1]  # same counts as the diff
    moves = [line for line in dry.stdout.splitlines() if " -> sales_acceptance: " in line]
    assert moves
    real = await asyncio.to_thread(cli_run, live_env, "rescore")
    assert real.exit_code == 0, real.stderr
    happened = changes(before["leads"], (await snapshot(api.db))["leads"])
    expected = (
        f"{happened['scoreChanged']} scores, {happened['on']} become sales-ready, "
        f"{happened['off']} stop being sales-ready, {sum(happened['moves'].values())} move stage"
    )
    assert headline.endswith(expected)
    # the preview and the rescore give that count in the same words (one definition)
    count = int(headline.split(" ", 1)[0])
    assert headline.startswith(changed_leads(count, would=True) + ": ")
    assert f": {changed_leads(count)}, " in real.stderr
    again = await asyncio.to_thread(cli_run, live_env, "rescore", "--dry-run")
    assert again.stdout.splitlines()[1].startswith("0 leads would change")

    bad = rules_dir.parent / "bad"
    bad.mkdir()
    (bad / "scoring.yaml").write_text("scoring:\n  - name: x\n    rules:\n      - points: ten\n")
    refused = await asyncio.to_thread(cli_run, env, "rules", "diff", str(bad))
    assert refused.exit_code == 1
    assert "scoring.yaml:4:" in refused.stderr
