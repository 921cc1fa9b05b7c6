"""Stage SLAs (``lifecycle.stages[].sla``): how long a lead may stay in a stage, pure.

A lead entering a stage with an SLA stores it as ``sla {stage, within, enteredAt, dueAt,
breachedAt}`` in the write that moves it there (:func:`state`; ``None``: its stage has none),
so that a due date is one indexed field (``leadgraph.store.lead_slas``).  A breach is acted on
once per stay: ``breachedAt`` is set by the claim (``leadgraph.services.sla``); a move to
another stage replaces the whole ``sla``.  When new rules change a stage's SLA, the leads in
that stage get the new one from the time they entered it (:func:`entered_at`), their breach
(if acted on) kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .models import Lifecycle, Sla

if TYPE_CHECKING:
    from .checks import Checker
    from .ruleset import RuleSet

#: The stage-history entry (``transition``) of a breach acted on.
BREACHED = "sla_breached"


def sla_of(ruleset: RuleSet | None, stage: str | None) -> Sla | None:
    """The SLA of ``stage`` in the rules' lifecycle, if it has one."""
    lc = ruleset.lifecycle if ruleset is not None else None
    found = lc.stage(stage) if lc is not None and stage is not None else None
    return found.sla if found is not None else None


def state(ruleset: RuleSet | None, stage: str | None, entered: datetime) -> dict[str, Any] | None:
    """What a lead that entered ``stage`` at ``entered`` stores as its ``sla`` (None: none)."""
    sla = sla_of(ruleset, stage)
    if sla is None:
        return None
    return {
        "stage": stage,
        "within": sla.within,
        "enteredAt": entered,
        "dueAt": entered + sla.window,
        "breachedAt": None,
    }


def update(
    ruleset: RuleSet | None, lead: Mapping[str, Any], stage: str, entered: datetime
) -> dict[str, Any]:
    """The ``$set`` fields of a lead moving to ``stage``: its new ``sla`` (nothing when it had
    none and gets none)."""
    new = state(ruleset, stage, entered)
    return {"sla": new} if new is not None or lead.get("sla") is not None else {}


def entered_at(lead: Mapping[str, Any]) -> datetime | None:
    """When the lead entered its current stage: the first of the stage-history entries at the
    end that name it (an owner assigned, a breach recorded, do not enter it again)."""
    stage = lead.get("stage")
    found = None
    for entry in reversed(lead.get("stageHistory") or []):
        if entry.get("stage") != stage:
            break
        found = entry.get("enteredAt")
    return found or lead.get("createdAt")


def restated(ruleset: RuleSet, lead: Mapping[str, Any]) -> dict[str, Any] | bool | None:
    """The ``sla`` a stored lead should have under ``ruleset``; False when it has it already.
    The due date runs from when it entered its stage; a breach acted on stays acted on."""
    entered = entered_at(lead)
    new = state(ruleset, lead.get("stage"), entered) if entered is not None else None
    old = lead.get("sla")
    if new is None:
        return None if old is not None else False
    if old and old.get("stage") == new["stage"]:
        new["breachedAt"] = old.get("breachedAt")
    if old == new:
        return False
    return new


def check_slas(c: Checker, file: str, lc: Lifecycle) -> None:
    """Each SLA's ``move`` goes to another stage a transition leads to from the SLA's stage;
    ``reassign`` names an assignment rule (``true``: the lifecycle has some)."""
    rules = {r.name for r in lc.assignment}
    for i, stage in enumerate(lc.stages):
        if stage.sla is None:
            continue
        for j, action in enumerate(stage.sla.then):
            loc = ("lifecycle", "stages", i, "sla", "then", j)
            if action.move is not None:
                to = action.move
                if to not in lc.stage_names:
                    names = ", ".join(lc.stage_names)
                    c.at(file, (*loc, "move"), f"unknown stage {to!r}; expected one of: {names}")
                elif not any(stage.name in t.from_ and t.to == to for t in lc.transitions):
                    c.at(
                        file,
                        (*loc, "move"),
                        f"no transition from {stage.name!r} to {to!r}: a breach moves a lead "
                        "through the lifecycle's transitions (add one)",
                    )
            if action.reassign is True and not rules:
                c.at(file, (*loc, "reassign"), "`reassign: true` needs assignment rules")
            elif isinstance(action.reassign, str) and action.reassign not in rules:
                known = ", ".join(sorted(rules)) or "none"
                c.at(
                    file,
                    (*loc, "reassign"),
                    f"unknown assignment rule {action.reassign!r}; expected one of: {known}",
                )


def check_assignment(c: Checker, file: str, lc: Lifecycle) -> None:
    """The assignment rules' names (unique: each keeps its own round-robin turn) and
    conditions; ``acceptance`` needs an acceptance stage."""
    c.unique(
        (
            (r.name, file, ("lifecycle", "assignment", i, "name"))
            for i, r in enumerate(lc.assignment)
        ),
        "assignment rule",
    )
    for i, rule in enumerate(lc.assignment):
        loc = ("lifecycle", "assignment", i)
        c.condition(file, rule.where, (*loc, "where"))
        if "acceptance" in rule.when and lc.acceptance_stage is None:
            c.at(file, (*loc, "when"), "`acceptance` needs an acceptance stage (accept_at)")
