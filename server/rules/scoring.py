"""Scoring leads with the scoring models of the rules.

``score_lead(ruleset, facts)`` scores one lead by every model whose ``applies_to`` it meets.
Each result says which rule gave how many points and which rules version produced it.
A lead with neither a parent contact nor a parent account is not scored automatically.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..plugin_manager import guarded
from .grades import grade_lead
from .ruleset import RuleSet


@dataclass(frozen=True)
class ScoreResult:
    model: str
    score: float
    sales_ready: bool
    explanation: list[tuple[str, float]]
    rules_version: str
    #: The model's grade (A-F) and which of its ``grades:`` entries gave it (None: no grade).
    grade: str | None = None
    grade_reason: str | None = None
    #: How a rule's points were computed, when a number alone does not say it (decay): rule ->
    #: text.
    details: Mapping[str, str] = field(default_factory=dict)

    def as_document(self, scored_at: datetime | None = None) -> dict[str, Any]:
        """The entry stored in the lead's ``scores`` array."""
        return {
            "model": self.model,
            "score": self.score,
            "salesReady": self.sales_ready,
            "grade": self.grade,
            "gradeReason": self.grade_reason,
            "explanation": [_explained(r, p, self.details.get(r)) for r, p in self.explanation],
            "rulesVersion": self.rules_version,
            "scoredAt": scored_at or datetime.now(UTC),
        }


def _explained(rule: str, points: float, detail: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"rule": rule, "points": points}
    if detail:
        entry["detail"] = detail
    return entry


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
        details = {str(item[0]): str(item[2]) for item in explanation if len(item) > 2}
        explanation = [(str(item[0]), float(item[1])) for item in explanation]
        score = round(sum(points for _, points in explanation), 6)
        grade, why = grade_lead(model, ruleset.compiler, facts, now)
        results.append(
            ScoreResult(
                model=model.name,
                score=score,
                sales_ready=score >= model.threshold,
                explanation=explanation,
                rules_version=ruleset.version,
                grade=grade,
                grade_reason=why,
                details=details,
            )
        )
    return results


def lead_update(results: list[ScoreResult], now: datetime | None = None) -> dict[str, Any]:
    """The ``$set`` of a lead's scores: every model's result with its explanation (what the
    scores mean for ``salesReady`` is the funnel runner's to decide), and the same scores and
    grades by model name (``scoreOf.<model>``, ``gradeOf.<model>``) for indexed sorting and
    filtering."""
    now = now or datetime.now(UTC)
    return {
        "scores": [r.as_document(now) for r in results],
        "scoreOf": {r.model: r.score for r in results},
        "gradeOf": {r.model: r.grade for r in results if r.grade is not None},
    }


def indexed_models(ruleset: RuleSet) -> list[tuple[str, bool]]:
    """``(model, whether it grades)`` of every scoring model: what the per-model lead indexes
    are made of (:func:`leadgraph.store.lead_scores.model_indexes`)."""
    return [(m.name, bool(m.grades)) for m in ruleset.scoring_models]
