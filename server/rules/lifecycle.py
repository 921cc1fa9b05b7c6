"""The lead stage machine of the lifecycle rules.

Automatic transitions fire on a trigger (``created``, ``scored``, ``updated``,
``interaction``) when the lead is in one of their ``from`` stages and their guards hold; one
trigger may chain several (a sales-ready lead that was just scored goes Inquiry ->
Automated marketing qualification -> Sales acceptance).  Any transition may be taken by hand.

New rules may not drop a stage that still holds leads, only retire it to another stage
(:func:`stage_errors`, :func:`stage_moves`; the counts come from ``leadgraph.services.stages``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any

from ..documents import stage_entry
from ..plugin_manager import guarded
from .loader import RuleError
from .models import AssignmentRule, Lifecycle, Transition
from .ruleset import RuleSet
from .sla import update as sla_update


class InvalidTransition(ValueError):
    """A move the lifecycle does not allow; the message says why."""


def _facts(lead_or_facts: Mapping[str, Any]) -> dict[str, Any]:
    if "lead" in lead_or_facts and isinstance(lead_or_facts.get("lead"), Mapping):
        return dict(lead_or_facts)
    return {"lead": dict(lead_or_facts), "contact": None, "account": None, "interactions": []}


def _lifecycle(ruleset: RuleSet) -> Lifecycle:
    if ruleset.lifecycle is None:
        raise InvalidTransition("the rules define no lifecycle")
    return ruleset.lifecycle


def current_stage(ruleset: RuleSet, lead: Mapping[str, Any]) -> str:
    return lead.get("stage") or _lifecycle(ruleset).initial


def allowed(ruleset: RuleSet, t: Transition, facts: Mapping[str, Any], now: datetime) -> bool:
    """Whether the transition's guard condition and named guards hold."""
    if not ruleset.compiler.predicate(t.guard)(facts, now):
        return False
    for name in t.requires:
        provided = ruleset.registry.guards[name]
        if not guarded(provided, f"guard {name!r}", provided.value, facts):
            return False
    return True


def next_stage(
    ruleset: RuleSet,
    lead: Mapping[str, Any],
    triggers: str | Collection[str],
    now: datetime | None = None,
) -> Transition | None:
    """The first automatic transition any of ``triggers`` takes from the lead's stage, if any.

    :param lead: a lead document or the facts ``{"lead", "contact", "account", ...}``.
    """
    if ruleset.lifecycle is None:
        return None
    fired = {triggers} if isinstance(triggers, str) else set(triggers)
    facts = _facts(lead)
    now = now or datetime.now(UTC)
    stage = current_stage(ruleset, facts["lead"])
    for t in ruleset.lifecycle.transitions:
        if fired.intersection(t.on) and stage in t.from_ and allowed(ruleset, t, facts, now):
            return t
    return None


def advance(
    ruleset: RuleSet,
    lead: Mapping[str, Any],
    triggers: str | Collection[str],
    now: datetime | None = None,
) -> list[Transition]:
    """Every automatic transition the ``triggers`` take, in order (each from the previous
    one's stage); empty when the lead stays where it is."""
    if ruleset.lifecycle is None:
        return []
    facts = _facts(lead)
    path: list[Transition] = []
    seen = {current_stage(ruleset, facts["lead"])}
    for _ in ruleset.lifecycle.stages:
        t = next_stage(ruleset, facts, triggers, now)
        if t is None or t.to in seen:
            break
        path.append(t)
        seen.add(t.to)
        facts["lead"] = {**facts["lead"], "stage": t.to, **action_fields(ruleset, facts, t)}
    return path


def manual_transition(
    ruleset: RuleSet, lead: Mapping[str, Any], to: str, now: datetime | None = None
) -> Transition:
    """The transition that moves the lead to stage (or by transition name) ``to`` by hand."""
    lc = _lifecycle(ruleset)
    facts = _facts(lead)
    stage = current_stage(ruleset, facts["lead"])
    candidates = [t for t in lc.transitions if stage in t.from_ and to in (t.to, t.name)]
    if not candidates:
        targets = sorted({t.to for t in lc.transitions if stage in t.from_})
        raise InvalidTransition(
            f"no transition from {stage!r} to {to!r}; allowed: {', '.join(targets) or 'none'}"
        )
    for t in candidates:
        if allowed(ruleset, t, facts, now or datetime.now(UTC)):
            return t
    raise InvalidTransition(f"transition {candidates[0].name!r} is not allowed: its guard fails")


def start_stage(ruleset: RuleSet, lead: Mapping[str, Any], now: datetime | None = None) -> str:
    """Where a new lead starts: the stage of the first ``start_at`` rule whose condition holds
    for it (its own fields only), else the lifecycle's ``initial`` stage."""
    lc = _lifecycle(ruleset)
    facts = _facts(lead)
    for rule in lc.start_at:
        if ruleset.compiler.predicate(rule.when)(facts, now or datetime.now(UTC)):
            return rule.stage
    return lc.initial


OVERRIDE = "manual_override"


def override_transition(ruleset: RuleSet, lead: Mapping[str, Any], to: str) -> Transition:
    """The move an admin forces to any stage ``to``: no guards, no actions, recorded as the
    transition ``manual_override``."""
    lc = _lifecycle(ruleset)
    if to not in lc.stage_names:
        raise InvalidTransition(f"no stage {to!r}; stages: {', '.join(lc.stage_names)}")
    stage = current_stage(ruleset, _facts(lead)["lead"])
    if stage == to:
        raise InvalidTransition(f"the lead is already at {to!r}")
    return Transition.model_validate({"name": OVERRIDE, "from": [stage], "to": to})


def action_fields(ruleset: RuleSet, facts: Mapping[str, Any], t: Transition) -> dict[str, Any]:
    """The lead fields the transition's actions set."""
    out: dict[str, Any] = {}
    for call in t.actions:
        provided = ruleset.registry.actions[call.action]
        result = guarded(
            provided,
            f"action {call.action!r}",
            provided.value,
            dict(facts["lead"]),
            t,
            dict(call.with_),
        )
        out.update(result or {})
    return out


def transition_update(
    ruleset: RuleSet,
    lead: Mapping[str, Any],
    transitions: list[Transition],
    *,
    by: str | None = None,
    reason: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any] | None:
    """One MongoDB update moving the lead along ``transitions``: the new stage, the fields the
    actions set, a ``stageHistory`` entry per step carrying the rules version, and the new
    stage's SLA (:func:`leadgraph.rules.sla.update`)."""
    if not transitions:
        return None
    now = now or datetime.now(UTC)
    facts = _facts(lead)
    fields: dict[str, Any] = {}
    history = []
    for t in transitions:
        fields.update(action_fields(ruleset, {**facts, "lead": {**facts["lead"], **fields}}, t))
        fields["stage"] = t.to
        history.append(
            stage_entry(
                t.to,
                now,
                reason=reason or t.name,
                by=by,
                transition=t.name,
                rules_version=ruleset.version,
            )
        )
    fields.update(sla_update(ruleset, facts["lead"], transitions[-1].to, now))
    fields["updatedAt"] = now
    return {"$set": fields, "$push": {"stageHistory": {"$each": history}}}


def stage_errors(ruleset: RuleSet, counts: Mapping[str, int]) -> list[RuleError]:
    """Errors for every occupied stage the rules drop without retiring it."""
    lifecycle = ruleset.lifecycle
    stages = set(lifecycle.stage_names) if lifecycle else set()
    retired = lifecycle.retired_stages if lifecycle else {}
    file, line, column = ruleset.lifecycle_source or (ruleset.directory, 1, 1)
    errors = []
    for stage, n in sorted(counts.items()):
        if n <= 0 or stage in stages or stage in retired:
            continue
        hint = (
            f"keep the stage or map it to another under lifecycle.retired_stages "
            f"(e.g. retired_stages: {{{stage}: {lifecycle.initial}}})"
            if lifecycle
            else "add a lifecycle with that stage"
        )
        errors.append(
            RuleError(
                file,
                line,
                column,
                f"stage {stage!r} is removed but {n} lead(s) are in it; {hint}",
            )
        )
    return errors


def stage_moves(ruleset: RuleSet, counts: Mapping[str, int]) -> dict[str, str]:
    """``{retired stage: its new stage}`` for the retired stages that hold leads."""
    retired = ruleset.lifecycle.retired_stages if ruleset.lifecycle else {}
    return {old: new for old, new in retired.items() if counts.get(old, 0) > 0}


def assignment_rule(
    ruleset: RuleSet, facts: Mapping[str, Any], fired: Collection[str], now: datetime
) -> AssignmentRule | None:
    """The first assignment rule one of whose ``when`` is in ``fired`` (``acceptance``: the
    lead reached the acceptance stage; a funnel trigger) and whose ``where`` holds for the
    ``facts`` (the lead as it is now, its contact, account, interactions)."""
    lc = ruleset.lifecycle
    for rule in lc.assignment if lc is not None else []:
        if set(fired).intersection(rule.when) and ruleset.compiler.predicate(rule.where)(
            facts, now
        ):
            return rule
    return None
