"""The engines read like the product's documentation: a lead, its facts, the score and its
explanation, the stage it moves to, the contacts a segment finds."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

import pytest
from bson import ObjectId
from leadgraph import hookspecs
from leadgraph.rules.lifecycle import (
    InvalidTransition,
    advance,
    manual_transition,
    next_stage,
    transition_update,
)
from leadgraph.rules.manager import RulesManager
from leadgraph.rules.matcher import Matcher
from leadgraph.rules.ruleset import load_rules
from leadgraph.rules.scoring import lead_update, score_lead
from leadgraph.store.segment_query import member_ids, segment_members_query
from pymongo.asynchronous.database import AsyncDatabase
from rules.gen import NOW
from rules.helpers import ROOT, SHIPPED, copy_rules

RULES = load_rules(SHIPPED)


def facts(lead: dict, contact: dict | None = None, interactions: Iterable[dict] = ()) -> dict:
    return {"lead": lead, "contact": contact, "account": None, "interactions": list(interactions)}


def test_score_explains_every_rule_and_caps_per_event_points() -> None:
    opens = [{"type": "email_opened", "occurredAt": NOW - timedelta(days=d)} for d in range(8)]
    [result] = score_lead(
        RULES, facts({"parentContactId": ObjectId()}, {"role": "decisionMaker"}, opens), NOW
    )
    assert result.model == "engagement"
    assert result.explanation == [
        ("decision maker", 20.0),
        ("email opened (5 each, last 30 days)", 25.0),
    ]
    assert result.score == 45 and result.sales_ready is False
    assert result.rules_version == RULES.version
    stored = lead_update([result], NOW)
    assert stored["scores"][0]["explanation"][1] == {
        "rule": "email opened (5 each, last 30 days)",
        "points": 25.0,
    }
    assert stored["scores"][0]["rulesVersion"] == RULES.version
    assert "salesReady" not in stored


def test_orphan_lead_is_not_scored() -> None:
    assert score_lead(RULES, facts({"topic": "x"}), NOW) == []


def test_sales_ready_lead_skips_teleprospecting_in_one_update() -> None:
    lead = {"stage": "inquiry", "parentContactId": ObjectId(), "salesReady": True}
    path = advance(RULES, lead, "scored", NOW)
    assert [t.name for t in path] == ["scored", "sales_ready"]
    update = transition_update(RULES, lead, path, by="scoring", now=NOW)
    assert update is not None
    assert update["$set"]["stage"] == "sales_acceptance"
    history = update["$push"]["stageHistory"]["$each"]
    assert [h["stage"] for h in history] == [
        "automated_marketing_qualification",
        "sales_acceptance",
    ]
    assert {h["rulesVersion"] for h in history} == {RULES.version}


def test_not_sales_ready_stays_in_marketing_qualification() -> None:
    lead = {"stage": "automated_marketing_qualification", "parentContactId": ObjectId()}
    assert next_stage(RULES, lead, "scored", NOW) is None


def test_send_back_to_marketing_by_hand_clears_the_flags() -> None:
    lead = {"stage": "sales_acceptance", "salesReady": True, "parentContactId": ObjectId()}
    t = manual_transition(RULES, lead, "automated_marketing_qualification", NOW)
    assert t.name == "send_back_to_marketing"
    update = transition_update(RULES, lead, [t], by="sales manager", now=NOW)
    assert update is not None
    assert update["$set"]["salesReady"] is False
    assert update["$set"]["teleprospectReady"] is False
    # sent back, the lead is not taken straight back to sales by the next update
    moved = {**lead, **update["$set"]}
    assert next_stage(RULES, moved, "updated", NOW) is None


def test_manual_move_outside_the_lifecycle_is_refused() -> None:
    with pytest.raises(
        InvalidTransition, match="no transition from 'inquiry' to 'sales_acceptance'"
    ):
        manual_transition(RULES, {"stage": "inquiry"}, "sales_acceptance", NOW)


def test_matching_keys_are_normalised() -> None:
    strategy = RULES.matching.lead_strategy_for("spring-webinar")
    matcher = Matcher(RULES)
    key = matcher.values(strategy, {"email": "  Ana@Contoso.COM ", "formId": " spring-webinar"})
    assert key == {"email": "ana@contoso.com", "formId": "spring-webinar"}
    assert matcher.values(strategy, {"formId": "spring-webinar"}) is None


async def test_segment_finds_decision_makers_with_a_conference_lead(db: AsyncDatabase) -> None:
    dm, influencer, no_lead = ObjectId(), ObjectId(), ObjectId()
    await db.contacts.insert_many(
        [
            {"_id": dm, "role": "decisionMaker"},
            {"_id": influencer, "role": "influencer"},
            {"_id": no_lead, "role": "decisionMaker"},
        ]
    )
    await db.leads.insert_many(
        [
            {"topic": "Contoso Ltd Conference", "parentContactId": dm},
            {"topic": "Other", "parentContactId": dm},
            {"topic": "Contoso Ltd Conference", "parentContactId": influencer},
            {"topic": "Contoso Ltd Conference", "parentContactId": None},
        ]
    )
    assert await member_ids(db, RULES, "contoso-conference-decision-makers", NOW) == [dm]
    assert segment_members_query(RULES, "contoso-conference-decision-makers").base == "lead"


def test_every_hook_is_documented() -> None:
    # event hooks are listed in the events catalogue, the others in the plugin guide
    docs = (ROOT / "docs" / "plugins.md").read_text() + (ROOT / "docs" / "events.md").read_text()
    hooks = [
        n
        for n, f in inspect.getmembers(hookspecs, inspect.isfunction)
        if n.startswith("leadgraph_")
    ]
    assert len(hooks) >= 10
    for name in hooks:
        doc = inspect.getdoc(getattr(hookspecs, name)) or ""
        assert len(doc) > 40, f"{name} needs a docstring saying what it receives and returns"
        assert f"`{name}" in docs, f"docs/plugins.md (or events.md) does not describe {name}"


async def test_watch_hot_reloads_good_changes_and_keeps_rules_on_bad_ones(
    tmp_path: Path,
) -> None:
    directory = copy_rules(tmp_path / "rules")
    manager = RulesManager(directory)
    assert manager.reload()
    first = manager.version
    stop = asyncio.Event()
    task = asyncio.create_task(manager.watch(stop, debounce_ms=50))

    async def until(check: object, what: str, write: object) -> None:
        write()  # type: ignore[operator]
        for i in range(400):
            if check():  # type: ignore[operator]
                return
            if i % 40 == 39:  # a busy machine may start the watcher late: write again
                write()  # type: ignore[operator]
            await asyncio.sleep(0.025)
        raise AssertionError(f"watcher never {what}")

    def good() -> None:
        (directory / "extra.yaml").write_text(
            "segments:\n  - name: everyone-in-nl\n"
            "    where: {fact: account.country, op: eq, value: NL}\n"
        )

    def bad() -> None:
        (directory / "extra.yaml").write_text("segments:\n  - name: broken\n")

    try:
        await until(lambda: manager.version != first, "loaded the new file", good)
        second = manager.version
        assert manager.current is not None and manager.current.segment("everyone-in-nl")
        await until(lambda: manager.errors, "reported the bad change", bad)
        assert manager.version == second
        assert manager.errors[0].file == "extra.yaml"
        assert "missing required field 'where'" in manager.errors[0].message
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
