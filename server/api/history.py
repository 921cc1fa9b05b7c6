"""A lead's score history (``Lead.scoreHistory``) and as-of replay (``Lead.asOf``) over GraphQL;
the fields are attached to :class:`leadgraph.api.leads.types.Lead`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from enum import Enum
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from ..services.history import CAUSES, AsOf
from .common import stored_enum, vocabulary_enum
from .relay import Connection, check_page_args, connection, load_one
from .scores import LeadScore

if TYPE_CHECKING:
    from .interactions.types import Interaction

    ChangeCauseKind = Enum
else:
    ChangeCauseKind = vocabulary_enum(
        "ChangeCauseKind", CAUSES, "Why the funnel changed a lead's scores or stage."
    )

InteractionT = Annotated["Interaction", strawberry.lazy("leadgraph.api.interactions.types")]


@strawberry.enum(description="Which rules an as-of replay answers with.")
class ReplayRules(Enum):
    THEN = strawberry.enum_value(
        "then", description="The rules live at that time, as stored with the lead."
    )
    LIVE = strawberry.enum_value(
        "live", description="Today's rules over the interactions known then."
    )


@strawberry.type(description="Why a lead changed.")
class ChangeCause:
    kind: ChangeCauseKind | None = strawberry.field(
        description="Null for a kind this server does not know (written by a newer one)."
    )
    by: str | None = strawberry.field(description="Who decided, for a change by hand.")
    reason: str | None = strawberry.field(
        description="The reason the person gave, for a change by hand; null otherwise.",
    )
    _interaction_id: strawberry.Private[Any]

    @strawberry.field(description="The interaction that caused the change, if one did.")
    async def interaction(self, info: Info) -> InteractionT | None:
        from .interactions.types import Interaction

        return await load_one(info, "interactions", self._interaction_id, Interaction.from_doc)


@strawberry.type(description="How many points one rule gave before and after a change.")
class RulePointsChange:
    rule: str = strawberry.field(description="The scoring rule's name.")
    before: float | None = strawberry.field(description="Null: the rule gave no points.")
    after: float | None = strawberry.field(description="Null: the rule gives no points.")


@strawberry.type(
    description="One change of a lead: of one scoring model's entry (`model` set) or of the "
    "lead's own stage and sales-ready fields (`model` null). Only what changed is given; the "
    "other fields are null."
)
class ScoreChange:
    at: datetime = strawberry.field(description="When the change happened.")
    model: str | None = strawberry.field(
        description="The scoring model whose entry changed; null for a change of the lead's own "
        "stage or sales-ready fields.",
    )
    rules_version: str | None = strawberry.field(description="The rules that made the change.")
    cause: ChangeCause = strawberry.field(
        description="Why the lead changed: an interaction, an update, a person's decision, a "
        "rescore, new rules, an import or a merge.",
    )
    fields: list[str] = strawberry.field(
        description="The fields that changed (`score`, `salesReady`, `grade`, `stage`, ...)."
    )
    score: float | None = strawberry.field(
        description="The model's score after the change; null when it did not change.",
    )
    score_before: float | None = strawberry.field(
        description="The score before (null: unchanged, or the model had not scored the lead yet).",
    )
    sales_ready: bool | None = strawberry.field(
        description="Sales-ready after the change; null when it did not change.",
    )
    sales_ready_before: bool | None = strawberry.field(
        description="Sales-ready before; null when it did not change.",
    )
    grade: str | None = strawberry.field(
        description="The model's grade after the change; null when it did not change.",
    )
    grade_before: str | None = strawberry.field(
        description="The grade before; null when it did not change or there was none.",
    )
    stage: str | None = strawberry.field(
        description="The lifecycle stage after the move; null when the stage did not change.",
    )
    stage_before: str | None = strawberry.field(
        description="The stage before the move; null when the stage did not change.",
    )
    transitions: list[str] = strawberry.field(description="The transitions taken, for a move.")
    explanation: list[RulePointsChange] = strawberry.field(
        description="The rules whose points changed."
    )

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> ScoreChange:
        changes = doc.get("changes") or {}
        cause = doc.get("cause") or {}

        def pair(name: str) -> tuple[Any, Any]:
            c = changes.get(name) or {}
            return c.get("after"), c.get("before")

        score, score_before = pair("score")
        ready, ready_before = pair("salesReady")
        grade, grade_before = pair("grade")
        stage, stage_before = pair("stage")
        return cls(
            at=doc["at"],
            model=doc.get("model"),
            rules_version=doc.get("rulesVersion"),
            cause=ChangeCause(
                kind=stored_enum(ChangeCauseKind, cause.get("kind")),
                by=cause.get("by"),
                reason=cause.get("reason"),
                _interaction_id=cause.get("interactionId"),
            ),
            fields=list(changes),
            score=score,
            score_before=score_before,
            sales_ready=ready,
            sales_ready_before=ready_before,
            grade=grade,
            grade_before=grade_before,
            stage=stage,
            stage_before=stage_before,
            transitions=list(doc.get("transitions") or []),
            explanation=[
                RulePointsChange(rule=d["rule"], before=d.get("before"), after=d.get("after"))
                for d in doc.get("explanation") or []
            ],
        )


@strawberry.type(description="A lead as it was at a past time.")
class LeadAsOf:
    time: datetime = strawberry.field(description="The moment asked for.")
    rules: ReplayRules = strawberry.field(
        description="Which rules answered: THEN (as stored) or LIVE (today's, replayed).",
    )
    rules_version: str | None = strawberry.field(
        description="THEN: the rules the lead was last changed with by that time; LIVE: today's."
    )
    stage: str | None = strawberry.field(
        description="The lifecycle stage the lead was in at that time.",
    )
    sales_ready: bool = strawberry.field(
        description="Whether the lead was sales-ready at that time.",
    )
    scores: list[LeadScore] = strawberry.field(description="Its scores per model at that time.")
    explanation: list[str] = strawberry.field(
        description="How the answer was found: the changes up to that time (THEN), or what "
        "today's rules gave over the interactions known then (LIVE)."
    )

    @classmethod
    def of(cls, got: AsOf) -> LeadAsOf:
        return cls(
            time=got.time,
            rules=ReplayRules(got.rules),
            rules_version=got.rules_version,
            stage=got.stage,
            sales_ready=got.sales_ready,
            scores=[LeadScore.from_entry(s) for s in got.scores],
            explanation=got.explanation,
        )


def utc(t: datetime) -> datetime:
    """A time given without a zone is UTC."""
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


async def score_history(
    info: Info,
    lead: Mapping[str, Any],
    model: str | None,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> Connection[ScoreChange]:
    """``Lead.scoreHistory``: a page of the lead's changes, oldest first."""
    first, last = check_page_args(info, first, last)
    window = {"first": first, "after": after, "last": last, "before": before}
    service = info.context.services.history
    page = await service.page(lead["_id"], model, **window)
    return connection(page, ScoreChange.from_doc, partial(service.count, lead["_id"], model))


async def as_of(
    info: Info, lead: Mapping[str, Any], time: datetime, rules: ReplayRules
) -> LeadAsOf | None:
    """``Lead.asOf``: the lead at ``time`` (null before it existed)."""
    got = await info.context.services.history.as_of(lead, utc(time), rules.value)
    return LeadAsOf.of(got) if got is not None else None
