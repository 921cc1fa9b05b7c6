"""A partner plugin that fails: its ``fragile`` scoring kind raises for any lead whose topic
contains "explode" (and gives 1 point otherwise), like a partner's model with a bug."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from leadgraph import hookimpl


class FragileKind:
    def prepare(self, model: Any, conditions: Any) -> Any:
        def score(facts: Mapping[str, Any], now: datetime) -> list[tuple[str, float]]:
            if "explode" in (facts["lead"].get("topic") or ""):
                raise RuntimeError("the fragile model exploded")
            return [("steady", 1.0)]

        return score


@hookimpl
def leadgraph_scoring_kinds() -> dict[str, Any]:
    return {"fragile": FragileKind()}
