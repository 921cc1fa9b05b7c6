"""The score history on the roads around the rules: a stage retired by new rules is recorded
as a rule change, and entries an interrupted write left in the lead's outbox are stored at
the next start-up."""

from __future__ import annotations

from pathlib import Path

from bson import ObjectId
from foundation import create_contact, create_lead, oid_of
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from rules.live import live_server, reload_rules

HISTORY = """query($id: ID!) { lead(id: $id) { scoreHistory(first: 100) { nodes {
    model fields stage stageBefore transitions rulesVersion cause { kind by reason } } } } }"""


def lifecycle(stages: list[str], retired: dict[str, str] | None = None) -> str:
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


SCORING = """scoring:
  - name: engagement
    kind: points
    threshold: 100
    rules:
      - name: clicks
        per_event: {type: email_clicked, within: 30d}
        points: 10
"""


async def history(api, lead: str) -> list[dict]:
    return list((await api.gql(HISTORY, {"id": lead}))["lead"]["scoreHistory"]["nodes"])


async def test_a_retired_stage_moves_its_leads_as_a_rule_change(
    tmp_path: Path, db: AsyncDatabase, mongo_client: AsyncMongoClient, mongo_uri: str
) -> None:
    directory = tmp_path / "rules"
    directory.mkdir()
    (directory / "lifecycle.yaml").write_text(lifecycle(["inquiry", "do_not_contact"]))
    async with live_server(directory, db, mongo_client, mongo_uri) as (api, _state):
        lead = (await create_lead(api, topic="Old list"))["id"]
        moved = await api.gql(
            f'mutation {{ moveLeadStage(id: "{lead}", to: "do_not_contact") {{ '
            "... on LeadPayload { lead { stage } } } }"
        )
        assert moved["moveLeadStage"]["lead"]["stage"] == "do_not_contact"
        (directory / "lifecycle.yaml").write_text(
            lifecycle(["inquiry", "nurturing"], {"do_not_contact": "nurturing"})
        )
        version = (await reload_rules(api))["version"]
        changes = await history(api, lead)
        assert [c["cause"]["kind"] for c in changes] == ["HAND", "RULE_CHANGE"]
        assert changes[-1] == {
            "model": None,
            "fields": ["stage"],
            "stage": "nurturing",
            "stageBefore": "do_not_contact",
            "transitions": ["retired:do_not_contact"],
            "rulesVersion": version,
            "cause": {
                "kind": "RULE_CHANGE",
                "by": None,
                "reason": "stage 'do_not_contact' retired",
            },
        }


async def test_entries_an_interrupted_write_left_out_are_stored_at_start_up(
    tmp_path: Path, db: AsyncDatabase, mongo_client: AsyncMongoClient, mongo_uri: str
) -> None:
    directory = tmp_path / "rules"
    directory.mkdir()
    (directory / "scoring.yaml").write_text(SCORING)
    async with live_server(directory, db, mongo_client, mongo_uri) as (api, _state):
        contact = await create_contact(api, lastName="Lee", email=f"{ObjectId()}@example.com")
        lead = (await create_lead(api, topic="Spring webinar", parentContact=contact))["id"]
        await api.gql(
            """mutation($i: RecordInteractionInput!) { recordInteraction(input: $i) {
               ... on InteractionPayload { created } } }""",
            {"i": {"contact": contact, "type": "EMAIL_CLICKED"}},
        )
        complete = await history(api, lead)
        assert [c["cause"]["kind"] for c in complete] == ["CREATED", "INTERACTION"]

    # the process died after the lead's write, before its history insert: the entry of the
    # last change is in the lead's outbox only
    doc = await db["leads"].find_one({"_id": oid_of(lead)})
    assert doc is not None
    outbox = doc["historyOutbox"]
    assert [e["cause"]["kind"] for e in outbox] == ["interaction"]
    await db["lead_history"].delete_many({"_id": {"$in": [e["_id"] for e in outbox]}})

    async with live_server(directory, db, mongo_client, mongo_uri) as (api, _state):
        assert await history(api, lead) == complete
