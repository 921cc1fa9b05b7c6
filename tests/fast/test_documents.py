"""The stage-history entries every road writes have the one shape ``leadgraph.types.StageEntry``
names: they are all made by ``leadgraph.documents.stage_entry`` (issue 18)."""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from leadgraph.documents import stage_entry
from leadgraph.rules.lifecycle import advance, transition_update
from leadgraph.rules.ruleset import load_rules
from leadgraph.store.leads import new_document
from leadgraph.types import StageEntry
from rules.gen import NOW
from rules.helpers import SHIPPED

RULES = load_rules(SHIPPED)
BASE = {"stage", "enteredAt", "reason", "by", "transition", "rulesVersion"}


def _shape_problems(entry: dict[str, Any]) -> list[str]:
    allowed = set(StageEntry.__annotations__)
    return [f"missing {k}" for k in sorted(BASE - set(entry))] + [
        f"unknown {k}" for k in sorted(set(entry) - allowed)
    ]


def test_a_new_lead_and_a_transition_write_entries_of_the_one_shape() -> None:
    created = new_document({"topic": "x"}, stage="inquiry", rules_version="v1")
    [first] = created["stageHistory"]
    assert first == stage_entry("inquiry", first["enteredAt"], reason="created", rules_version="v1")
    lead = {"stage": "inquiry", "parentContactId": ObjectId(), "salesReady": True}
    update = transition_update(RULES, lead, advance(RULES, lead, "scored", NOW), now=NOW)
    assert update is not None
    moved = update["$push"]["stageHistory"]["$each"]
    assert len(moved) == 2 and all(h["rulesVersion"] == RULES.version for h in moved)
    for entry in [first, *moved]:
        assert _shape_problems(dict(entry)) == []


def test_owner_and_status_only_where_given() -> None:
    plain = stage_entry("inquiry", NOW, reason="r", rules_version=None)
    assert "owner" not in plain and "status" not in plain
    accepted = stage_entry(
        "sales_acceptance", NOW, reason="sales accepted", rules_version=None, owner="ann"
    )
    closed = stage_entry(
        "inquiry", NOW, reason="no budget", rules_version=None, status="disqualified"
    )
    assert accepted["owner"] == "ann" and closed["status"] == "disqualified"
    assert _shape_problems(dict(accepted)) == _shape_problems(dict(closed)) == []
    assert _shape_problems({"stage": "x", "color": 1}) == [
        "missing by",
        "missing enteredAt",
        "missing reason",
        "missing rulesVersion",
        "missing transition",
        "unknown color",
    ]
