"""Issue 11 point 2: as-of replay.  ``Lead.asOf(time:, rules: THEN)`` answers what the lead
had at that time with the rules then live (from its history); ``rules: LIVE`` evaluates
today's rules over the interactions known then.  ``leadgraph replay`` prints the same."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bson import ObjectId
from click.testing import CliRunner
from foundation import create_contact, create_lead, oid_of
from leadgraph.cli.main import cli
from leadgraph.store.clock import ManualClock
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from rules.live import live_server, reload_rules

AS_OF = """query($id: ID!, $t: DateTime!, $rules: ReplayRules!) { lead(id: $id) {
    asOf(time: $t, rules: $rules) { rules rulesVersion stage salesReady explanation
      scores { model score salesReady rulesVersion explanation { rule points } } } } }"""

RECORD = """mutation($i: RecordInteractionInput!) { recordInteraction(input: $i) {
    ... on InteractionPayload { created } } }"""


def scoring(points: int, threshold: int = 40) -> str:
    return f"""scoring:
  - name: engagement
    kind: points
    threshold: {threshold}
    rules:
      - name: clicks
        per_event: {{type: email_clicked, within: 30d}}
        points: {points}
"""


LIFECYCLE = """lifecycle:
  name: small
  initial: new
  stages:
    - name: new
    - name: hot
  transitions:
    - {name: heats_up, from: new, to: hot, on: [scored],
       guard: {fact: lead.salesReady, op: eq, value: true}}
"""


async def as_of_or_none(api, lead: str, t: datetime, rules: str) -> dict | None:
    data = await api.gql(AS_OF, {"id": lead, "t": t.isoformat(), "rules": rules})
    return data["lead"]["asOf"]


async def as_of(api, lead: str, t: datetime, rules: str) -> dict:
    """What the lead had at ``t`` (it existed then)."""
    answer = await as_of_or_none(api, lead, t, rules)
    assert answer is not None
    return answer


async def click(api, contact: str, at: datetime | None = None) -> None:
    fields = {"contact": contact, "type": "EMAIL_CLICKED"}
    if at is not None:
        fields["occurredAt"] = at.isoformat()
    assert (await api.gql(RECORD, {"i": fields}))["recordInteraction"]["created"] is True


def replay_cli(uri: str, db_name: str, rules_dir: Path, *args: str) -> tuple[int, str]:
    env = {"MONGODB_URI": uri, "LEADGRAPH_DB_NAME": db_name, "LEADGRAPH_RULES_DIR": str(rules_dir)}
    result = CliRunner().invoke(cli, ["replay", *args], env=env)
    return result.exit_code, result.output


async def test_replay_gives_the_score_a_lead_had_before_a_rule_change(
    tmp_path: Path,
    db: AsyncDatabase,
    mongo_client: AsyncMongoClient,
    mongo_uri: str,
    clock: ManualClock,
) -> None:
    directory = tmp_path / "rules"
    directory.mkdir()
    (directory / "scoring.yaml").write_text(scoring(points=10))
    (directory / "lifecycle.yaml").write_text(LIFECYCLE)
    # no background rescore on the rules change: the history's last entry must be the
    # rescoreLead below, not a rescore run racing it
    async with live_server(
        directory, db, mongo_client, mongo_uri, rescore_on_rules_change=False
    ) as (api, _state):
        old_version = (await reload_rules(api))["version"]
        contact = await create_contact(api, lastName="Lee", email=f"{ObjectId()}@example.com")
        lead = (await create_lead(api, topic="Spring webinar", parentContact=contact))["id"]
        before_any = clock.advance()  # the lead exists, nothing clicked yet
        clock.advance()
        await click(api, contact)
        await click(api, contact)
        before_change = clock.advance()
        clock.advance()

        # the rules change: a click is now worth 25 points (hot-reloaded)
        (directory / "scoring.yaml").write_text(scoring(points=25))
        new_version = (await reload_rules(api))["version"]
        assert new_version != old_version
        rescored = await api.gql(
            f'mutation {{ rescoreLead(id: "{lead}") {{ ... on LeadPayload {{ lead {{ stage '
            "scores { score } } } } }"
        )
        assert rescored["rescoreLead"]["lead"] == {"stage": "hot", "scores": [{"score": 50}]}

        # THEN, before the change: what the lead had, with the rules then live
        then = await as_of(api, lead, before_change, "THEN")
        assert then["rules"] == "THEN" and then["rulesVersion"] == old_version
        assert then["stage"] == "new" and then["salesReady"] is False
        assert then["scores"] == [
            {
                "model": "engagement",
                "score": 20,
                "salesReady": False,
                "rulesVersion": old_version,
                "explanation": [{"rule": "clicks", "points": 20}],
            }
        ]
        # LIVE, at the same time: today's rules over the two clicks known then
        live = await as_of(api, lead, before_change, "LIVE")
        assert live["rulesVersion"] == new_version
        assert [(s["score"], s["salesReady"]) for s in live["scores"]] == [(50, True)]
        assert live["scores"][0]["explanation"] == [{"rule": "clicks", "points": 50}]
        assert live["stage"] == "hot" and live["salesReady"] is True
        assert any("2 interaction(s)" in line for line in live["explanation"]), live

        # before the clicks: a score of 0 under either rules; THEN now: the new score
        assert (await as_of(api, lead, before_any, "THEN"))["scores"][0]["score"] == 0
        assert (await as_of(api, lead, before_any, "LIVE"))["scores"][0]["score"] == 0
        now = await as_of(api, lead, clock.advance(), "THEN")
        assert (now["scores"][0]["score"], now["stage"], now["rulesVersion"]) == (
            50,
            "hot",
            new_version,
        )
        # the rescore is in the history, with the rules' points that changed
        history = await api.gql(
            f'{{ lead(id: "{lead}") {{ scoreHistory(model: "engagement") {{ nodes {{ '
            "rulesVersion cause { kind } explanation { rule before after } } } } }"
        )
        last = history["lead"]["scoreHistory"]["nodes"][-1]
        assert last == {
            "rulesVersion": new_version,
            "cause": {"kind": "RESCORE"},
            "explanation": [{"rule": "clicks", "before": 20, "after": 50}],
        }
        # every rules version the history names is kept, content and all
        kept = await db["rule_versions"].find_one({"_id": old_version})
        assert kept is not None
        assert {f["path"]: f["content"] for f in kept["files"]}["scoring.yaml"] == scoring(10)

        # before the lead existed: null; a bad time: a typed error
        assert (await as_of_or_none(api, lead, before_any - timedelta(days=1), "THEN")) is None
        bad = await api.post(AS_OF, {"id": lead, "t": "yesterday", "rules": "THEN"})
        assert bad.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"

        # the command line prints the same, with its explanation
        code, out = await asyncio.to_thread(
            replay_cli,
            mongo_uri,
            db.name,
            directory,
            "--lead",
            lead,
            "--at",
            before_change.isoformat(),
        )
        assert code == 0, out
        assert f"with the rules then ({old_version})" in out
        assert "stage: new" in out and "score engagement: 20\n" in out
        assert "  clicks: +20" in out
        assert "INTERACTION".lower() in out  # the changes that led there, with their cause
        code, out = await asyncio.to_thread(
            replay_cli,
            mongo_uri,
            db.name,
            directory,
            "--lead",
            str(oid_of(lead)),
            "--at",
            before_change.isoformat(),
            "--rules",
            "live",
        )
        assert code == 0, out
        assert f"with the rules live ({new_version})" in out
        assert "score engagement: 50 (sales-ready)" in out and "stage: hot" in out
        code, out = await asyncio.to_thread(
            replay_cli, mongo_uri, db.name, directory, "--lead", lead, "--at", "soon"
        )
        assert code == 2 and "not an ISO 8601 time" in out


async def test_live_replay_counts_only_the_interactions_known_then(
    tmp_path: Path, db: AsyncDatabase, mongo_client: AsyncMongoClient, mongo_uri: str
) -> None:
    directory = tmp_path / "rules"
    directory.mkdir()
    (directory / "scoring.yaml").write_text(scoring(points=10))
    async with live_server(directory, db, mongo_client, mongo_uri) as (api, _state):
        contact = await create_contact(api, lastName="Lee", email=f"{ObjectId()}@example.com")
        lead = (await create_lead(api, topic="Spring webinar", parentContact=contact))["id"]
        now = datetime.now(UTC)
        # the lead came in 60 days ago (as an import of an older list would have it)
        await db["leads"].update_one(
            {"_id": oid_of(lead)}, {"$set": {"createdAt": now - timedelta(days=60)}}
        )
        for days in (20, 10, 1):  # clicks 20, 10 and 1 day(s) ago
            await click(api, contact, now - timedelta(days=days))
        live = await as_of(api, lead, now - timedelta(days=5), "LIVE")
        assert live["scores"][0]["score"] == 20  # two clicks known then, both within 30 days
        assert (await as_of(api, lead, now, "LIVE"))["scores"][0]["score"] == 30
        assert (await as_of(api, lead, now - timedelta(days=25), "LIVE"))["scores"][0]["score"] == 0
        # 61 days ago the lead did not exist yet
        assert await as_of_or_none(api, lead, now - timedelta(days=61), "LIVE") is None
