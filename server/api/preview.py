"""GraphQL for rule-change previews: ``previewRules(files:)`` (admins)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

import strawberry
from strawberry import relay
from strawberry.types import Info

from ..errors import InvalidInput, UserError
from ..plugin_manager import PluginError
from ..rules.loader import RuleError, RulesInvalid
from ..services import preview as service
from ..services.report import CHANGED_MEANS
from .errors import (
    Error,
    ForbiddenError,
    PluginErrorType,
    ValidationError,
    errors_as_data,
    maps,
    plugin_errors,
)
from .leads.types import Lead
from .relay import global_id
from .rules import RuleFileError
from .scores import LeadScore

MAX_SAMPLE = 100


@strawberry.input(description="One candidate rule file: its name and its YAML text.")
class RuleFileInput:
    path: str = strawberry.field(description="A file name ending in .yaml or .yml.")
    content: str = strawberry.field(
        description="The file's YAML text, as it would be saved in the rules directory.",
    )


@strawberry.type(description="The candidate rule files have errors; nothing was evaluated.")
class RulesInvalidError(Error):
    errors: list[RuleFileError] = strawberry.field(
        description="Every problem, at file:line:column."
    )


class CandidateInvalid(UserError):
    code = "RULES_INVALID"

    def __init__(self, exc: RulesInvalid) -> None:
        self.errors = exc.errors
        super().__init__(f"the candidate rules have {len(exc.errors)} error(s): {exc.errors[0]}")


@maps(CandidateInvalid)
def _candidate_invalid(exc: CandidateInvalid) -> RulesInvalidError:
    return RulesInvalidError(
        message=str(exc),
        code=exc.code,
        errors=[
            RuleFileError(file=e.file, line=e.line, column=e.column, message=e.message)
            for e in exc.errors
        ],
    )


@strawberry.type(description="Leads with `low <= score < high`.")
class ScoreBucket:
    low: float = strawberry.field(
        description="The bucket's lowest score (included); buckets are 10 points wide.",
    )
    high: float = strawberry.field(description="The bucket's upper bound (excluded).")
    leads: int = strawberry.field(description="How many leads score in the bucket.")


@strawberry.type(description="How one model's scores spread over the leads it scores.")
class ScoreDistribution:
    count: int = strawberry.field(description="Leads the model scores.")
    mean: float | None = strawberry.field(
        description="Their mean score; null when the model scores no lead.",
    )
    min: float | None = strawberry.field(
        description="The lowest score; null when the model scores no lead.",
    )
    p25: float | None = strawberry.field(
        description="The 25th percentile score; null when the model scores no lead.",
    )
    p50: float | None = strawberry.field(
        description="The median score; null when the model scores no lead.",
    )
    p75: float | None = strawberry.field(
        description="The 75th percentile score; null when the model scores no lead.",
    )
    p90: float | None = strawberry.field(
        description="The 90th percentile score; null when the model scores no lead.",
    )
    max: float | None = strawberry.field(
        description="The highest score; null when the model scores no lead.",
    )
    buckets: list[ScoreBucket] = strawberry.field(
        description="Leads per 10-point score range, lowest first; empty ranges are left out.",
    )

    @classmethod
    def of(cls, d: service.Distribution) -> ScoreDistribution:
        return cls(
            count=d.count,
            mean=d.mean,
            min=d.minimum,
            p25=d.p25,
            p50=d.p50,
            p75=d.p75,
            p90=d.p90,
            max=d.maximum,
            buckets=[ScoreBucket(low=lo, high=hi, leads=n) for lo, hi, n in d.buckets],
        )


@strawberry.type(description="One rule of a model: leads whose points from it change.")
class RulePreview:
    rule: str = strawberry.field(
        description="The scoring rule's name (a rule only one side has shows 0 points on the "
        "other).",
    )
    leads: int = strawberry.field(description="Leads whose points from this rule change.")
    points_before: float = strawberry.field(description="Its points over those leads, now.")
    points_after: float = strawberry.field(description="Its points over them, after.")


@strawberry.type(description="One scoring model across the leads, now and after the change.")
class ModelPreview:
    model: str = strawberry.field(
        description="The scoring model's name (live, candidate, or both).",
    )
    changed: int = strawberry.field(description="Leads whose score, grade or flag changes.")
    sales_ready_on: int = strawberry.field(description="Leads this model makes sales-ready.")
    sales_ready_off: int = strawberry.field(description="Leads no longer sales-ready by it.")
    before: ScoreDistribution = strawberry.field(
        description="Its scores over the leads now (live rules, as stored).",
    )
    after: ScoreDistribution = strawberry.field(
        description="Its scores over the leads under the candidate rules.",
    )
    rules: list[RulePreview] = strawberry.field(
        description="The model's rules whose points change for some lead.",
    )


@strawberry.type(description="Leads that would move from one stage to another.")
class StageMovePreview:
    from_stage: str | None = strawberry.field(
        description="The stage the leads are in now (null: none stored).",
    )
    to_stage: str | None = strawberry.field(
        description="The stage the candidate rules would move them to.",
    )
    leads: int = strawberry.field(description="How many leads would make this move.")


@strawberry.type(
    description="A segment's members under the live and the candidate rules (null: the "
    "segment is not defined there), counted by the segment query over the stored records."
)
class SegmentMembersChange:
    name: str = strawberry.field(description="The segment's name.")
    before: int | None = strawberry.field(
        description="Members under the live rules; null when the segment is not defined there.",
    )
    after: int | None = strawberry.field(
        description="Members under the candidate rules; null when it is not defined there.",
    )
    added: int = strawberry.field(description="Contacts that would join.")
    removed: int = strawberry.field(description="Contacts that would leave.")
    added_contacts: list[relay.GlobalID] = strawberry.field(description="A sample of joiners.")
    removed_contacts: list[relay.GlobalID] = strawberry.field(description="A sample of leavers.")


@strawberry.type(description="One model's score of a lead, as stored and after the change.")
class ScorePreview:
    model: str = strawberry.field(description="The scoring model's name.")
    before: LeadScore | None = strawberry.field(
        description="The score as stored now; null when the live rules do not score the lead with "
        "this model.",
    )
    after: LeadScore | None = strawberry.field(
        description="The score under the candidate rules; null when they would not score it with "
        "this model.",
    )


@strawberry.type(description="One changed lead, before and after, with its explanations.")
class LeadPreview:
    lead: Lead = strawberry.field(description="The lead as stored now.")
    stage_before: str | None = strawberry.field(description="The lead's stage now.")
    stage_after: str | None = strawberry.field(description="Its stage under the candidate rules.")
    sales_ready_before: bool = strawberry.field(description="Sales-ready now.")
    sales_ready_after: bool = strawberry.field(description="Sales-ready under the candidate rules.")
    scores: list[ScorePreview] = strawberry.field(description="The models whose score changes.")


@strawberry.type(
    description="What the candidate rules would change if they went live and every lead were "
    "rescored (nothing was written)."
)
class RulesPreview:
    live_version: str | None = strawberry.field(
        description="The version of the rules live now; null when none are live (invalid or "
        "missing).",
    )
    rules_version: str = strawberry.field(description="The candidate rules' version.")
    at: datetime = strawberry.field(description="The time the leads were evaluated at.")
    leads: int = strawberry.field(description="Leads evaluated.")
    changed: int = strawberry.field(
        description=f"Leads that would change ({CHANGED_MEANS}); `leadgraph rescore` counts "
        "the same leads as changed."
    )
    score_changed: int = strawberry.field(description="Leads with a changed score or grade.")
    sales_ready_on: int = strawberry.field(description="Leads that would become sales-ready.")
    sales_ready_off: int = strawberry.field(description="Leads that would stop being so.")
    stage_moves: list[StageMovePreview] = strawberry.field(
        description="The stage moves the candidate rules would make, by from/to pair.",
    )
    models: list[ModelPreview] = strawberry.field(
        description="Per scoring model: distributions before and after, sales-ready flips and the "
        "rules that change.",
    )
    segments: list[SegmentMembersChange] = strawberry.field(
        description="Published segments whose members would change.",
    )
    samples: list[LeadPreview] = strawberry.field(
        description="Up to `sample` changed leads, before and after, with their explanations.",
    )
    failed: int = strawberry.field(description="Leads a plugin failed on (they would be stale).")
    plugin_errors: list[PluginErrorType] = strawberry.field(
        description="The plugins that failed, once each.",
    )

    @classmethod
    def of(cls, r: service.PreviewReport) -> RulesPreview:
        return cls(
            live_version=r.live_version,
            rules_version=r.rules_version,
            at=r.now,
            leads=r.leads,
            changed=r.changed,
            score_changed=r.score_changed,
            sales_ready_on=r.sales_ready_on,
            sales_ready_off=r.sales_ready_off,
            stage_moves=[
                StageMovePreview(from_stage=m.from_stage, to_stage=m.to_stage, leads=m.leads)
                for m in r.stage_moves
            ],
            models=[
                ModelPreview(
                    model=m.model,
                    changed=m.changed,
                    sales_ready_on=m.sales_ready_on,
                    sales_ready_off=m.sales_ready_off,
                    before=ScoreDistribution.of(m.before),
                    after=ScoreDistribution.of(m.after),
                    rules=[
                        RulePreview(
                            rule=rc.rule,
                            leads=rc.leads,
                            points_before=rc.points_before,
                            points_after=rc.points_after,
                        )
                        for rc in m.rules
                    ],
                )
                for m in r.models
            ],
            segments=[
                SegmentMembersChange(
                    name=s.name,
                    before=s.before,
                    after=s.after,
                    added=s.added,
                    removed=s.removed,
                    added_contacts=[global_id("Contact", i) for i in s.added_ids],  # type: ignore[misc]
                    removed_contacts=[global_id("Contact", i) for i in s.removed_ids],  # type: ignore[misc]
                )
                for s in r.segments
            ],
            samples=[
                LeadPreview(
                    lead=Lead.from_doc(c.lead),
                    stage_before=c.lead.get("stage"),
                    stage_after=c.after.get("stage"),
                    sales_ready_before=bool(c.lead.get("salesReady")),
                    sales_ready_after=bool(c.after.get("salesReady")),
                    scores=[
                        ScorePreview(
                            model=sc.model,
                            before=LeadScore.from_entry(sc.before) if sc.before else None,
                            after=LeadScore.from_entry(sc.after) if sc.after else None,
                        )
                        for sc in c.scores
                    ],
                )
                for c in r.samples
            ],
            failed=r.failed,
            plugin_errors=plugin_errors(r.failures),
        )


PreviewRulesResult = Annotated[
    RulesPreview | RulesInvalidError | ValidationError | ForbiddenError,
    strawberry.union(
        "PreviewRulesResult",
        description="What a rules preview answers: the leads the candidate rules would change, or "
        "the errors in the files.",
    ),
]


@strawberry.type
class PreviewQuery:
    @strawberry.field(
        description="What a candidate rule set (the whole rules directory, as files) would "
        "change if it went live and every lead were rescored: scores (distribution before and "
        "after, per model and rule), sales-ready flips, stage moves, segment members, and a "
        "sample of changed leads with their explanations. Admins; nothing is written."
    )
    @errors_as_data
    async def preview_rules(
        self,
        info: Info,
        files: Annotated[
            list[RuleFileInput],
            strawberry.argument(
                description="Every file of the candidate rules directory (the whole set, not just "
                "the changed ones), each at most the rule-file size limit."
            ),
        ],
        sample: Annotated[
            int,
            strawberry.argument(
                description="How many changed leads to return in `samples` (0 to 100; default 10)."
            ),
        ] = 10,
    ) -> PreviewRulesResult:
        info.context.require("rules:admin")
        if not 0 <= sample <= MAX_SAMPLE:
            raise InvalidInput("sample", f"must be between 0 and {MAX_SAMPLE}")
        manager = info.context.rules
        pm = getattr(manager, "pm", None) or info.context.pm
        pairs = [(f.path, f.content) for f in files]
        try:
            candidate = await asyncio.to_thread(
                service.candidate_rules, pairs, pm, info.context.settings.rule_limits
            )
        except RulesInvalid as exc:
            raise CandidateInvalid(exc) from exc
        except PluginError as exc:
            raise CandidateInvalid(RulesInvalid([RuleError("(plugins)", 1, 1, str(exc))])) from exc
        report = await info.context.services.preview.run(candidate, sample=sample)
        return RulesPreview.of(report)
