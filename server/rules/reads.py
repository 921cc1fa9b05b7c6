"""What of a lead's interactions the rules can see, so the funnel reads no more than that.

Scoring models (their ``applies_to`` and what their kind says it reads) and lifecycle
transitions (guard conditions and named guards) together read a set of *event specs*: each is
only ever counted (``event`` conditions, ``per_event`` rules), so the database counts them
(:func:`leadgraph.services.facts.gather`) and no interaction document needs to travel.  A
plugin that does not say what it reads gets every interaction, as before.

:func:`spec_key` names a spec's count in ``Facts["counts"]``; the condition compiler looks a
count up there before counting ``Facts["interactions"]``, so both roads give one answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..contracts import READS_EVERYTHING, InteractionReads
from .conditions import spec_key, walk
from .models import Condition, Event, EventSpec

if TYPE_CHECKING:
    from .ruleset import RuleSet

_CACHE: dict[int, tuple[RuleSet, InteractionReads]] = {}

__all__ = ["condition_specs", "ruleset_reads", "spec_key", "unique"]


def condition_specs(cond: Condition | None) -> tuple[EventSpec, ...]:
    """The event specs a condition counts."""
    if cond is None:
        return ()
    return tuple(node.event for node, _ in walk(cond) if isinstance(node, Event))


def unique(specs: Iterable[EventSpec]) -> tuple[EventSpec, ...]:
    """``specs`` with one spec per :func:`spec_key`."""
    return tuple({spec_key(s): s for s in specs}.values())


def _declared(thing: Any, *args: Any) -> InteractionReads:
    reads = getattr(thing, "reads", None)
    if reads is None:
        return READS_EVERYTHING
    if isinstance(reads, InteractionReads):
        return reads
    found = reads(*args)
    return found if isinstance(found, InteractionReads) else READS_EVERYTHING


def ruleset_reads(ruleset: RuleSet) -> InteractionReads:
    """What the funnel's evaluation of ``ruleset`` reads of a lead's interactions (computed
    once per rule set)."""
    cached = _CACHE.get(id(ruleset))
    if cached is not None and cached[0] is ruleset:
        return cached[1]
    total = InteractionReads()
    for model in ruleset.scoring_models:
        total |= InteractionReads(counts=condition_specs(model.applies_to))
        for grade in model.grades:
            total |= InteractionReads(counts=condition_specs(grade.when))
        kind = ruleset.registry.scoring_kinds.get(model.kind)
        total |= _declared(kind.value if kind else None, model)
    lifecycle = ruleset.lifecycle
    for t in lifecycle.transitions if lifecycle is not None else ():
        total |= InteractionReads(counts=condition_specs(t.guard))
        for name in t.requires:
            guard = ruleset.registry.guards.get(name)
            total |= _declared(guard.value if guard else None)
    out = InteractionReads(
        counts=unique(total.counts), documents=unique(total.documents), everything=total.everything
    )
    if len(_CACHE) > 64:
        _CACHE.clear()
    _CACHE[id(ruleset)] = (ruleset, out)
    return out
