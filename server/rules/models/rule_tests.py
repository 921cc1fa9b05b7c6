"""The ``tests`` section: a rule test's ``given`` records, its trigger and what it expects."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from .base import Rule, as_datetime
from .lifecycle import Trigger
from .scoring import Grade


class Given(Rule):
    lead: dict[str, Any] | None = None
    contact: dict[str, Any] | None = None
    account: dict[str, Any] | None = None
    leads: list[dict[str, Any]] = Field(
        default_factory=list, description="The contact's leads (segment tests)."
    )
    opportunities: list[dict[str, Any]] = Field(
        default_factory=list,
        description="The contact's opportunities, and its account's without a contact "
        "(segment tests).",
    )
    interactions: list[dict[str, Any]] = Field(
        default_factory=list,
        description="The contact's interactions; `ago: 3d` instead of `occurredAt` is relative "
        "to the test's `now`.",
    )


class Expect(Rule):
    scored: bool | None = Field(
        default=None, description="Whether any model scores the lead (false: not scored)."
    )
    score: dict[str, float] = Field(default_factory=dict, description="Model -> score.")
    sales_ready: dict[str, bool] = Field(default_factory=dict)
    explanation: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="Model -> {rule: points} (the rules that scored)."
    )
    grade: dict[str, Grade | None] = Field(
        default_factory=dict, description="Model -> grade (null: the model gives none)."
    )
    stage: str | None = None
    transition: str | None = None
    segments: dict[str, bool] = Field(default_factory=dict, description="Segment -> member?")
    contact_strategy: str | None = None
    lead_strategy: str | None = None
    matches: bool | None = None
    owner: str | None = Field(
        default=None,
        description="Lifecycle tests: the owner the lead has after `trigger` (the assignment "
        "rules': a round robin's first in turn, the first of a least-loaded list); `owner: "
        "null` expects none.",
    )


class RuleTest(Rule):
    name: str = Field(min_length=1)
    now: Annotated[datetime | None, BeforeValidator(as_datetime)] = None
    given: Given = Field(default_factory=Given)
    trigger: Trigger | None = Field(
        default=None, description="Lifecycle tests: the trigger applied to `given.lead`."
    )
    form: str | None = Field(default=None, description="Matching tests: the form id.")
    entity: Literal["contact", "lead"] | None = Field(
        default=None, description="Matching tests: which record is matched."
    )
    candidate: dict[str, Any] | None = Field(
        default=None, description="Matching tests: an existing record compared with `given`."
    )
    expect: Expect
