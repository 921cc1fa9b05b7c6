"""The ``scoring`` section: scoring models, their rules (points) and grades (fit)."""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import Field

from .base import Duration, Name, Rule
from .condition import Condition, EventSpec


class ScoringRule(Rule):
    """Points a lead earns: once when ``when`` holds, or per occurrence of ``per_event``."""

    name: str = Field(min_length=1)
    points: float
    when: Condition | None = None
    per_event: EventSpec | None = Field(
        default=None, description="Award `points` for each matching interaction."
    )
    cap: float | None = Field(default=None, description="At most this many points in total.")
    half_life: Duration | None = Field(
        default=None,
        description="Decay (per_event rules): each occurrence's points x 0.5^(age/half_life), "
        "so an event half_life old counts half; applied before `cap`.",
    )


Grade = Literal["A", "B", "C", "D", "E", "F"]
GRADES: tuple[str, ...] = get_args(Grade)  # best first
RollupMethod = Literal["max", "sum", "average"]
ROLLUP_METHODS: tuple[str, ...] = get_args(RollupMethod)


class GradeRule(Rule):
    """A grade (fit, A best to F) a model gives when ``when`` holds; the first that holds wins,
    one without ``when`` gives its grade otherwise."""

    grade: Grade
    when: Condition | None = Field(
        default=None, description="Conditions on the lead, contact and account; none: otherwise."
    )
    name: str = Field(
        default="", description="Why the grade is given (default: the condition, as text)."
    )


class ScoringModel(Rule):
    name: Name
    kind: str = Field(default="points", description="A scoring kind provided by a plugin.")
    description: str = ""
    threshold: float = Field(description="Sales-ready threshold: a score at or above it.")
    applies_to: Condition | None = Field(
        default=None, description="Only leads meeting this condition are scored by the model."
    )
    rules: list[ScoringRule] = Field(default_factory=list)
    options: dict[str, Any] = Field(default_factory=dict)
    grades: list[GradeRule] = Field(
        default_factory=list,
        description="A grade (fit) besides the score: the first entry whose `when` holds.",
    )
    account_rollup: RollupMethod | None = Field(
        default=None,
        description="Roll the model's scores up to accounts (Account.scores): the max, sum or "
        "average over the leads of the account and of its contacts.",
    )


for _model in (
    ScoringRule,
    GradeRule,
    ScoringModel,
):
    _model.model_rebuild()
