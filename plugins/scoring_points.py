"""Built-in ``points`` scoring kind: each rule adds its points when its condition holds, or
per occurrence of an event (capped)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from leadgraph import hookimpl
from leadgraph.contracts import Scorer, ScoringKind
from leadgraph.rules.conditions import Compiler
from leadgraph.rules.models import ScoringModel


class PointsKind:
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
                conditions.count(rule.per_event) if rule.per_event is not None else None,
                rule.cap,
            )
            for rule in model.rules
        ]

        def score(facts: Mapping[str, Any], now: datetime) -> list[tuple[str, float]]:
            out = []
            for name, points, when, count, cap in compiled:
                if not when(facts, now):
                    continue
                total = points * count(facts, now) if count is not None else points
                if cap is not None:
                    total = min(total, cap) if points >= 0 else max(total, cap)
                if total:
                    out.append((name, total))
            return out

        return score


@hookimpl
def leadgraph_scoring_kinds() -> dict[str, ScoringKind]:
    return {"points": PointsKind()}
