"""Built-in ``points`` scoring kind: each rule adds its points when its condition holds, or
per occurrence of an event (capped), each occurrence's points decaying by the rule's
``half_life`` when it has one."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from leadgraph import hookimpl
from leadgraph.contracts import Explained, InteractionReads, Scorer, ScoringKind
from leadgraph.rules.conditions import Compiler
from leadgraph.rules.models import ScoringModel, ScoringRule, duration
from leadgraph.rules.reads import condition_facts, condition_specs

Points = Callable[[Mapping[str, Any], datetime], tuple[float, str | None]]


def decayed(points: float, ages: list[timedelta], half_life: timedelta) -> float:
    """``points`` for each age, each times 0.5^(age / half_life)."""
    return sum(points * 0.5 ** (age / half_life) for age in ages)


def _points(rule: ScoringRule, conditions: Compiler) -> Points:
    """``(facts, now) -> (points before the cap, how they were computed or None)``."""
    points = rule.points
    if rule.per_event is None:
        return lambda facts, now: (points, None)
    if rule.half_life is None:
        count = conditions.count(rule.per_event)
        return lambda facts, now: (points * count(facts, now), None)
    ages = conditions.ages(rule.per_event)
    half_life, text = duration(rule.half_life), rule.half_life

    def decay(facts: Mapping[str, Any], now: datetime) -> tuple[float, str | None]:
        found = ages(facts, now)
        total = round(decayed(points, found, half_life), 2)
        return total, f"{len(found)} event(s) x {points:g} points, halved every {text}"

    return decay


class PointsKind:
    def reads(self, model: ScoringModel) -> InteractionReads:
        """A points model counts its ``when`` events and ``per_event`` rules, and weighs
        each occurrence of a decaying (``half_life``) rule by its age."""
        specs = [s for rule in model.rules for s in condition_specs(rule.when)]
        specs += [r.per_event for r in model.rules if r.per_event and r.half_life is None]
        aged = [r.per_event for r in model.rules if r.per_event and r.half_life is not None]
        return InteractionReads(counts=tuple(specs), documents=tuple(aged))

    def facts(self, model: ScoringModel) -> frozenset[str]:
        """A points model reads the record fields its rules' ``when`` compare."""
        return frozenset().union(*(condition_facts(rule.when) for rule in model.rules))

    def prepare(self, model: ScoringModel, conditions: Compiler) -> Scorer:
        if model.options:
            raise ValueError(f"the points kind takes no options (got {sorted(model.options)})")
        if not model.rules:
            raise ValueError("a points model needs at least one rule")
        compiled = [
            (
                rule.name,
                rule.points,
                conditions.predicate(rule.when),
                _points(rule, conditions),
                rule.cap,
            )
            for rule in model.rules
        ]

        def score(facts: Mapping[str, Any], now: datetime) -> list[Explained]:
            out: list[Explained] = []
            for name, points, when, earned, cap in compiled:
                if not when(facts, now):
                    continue
                total, detail = earned(facts, now)
                if cap is not None:
                    capped = min(total, cap) if points >= 0 else max(total, cap)
                    if capped != total and detail is not None:
                        detail += f", capped at {cap:g}"
                    total = capped
                if total:
                    out.append((name, total) if detail is None else (name, total, detail))
            return out

        return score


@hookimpl
def leadgraph_scoring_kinds() -> dict[str, ScoringKind]:
    return {"points": PointsKind()}
