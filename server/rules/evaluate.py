"""The pure evaluation of one lead (facts + rules + triggers + time): its scores with their
explanations, the ``salesReady`` flag those scores imply, and the automatic lifecycle
transitions the triggers take, as the one MongoDB update that stores them.  Nothing here reads
or writes the database; :mod:`leadgraph.services.funnel` persists and announces the result."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..contracts import Facts, PluginFailure
from ..plugin_manager import PluginError
from . import lifecycle, scoring
from .models import Transition
from .ruleset import RuleSet


@dataclass
class Evaluation:
    """What the rules say about one lead: its scores, the stage moves they trigger, and the
    single MongoDB update that stores both (None when nothing changes)."""

    update: dict[str, Any] | None
    results: list[scoring.ScoreResult] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    failure: PluginFailure | None = None


def failure_of(exc: PluginError) -> PluginFailure:
    return PluginFailure(plugin=exc.plugin, hook=exc.hook, message=exc.message)


def sales_ready_fields(lead: dict[str, Any], results: list[scoring.ScoreResult]) -> dict[str, Any]:
    """``salesReady`` and ``salesReadyHeld`` as the new ``results`` imply (see the module)."""
    over = {r.model for r in results if r.sales_ready}
    held = sorted(set(lead.get("salesReadyHeld") or []) & over)  # under the threshold: released
    fields: dict[str, Any] = {"salesReadyHeld": held}
    if lead.get("salesReadyBy") != "hand":
        fields["salesReady"] = bool(over - set(held))
    return fields


def decision_fields(lead: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """A person's (or a transition's) ``fields`` for a lead, with what a decision about
    ``salesReady`` implies: set by hand it sticks; made false it holds the ready models."""
    out = dict(fields)
    if out.get("salesReady") is False:
        over = {s["model"] for s in lead.get("scores") or [] if s.get("salesReady")}
        out["salesReadyHeld"] = sorted(over | set(lead.get("salesReadyHeld") or []))
        out["salesReadyBy"] = None
    return out


def evaluate(
    ruleset: RuleSet,
    facts: Facts,
    triggers: Collection[str],
    now: datetime | None = None,
    *,
    manual: dict[str, Any] | None = None,
) -> Evaluation:
    """Score the lead of ``facts`` and follow the automatic transitions ``triggers`` fire.

    ``manual`` are fields a person set in this same step (a flag by hand): they are applied
    first, as a decision.  A plugin failure is returned as ``failure`` with an update that
    stores only the manual fields and the stale mark.
    """
    now = now or datetime.now(UTC)
    lead = facts["lead"]
    fields = decision_fields(lead, manual) if manual else {}
    fields["funnelVersion"] = ruleset.version
    fired = set(triggers)
    try:
        results = scoring.score_lead(ruleset, {**facts, "lead": {**lead, **fields}}, now)
        if results:
            fired.add("scored")
            fields.update(scoring.lead_update(results, now))
            fields.update(sales_ready_fields({**lead, **fields}, results))
        current: dict[str, Any] = {**lead, **fields}
        transitions = lifecycle.advance(ruleset, {**facts, "lead": current}, fired, now)
        move = lifecycle.transition_update(ruleset, current, transitions, now=now)
    except PluginError as exc:
        failure = failure_of(exc)
        del fields["funnelVersion"]  # not brought up to date with these rules
        stale = {
            **fields,
            "scoreError": {**failure.as_document(), "at": now, "rulesVersion": ruleset.version},
        }
        return Evaluation(update=_update(stale, None, now), failure=failure)
    if move is not None:
        fields.update(decision_fields(current, move["$set"]))
    if lead.get("scoreError") is not None:
        fields["scoreError"] = None
    if not _changes(lead, fields) and move is None:
        return Evaluation(update=None, results=results)
    return Evaluation(update=_update(fields, move, now), results=results, transitions=transitions)


def _changes(lead: dict[str, Any], fields: dict[str, Any]) -> bool:
    """Whether ``fields`` change anything but the time a score was computed."""
    for key, value in fields.items():
        if key == "scores":
            strip = [{k: v for k, v in s.items() if k != "scoredAt"} for s in value]
            old = [{k: v for k, v in s.items() if k != "scoredAt"} for s in lead.get(key) or []]
            if strip != old:
                return True
        elif lead.get(key) != value:
            return True
    return False


def _update(fields: dict[str, Any], move: dict[str, Any] | None, now: datetime) -> dict[str, Any]:
    update: dict[str, Any] = {"$set": {**fields, "updatedAt": now}, "$inc": {"rev": 1}}
    if move is not None:
        update["$push"] = move["$push"]
    return update


def applied(doc: dict[str, Any], update: dict[str, Any] | None) -> dict[str, Any]:
    """``doc`` after ``update`` ($set of top-level or dotted paths, $inc, $push with $each)."""
    out = dict(doc)
    if not update:
        return out
    for path, value in (update.get("$set") or {}).items():
        target = out
        *parents, last = path.split(".")
        for part in parents:
            target[part] = dict(target.get(part) or {})
            target = target[part]
        target[last] = value
    for path, value in (update.get("$inc") or {}).items():
        out[path] = (out.get(path) or 0) + value
    for path, value in (update.get("$push") or {}).items():
        items = value["$each"] if isinstance(value, dict) and "$each" in value else [value]
        out[path] = [*(out.get(path) or []), *items]
    return out
