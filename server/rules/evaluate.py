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
    #: The first plugin failure (None: the lead is up to date), and every one of them.
    failure: PluginFailure | None = None
    failures: list[PluginFailure] = field(default_factory=list)


def failure_of(exc: PluginError) -> PluginFailure:
    return PluginFailure(plugin=exc.plugin, hook=exc.hook, message=exc.message)


def sales_ready_fields(lead: dict[str, Any], scores: list[dict[str, Any]]) -> dict[str, Any]:
    """``salesReady`` and ``salesReadyHeld`` as the new ``scores`` entries imply (see the
    module; a stale entry counts as it was)."""
    over = {s["model"] for s in scores if s.get("salesReady")}
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
    first, as a decision.  A scoring model whose plugin fails keeps its last score, marked
    stale (``scoreErrors`` names the model), while the other models are scored and the
    transitions follow; a guard or action plugin that fails leaves the stage as it was.  Either
    failure is returned as ``failures`` (the first as ``failure``) and sets ``scoreError``.
    """
    now = now or datetime.now(UTC)
    lead = facts["lead"]
    fields = decision_fields(lead, manual) if manual else {}
    fields["funnelVersion"] = ruleset.version
    fired = set(triggers)
    scored = scoring.score_models(ruleset, {**facts, "lead": {**lead, **fields}}, now)
    failures = [failure_of(f.error) for f in scored.failed]
    kept, errors = scoring.stale_entries(lead, scored.failed, now, ruleset.version)
    if scored.results:
        fired.add("scored")
    if scored.results or scored.failed:
        fields.update(scoring.lead_update(scored.results, now, stale=kept))
        fields.update(sales_ready_fields({**lead, **fields}, fields["scores"]))
    if errors or lead.get("scoreErrors"):
        fields["scoreErrors"] = errors
    current: dict[str, Any] = {**lead, **fields}
    try:
        transitions = lifecycle.advance(ruleset, {**facts, "lead": current}, fired, now)
        move = lifecycle.transition_update(ruleset, current, transitions, now=now)
    except PluginError as exc:
        failures.append(failure_of(exc))
        transitions, move = [], None
    if move is not None:
        fields.update(decision_fields(current, move["$set"]))
    if failures:
        del fields["funnelVersion"]  # not brought up to date with these rules
        first = failures[0]
        fields["scoreError"] = {**first.as_document(), "at": now, "rulesVersion": ruleset.version}
    elif lead.get("scoreError") is not None:
        fields["scoreError"] = None
    if not failures and not _changes(lead, fields) and move is None:
        return Evaluation(update=None, results=scored.results)
    return Evaluation(
        update=_update(fields, move, now),
        results=scored.results,
        transitions=transitions,
        failure=failures[0] if failures else None,
        failures=failures,
    )


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
