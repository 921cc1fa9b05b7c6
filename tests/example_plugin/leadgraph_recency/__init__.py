"""The ``recency`` scoring kind: each interaction earns its type's weight, halved every
``half_life_days`` of age, so recent engagement counts most."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from leadgraph import hookimpl
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class RecencyOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    half_life_days: float = Field(gt=0)
    weights: dict[str, float] = Field(min_length=1)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class RecencyKind:
    def prepare(
        self, model: Any, conditions: Any
    ) -> Callable[[Mapping[str, Any], datetime], list[tuple[str, float]]]:
        try:
            options = RecencyOptions.model_validate(model.options)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
            )
            raise ValueError(f"options: {problems}") from None

        def score(facts: Mapping[str, Any], now: datetime) -> list[tuple[str, float]]:
            points: dict[str, float] = defaultdict(float)
            for item in facts.get("interactions") or ():
                weight = options.weights.get(item.get("type", ""))
                if weight is None:
                    continue
                age_days = (_utc(now) - _utc(item["occurredAt"])).total_seconds() / 86400
                points[item["type"]] += weight * 0.5 ** (max(age_days, 0) / options.half_life_days)
            return [(f"recent {kind}", round(total, 3)) for kind, total in sorted(points.items())]

        return score


@hookimpl
def leadgraph_scoring_kinds() -> dict[str, Any]:
    return {"recency": RecencyKind()}
