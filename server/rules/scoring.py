"""Scoring leads with the scoring models of the rules.

``score_lead(ruleset, facts)`` scores one lead by every model whose ``applies_to`` it meets.
Each result says which rule gave how many points and which rules version produced it.
A lead with neither a parent contact nor a parent account is not scored automatically.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..plugin_manager import guarded
from .ruleset import RuleSet


@dataclass(frozen=True)
class ScoreResult:
    model: str
    score: float
    sales_ready: bool
    explanation: list[tuple[str, float]]
    rules_version: str

    def as_document(self, scored_at: datetime | None = None) -> dict[str, Any]:
        """The entry stored in the lead's ``scores`` array."""
        return {
            "model": self.model,
            "score": self.score,
            "salesReady": self.sales_ready,
            "explanation": [{"rule": r, "points": p} for r, p in self.explanation],
            "rulesVersion": self.rules_version,
            "scoredAt": scored_at or datetime.now(UTC),
        }


def scorable(facts: Mapping[str, Any]) -> bool:
    """Only a lead linked to a contact or an account has insights to be scored on."""
    lead = facts.get("lead") or {}
    return bool(facts.get("contact") or lead.get("parentContactId") or lead.get("parentAccountId"))


def score_lead(
    ruleset: RuleSet, facts: Mapping[str, Any], now: datetime | None = None
) -> list[ScoreResult]:
    """Score one lead by every applicable model.

    :param facts: ``{"lead", "contact", "account", "interactions"}`` as stored in MongoDB.
    :raises PluginError: a plugin's scoring kind failed (nothing has been written).
    """
    if not scorable(facts):
        return []
    now = now or datetime.now(UTC)
    results = []
    for model in ruleset.scoring_models:
        if not ruleset.compiler.predicate(model.applies_to)(facts, now):
            continue
        kind = ruleset.registry.scoring_kinds[model.kind]
        explanation = guarded(
            kind,
            f"scoring model {model.name!r} (kind {model.kind!r})",
            ruleset.scorers[model.name],
            facts,
            now,
        )
        explanation = [(str(rule), float(points)) for rule, points in explanation]
        score = round(sum(points for _, points in explanation), 6)
        results.append(
            ScoreResult(
                model=model.name,
                score=score,
                sales_ready=score >= model.threshold,
                explanation=explanation,
                rules_version=ruleset.version,
            )
        )
    return results


def lead_update(results: list[ScoreResult], now: datetime | None = None) -> dict[str, Any]:
    """The ``$set`` of a lead's scores: every model's result with its explanation (what the
    scores mean for ``salesReady`` is the funnel runner's to decide)."""
    now = now or datetime.now(UTC)
    return {"scores": [r.as_document(now) for r in results]}
