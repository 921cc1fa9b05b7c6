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
    rule: str
    points: float
    detail: str | None = strawberry.field(
        default=None, description="How the points were computed, when it needs saying (decay)."
    )


@strawberry.type(description="The lead's score under one scoring model, with its explanation.")
class LeadScore:
    model: str
    score: float
    sales_ready: bool
    grade: Grade | None = strawberry.field(
        description="The model's grade (fit), when the model grades (`grades:` in its rules)."
    )
    grade_reason: str | None = strawberry.field(
        description="Which of the model's grade conditions gave the grade."
    )
    explanation: list[ScoreExplanation]
    rules_version: str | None
    scored_at: datetime | None

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
        )
