"""A lead's scores in GraphQL: one entry per scoring model, with its grade and explanation
(shared by leads, their history and previews)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

import strawberry

from ..rules.models import GRADES
from .common import stored_enum, vocabulary_enum

if TYPE_CHECKING:  # built from the rule files' vocabulary at import time; statically, an Enum
    Grade = Enum
else:
    Grade = vocabulary_enum("Grade", GRADES, "A scoring model's grade (fit): A best, F worst.")


@strawberry.type(description="Points one scoring rule gave.")
class ScoreExplanation:
    rule: str = strawberry.field(description="The scoring rule's name in the model's rules.")
    points: float = strawberry.field(description="Points it gave (negative for a penalty).")
    detail: str | None = strawberry.field(
        default=None, description="How the points were computed, when it needs saying (decay)."
    )


@strawberry.type(description="The lead's score under one scoring model, with its explanation.")
class LeadScore:
    model: str = strawberry.field(description="The scoring model's name, as in the rules.")
    score: float = strawberry.field(
        description="The lead's score under the model: the sum of the rules' points (see "
        "`explanation`).",
    )
    sales_ready: bool = strawberry.field(
        description="The score reached the model's sales-ready threshold (`Lead.salesReady` "
        "also counts a person's mark).",
    )
    grade: Grade | None = strawberry.field(
        description="The model's grade (fit), when the model grades (`grades:` in its rules)."
    )
    grade_reason: str | None = strawberry.field(
        description="Which of the model's grade conditions gave the grade."
    )
    explanation: list[ScoreExplanation] = strawberry.field(
        description="The points each rule gave, in the order the model's scoring kind gives "
        "them; `score` is their sum."
    )
    rules_version: str | None = strawberry.field(
        description="The rules version that computed this score.",
    )
    scored_at: datetime | None = strawberry.field(
        description="When the model last scored the lead; null for a score stored without it.",
    )
    stale: bool = strawberry.field(
        default=False,
        description="The model's plugin failed since `staleSince`: this is its last score, "
        "kept as it was (`Lead.scoreErrors` says why); the other models are up to date.",
    )
    stale_since: datetime | None = strawberry.field(
        default=None, description="When the model first failed in a row (null: not stale)."
    )

    @classmethod
    def from_entry(cls, s: dict[str, Any]) -> LeadScore:
        """One entry of a lead's ``scores``."""
        return cls(
            model=s["model"],
            score=s.get("score", 0),
            sales_ready=bool(s.get("salesReady")),
            grade=stored_enum(Grade, s.get("grade")),
            grade_reason=s.get("gradeReason"),
            explanation=[
                ScoreExplanation(rule=e["rule"], points=e["points"], detail=e.get("detail"))
                for e in s.get("explanation") or []
            ],
            rules_version=s.get("rulesVersion"),
            scored_at=s.get("scoredAt"),
            stale=bool(s.get("stale")),
            stale_since=s.get("staleSince"),
        )


@strawberry.type(
    description="A scoring model that could not score the lead: its plugin failed. The model's "
    "last score is kept in `scores`, marked `stale`; the other models are scored as usual."
)
class ModelScoreError:
    model: str = strawberry.field(description="The scoring model that failed.")
    plugin: str = strawberry.field(description="The plugin whose scoring kind raised.")
    hook: str = strawberry.field(description="Where in the plugin (the model and its kind).")
    message: str = strawberry.field(description="What the plugin said.")
    since: datetime = strawberry.field(description="When the model first failed in a row.")
    at: datetime = strawberry.field(description="The latest failed try.")
    rules_version: str | None = strawberry.field(description="The rules of the latest try.")

    @classmethod
    def from_entry(cls, e: dict[str, Any]) -> ModelScoreError:
        """One entry of a lead's ``scoreErrors``."""
        return cls(
            model=e["model"],
            plugin=e["plugin"],
            hook=e.get("hook") or "",
            message=e["message"],
            since=e["since"],
            at=e.get("at") or e["since"],
            rules_version=e.get("rulesVersion"),
        )
