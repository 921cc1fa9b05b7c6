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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..contracts import READS_EVERYTHING, InteractionReads
from .conditions import in_event, spec_key, walk
from .models import Compare, Condition, Event, EventSpec

if TYPE_CHECKING:
    from .ruleset import RuleSet

_CACHE: dict[int, tuple[RuleSet, InteractionReads]] = {}
_FACTS: dict[int, tuple[RuleSet, FactReads]] = {}

__all__ = [
    "FactReads",
    "condition_facts",
    "condition_specs",
    "ruleset_facts",
    "ruleset_reads",
    "spec_key",
    "unique",
]

#: What deciding whether a lead is scored at all reads (see ``scoring.scorable``).
ALWAYS_READ = frozenset({"lead.parentContactId", "lead.parentAccountId"})


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


# ---------------------------------------------------------------- record fields


@dataclass(frozen=True)
class FactReads:
    """Which fields of a lead's records the rules read (``contact.jobTitle``,
    ``account.numberOfEmployees``, ``lead.salesReady``), so that an edit of another field
    needs no rescore.  ``everything``: some reader does not say (a plugin's scoring kind or
    guard without ``facts``, or a transition every update takes): any edit may matter."""

    paths: frozenset[str] = frozenset()
    everything: bool = False

    def read(self, entity: str, fields: Iterable[str]) -> list[str]:
        """The edited top-level ``fields`` of an ``entity`` record (``contact``, ``account``,
        ``lead``) the rules read: a field read whole or in part (``preferences`` for
        ``contact.preferences.allowBulkEmail``).  Every field when :attr:`everything`."""
        if self.everything:
            return list(fields)
        return [
            f
            for f in fields
            if any(p == f"{entity}.{f}" or p.startswith(f"{entity}.{f}.") for p in self.paths)
        ]


def condition_facts(cond: Condition | None) -> frozenset[str]:
    """The record facts a condition compares (not the ``interaction.`` facts of an event's
    ``where``)."""
    if cond is None:
        return frozenset()
    return frozenset(
        node.fact
        for node, loc in walk(cond)
        if isinstance(node, Compare) and not in_event(loc) and "." in node.fact
    )


def _declared_facts(thing: Any, *args: Any) -> frozenset[str] | None:
    """The facts a plugin's kind or guard says it reads (``facts``: an iterable, or a callable
    given the model); None when it does not say."""
    facts = getattr(thing, "facts", None)
    if facts is None:
        return None
    found = facts(*args) if callable(facts) else facts
    return frozenset(str(f) for f in found)


def ruleset_facts(ruleset: RuleSet) -> FactReads:
    """What the funnel's evaluation of ``ruleset`` reads of a lead's records (computed once
    per rule set): scoring models (``applies_to``, grades, what their kind says), transition
    guards and named guards."""
    cached = _FACTS.get(id(ruleset))
    if cached is not None and cached[0] is ruleset:
        return cached[1]
    paths: set[str] = set(ALWAYS_READ)
    everything = False
    for model in ruleset.scoring_models:
        paths |= condition_facts(model.applies_to)
        for grade in model.grades:
            paths |= condition_facts(grade.when)
        kind = ruleset.registry.scoring_kinds.get(model.kind)
        declared = _declared_facts(kind.value if kind else None, model)
        everything |= declared is None
        paths |= declared or frozenset()
    lifecycle = ruleset.lifecycle
    for t in lifecycle.transitions if lifecycle is not None else ():
        paths |= condition_facts(t.guard)
        everything |= "updated" in t.on and t.guard is None and not t.requires
        for name in t.requires:
            guard = ruleset.registry.guards.get(name)
            declared = _declared_facts(guard.value if guard else None)
            everything |= declared is None
            paths |= declared or frozenset()
    out = FactReads(frozenset(paths), everything)
    if len(_FACTS) > 64:
        _FACTS.clear()
    _FACTS[id(ruleset)] = (ruleset, out)
    return out
