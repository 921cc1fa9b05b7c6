"""Scoring leads with the scoring models of the rules.

``score_models(ruleset, facts)`` scores one lead by every model whose ``applies_to`` it meets.
Each result says which rule gave how many points and which rules version produced it.  A model
whose kind (a partner's plugin) raises is one failure, never every model's: the others are
scored; the failed model's last score is kept, marked stale (:func:`stale_entries`).
A lead with neither a parent contact nor a parent account is not scored automatically.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..plugin_manager import PluginError, guarded
from .grades import grade_lead
from .models import ScoringModel
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


@dataclass(frozen=True)
class ModelFailure:
    """A scoring model whose kind (or grade condition) raised: its score is stale."""

    model: str
    error: PluginError


@dataclass
class Scoring:
    """Every applicable model's result, and the models that failed."""

    results: list[ScoreResult] = field(default_factory=list)
    failed: list[ModelFailure] = field(default_factory=list)


def score_lead(
    ruleset: RuleSet, facts: Mapping[str, Any], now: datetime | None = None
) -> list[ScoreResult]:
    """Score one lead by every applicable model, all or nothing (rule tests, replays).

    :param facts: ``{"lead", "contact", "account", "interactions"}`` as stored in MongoDB.
    :raises PluginError: a plugin's scoring kind failed (the first model that failed).
    """
    scored = score_models(ruleset, facts, now)
    if scored.failed:
        raise scored.failed[0].error
    return scored.results


def score_models(
    ruleset: RuleSet, facts: Mapping[str, Any], now: datetime | None = None
) -> Scoring:
    """Score one lead by every applicable model; a model whose plugin raises is recorded in
    ``failed`` and the other models are scored all the same."""
    scored = Scoring()
    if not scorable(facts):
        return scored
    now = now or datetime.now(UTC)
    for model in ruleset.scoring_models:
        if not ruleset.compiler.predicate(model.applies_to)(facts, now):
            continue
        try:
            scored.results.append(_score_one(ruleset, model, facts, now))
        except PluginError as exc:
            scored.failed.append(ModelFailure(model.name, exc))
    return scored


def _score_one(
    ruleset: RuleSet, model: ScoringModel, facts: Mapping[str, Any], now: datetime
) -> ScoreResult:
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
    return ScoreResult(
        model=model.name,
        score=score,
        sales_ready=score >= model.threshold,
        explanation=explanation,
        rules_version=ruleset.version,
        grade=grade,
        grade_reason=why,
        details=details,
    )


def stale_entries(
    lead: Mapping[str, Any], failed: list[ModelFailure], now: datetime, rules_version: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """What the lead keeps of the models that failed: their last ``scores`` entries, marked
    ``stale`` since the first failure in a row, and one ``scoreErrors`` entry per model
    (which model, which plugin and hook, what it said, since when, and the latest try)."""
    old_scores = {s["model"]: s for s in lead.get("scores") or []}
    old_errors = {e.get("model"): e for e in lead.get("scoreErrors") or []}
    entries, errors = [], []
    for f in failed:
        since = (old_errors.get(f.model) or {}).get("since") or now
        errors.append(
            {
                "model": f.model,
                "plugin": f.error.plugin,
                "hook": f.error.hook,
                "message": f.error.message,
                "since": since,
                "at": now,
                "rulesVersion": rules_version,
            }
        )
        if (kept := old_scores.get(f.model)) is not None:
            entries.append({**kept, "stale": True, "staleSince": since})
    return entries, errors


def lead_update(
    results: list[ScoreResult],
    now: datetime | None = None,
    stale: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The ``$set`` of a lead's scores: every model's result with its explanation (what the
    scores mean for ``salesReady`` is the funnel runner's to decide) and the ``stale`` entries
    kept for models that failed, and the same scores and grades by model name
    (``scoreOf.<model>``, ``gradeOf.<model>``) for indexed sorting and filtering."""
    now = now or datetime.now(UTC)
    scores = [r.as_document(now) for r in results] + list(stale or [])
    return {
        "scores": scores,
        "scoreOf": {s["model"]: s["score"] for s in scores},
        "gradeOf": {s["model"]: s["grade"] for s in scores if s.get("grade") is not None},
    }


def indexed_models(ruleset: RuleSet) -> list[tuple[str, bool]]:
    """``(model, whether it grades)`` of every scoring model: what the per-model lead indexes
    are made of (:func:`leadgraph.store.lead_scores.model_indexes`)."""
    return [(m.name, bool(m.grades)) for m in ruleset.scoring_models]
