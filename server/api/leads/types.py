"""Leads: one expression of interest of a contact (or account) in a marketing context; the
Lead type, its parts and the payload of a change."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from ... import documents
from ...contracts import LEAD_STATUSES
from ...services import sla
from ...services.handoff import shown_value
from ...web.loaders import Children
from .. import history
from ..common import stored_enum, vocabulary_enum
from ..custom import custom_field
from ..errors import ConflictError, ForbiddenError, NotFoundError, PluginErrorType, ValidationError
from ..history import ReplayRules, ScoreChange
from ..insights import MarketingInsights
from ..relay import After, Before, Connection, First, Last, StoredNode, relation_field
from ..scores import LeadScore, ModelScoreError

if TYPE_CHECKING:
    from ..history import LeadAsOf
    from ..opportunities import Opportunity


OpportunityT = Annotated["Opportunity", strawberry.lazy("leadgraph.api.opportunities")]
LeadAsOfT = Annotated["LeadAsOf", strawberry.lazy("leadgraph.api.history")]
MarketingInsightsT = Annotated["MarketingInsights", strawberry.lazy("leadgraph.api.contacts.types")]


@strawberry.enum(description="What kind of thing the lead is interested in.")
class MarketingContextKind(Enum):
    PRODUCT = strawberry.enum_value(
        "product", description="A product the contact is interested in."
    )
    OFFER = strawberry.enum_value(
        "offer", description="An offer (a download, a trial, a discount)."
    )
    CAMPAIGN = strawberry.enum_value("campaign", description="A marketing campaign.")
    EVENT = strawberry.enum_value("event", description="An event (a conference, a webinar).")


if TYPE_CHECKING:  # built from leadgraph.contracts at import time; statically, an Enum
    LeadStatus = Enum
else:
    LeadStatus = vocabulary_enum("LeadStatus", LEAD_STATUSES, "Where the lead stands overall.")


@strawberry.type(description="The product, offer, campaign or event the lead is interested in.")
class MarketingContext:
    kind: MarketingContextKind | None = strawberry.field(
        description="Product, offer, campaign or event; null when not given.",
    )
    name: str | None = strawberry.field(
        description="Its name, e.g. `Contoso Ltd Conference`; null when not given.",
    )


@strawberry.type(description="One entry of the lead's stage history.")
class StageEntry:
    stage: str = strawberry.field(
        description="The lifecycle stage entered (a stage name of the rules' lifecycle, e.g. "
        "`inquiry`).",
    )
    entered_at: datetime = strawberry.field(description="When the lead entered that stage.")
    reason: str | None = strawberry.field(
        description="Why: the transition's name for an automatic move, or the reason a person "
        "gave.",
    )
    by: str | None = strawberry.field(
        description="The API key's name of the person who moved it; null for an automatic move "
        "(scoring, capture, the lifecycle).",
    )
    transition: str | None = strawberry.field(
        description="The lifecycle transition taken, or `qualified` / `disqualified` when the "
        "lead was closed, `sales_accepted` when a person accepted it for sales, `assigned` "
        "when an assignment rule gave it an owner (`reason` names the rule), "
        "`manual_override` when an admin moved it outside the lifecycle's transitions."
    )
    rules_version: str | None = strawberry.field(
        description="The rules version live when the lead moved (null for moves recorded without "
        "rules).",
    )
    override: bool = strawberry.field(
        default=False, description="An admin's move outside the lifecycle (`reason` says why)."
    )
    owner: str | None = strawberry.field(
        default=None,
        description="With `sales_accepted` or `assigned`: the salesperson it was assigned to.",
    )


@strawberry.type(description="A person accepted the lead for sales and assigned its owner.")
class SalesAcceptance:
    owner: str | None = strawberry.field(description="The salesperson the lead was assigned to.")
    by: str | None = strawberry.field(description="Who accepted it (an API key's name).")
    at: datetime = strawberry.field(description="When the lead was accepted for sales.")


@strawberry.type(description="A value a person recorded for a field of a lifecycle stage.")
class StageFieldValue:
    stage: str = strawberry.field(description="The lifecycle stage the field belongs to.")
    name: str = strawberry.field(
        description="The field's name, as the stage declares it in the rules (see "
        "`leadLifecycle.stages.fields`).",
    )
    value: JSON = strawberry.field(description="A string, number, date (YYYY-MM-DD) or enum value.")


@strawberry.type(
    description="The SLA of the lead's current stage (`lifecycle.stages[].sla`): by when it "
    "should leave the stage, and whether it stayed longer."
)
class LeadSla:
    stage: str = strawberry.field(description="The stage whose SLA this is (the lead's).")
    within: str = strawberry.field(
        description="How long a lead may stay in the stage, as the rules say it (e.g. `2d`)."
    )
    entered_at: datetime = strawberry.field(description="When the lead entered the stage.")
    due_at: datetime = strawberry.field(description="When the lead should have left it by.")
    breached: bool = strawberry.field(
        description="The due date passed while the lead stayed in the stage."
    )
    breached_at: datetime | None = strawberry.field(
        description="When the SLA scheduler acted on the breach (once per stay; null: not yet)."
    )


@strawberry.type(
    description="The lead's scores and stage could not be brought up to date: a plugin failed. "
    "They are as they were before, i.e. stale, until a later run succeeds."
)
class ScoreError:
    plugin: str = strawberry.field(description="The failing plugin's registered name.")
    hook: str = strawberry.field(description="What of the plugin failed: a hook or a scoring kind.")
    message: str = strawberry.field(description="What the plugin raised.")
    at: datetime = strawberry.field(description="When the failed run happened.")
    rules_version: str | None = strawberry.field(description="The rules version of the failed run.")


@strawberry.type(description="An expression of interest by a contact in a marketing context.")
class Lead(StoredNode, collection=documents.LEADS):
    oid: relay.NodeID[str]
    topic: str | None = strawberry.field(
        description="What the lead is about, in a few words (e.g. `Contoso Ltd Conference`); "
        "segments and filters read it.",
    )
    marketing_context: MarketingContext | None = strawberry.field(
        description="The product, offer, campaign or event the lead is interested in; null when "
        "not given.",
    )
    form_id: str | None = strawberry.field(description="Marketing form (landing page) id.")
    email: str | None = strawberry.field(
        description="The email address the lead was captured with (matching compares it "
        "normalised); may differ from the parent contact's.",
    )
    first_name: str | None = strawberry.field(
        description="Given name as captured with the lead (the parent contact holds the person's "
        "current data).",
    )
    last_name: str | None = strawberry.field(description="Family name as captured with the lead.")
    company_name: str | None = strawberry.field(
        description="Company name as captured; used to link an account when the lead has none.",
    )
    job_title: str | None = strawberry.field(description="Job title as captured with the lead.")
    stage: str = strawberry.field(description="Current stage of the lead lifecycle.")
    stage_history: list[StageEntry] = strawberry.field(
        description="Every stage the lead entered, oldest first, with when, why and by whom.",
    )
    scores: list[LeadScore] = strawberry.field(
        description="The lead's current score under each scoring model that scores it (none: "
        "unscored, e.g. an orphan lead).",
    )
    sales_ready: bool = strawberry.field(
        description="The lead is sales-ready: a model's sales-ready threshold was crossed, or a "
        "person marked it. Sales views show only sales-ready leads.",
    )
    sales_ready_by_hand: bool = strawberry.field(
        description="A person marked the lead sales-ready: scores no longer change the flag."
    )
    teleprospect_ready: bool = strawberry.field(
        description="A person marked the lead ready for teleprospecting (a telemarketer may pick "
        "it up).",
    )
    status: LeadStatus = strawberry.field(
        description="Open while in the funnel; qualified (became an opportunity) or disqualified "
        "once closed.",
    )
    owner: str | None = strawberry.field(description="The salesperson the lead is assigned to.")
    sales_accepted: SalesAcceptance | None = strawberry.field(
        description="Set while the lead is accepted by sales (at the acceptance stage)."
    )
    stage_fields: list[StageFieldValue] = strawberry.field(
        description="What people recorded for the fields of its stages (call notes, budget)."
    )
    marketing_source: str | None = strawberry.field(
        description="Which initiative created the lead (`sales`: a salesperson registered it)."
    )
    score_error: ScoreError | None = strawberry.field(
        description="Set while the scores and stage are stale because a plugin failed (the "
        "first failure; `scoreErrors` names each scoring model that failed)."
    )
    score_errors: list[ModelScoreError] = strawberry.field(
        description="The scoring models whose plugin failed, each since when: only their "
        "scores are stale (marked `stale` in `scores`), the other models are up to date."
    )
    rules_version: str | None = strawberry.field(
        description="The rules version that last scored the lead (null: never scored); after "
        "a rules version goes live, the background rescore brings every lead to it "
        "(`rulesStatus.rescore`)."
    )
    created_at: datetime = strawberry.field(description="When the lead was created.")
    updated_at: datetime = strawberry.field(
        description="When the lead last changed (its creation time if never changed).",
    )
    _doc: strawberry.Private[Mapping[str, Any]]

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Lead:
        ctx = doc.get("marketingContext")
        return cls(
            oid=str(doc["_id"]),
            topic=doc.get("topic"),
            marketing_context=MarketingContext(
                kind=stored_enum(MarketingContextKind, ctx.get("kind")), name=ctx.get("name")
            )
            if ctx
            else None,
            form_id=doc.get("formId"),
            email=doc.get("email"),
            first_name=doc.get("firstName"),
            last_name=doc.get("lastName"),
            company_name=doc.get("companyName"),
            job_title=doc.get("jobTitle"),
            stage=doc.get("stage") or documents.DEFAULT_STAGE,
            stage_history=[
                StageEntry(
                    stage=h["stage"],
                    entered_at=h["enteredAt"],
                    reason=h.get("reason"),
                    by=h.get("by"),
                    transition=h.get("transition"),
                    rules_version=h.get("rulesVersion"),
                    override=bool(h.get("override")),
                    owner=h.get("owner"),
                )
                for h in doc.get("stageHistory") or []
            ],
            scores=[LeadScore.from_entry(s) for s in doc.get("scores") or []],
            sales_ready=bool(doc.get("salesReady")),
            sales_ready_by_hand=doc.get("salesReadyBy") == "hand",
            teleprospect_ready=bool(doc.get("teleprospectReady")),
            status=stored_enum(LeadStatus, doc.get("status")) or LeadStatus("open"),
            owner=doc.get("owner"),
            sales_accepted=SalesAcceptance(owner=acc.get("owner"), by=acc.get("by"), at=acc["at"])
            if (acc := doc.get("salesAccepted"))
            else None,
            stage_fields=[
                StageFieldValue(stage=stage, name=name, value=shown_value(value))
                for stage, values in (doc.get("stageFields") or {}).items()
                for name, value in values.items()
            ],
            marketing_source=doc.get("marketingSource"),
            score_error=ScoreError(
                plugin=err["plugin"],
                hook=err.get("hook") or "",
                message=err["message"],
                at=err["at"],
                rules_version=err.get("rulesVersion"),
            )
            if (err := doc.get("scoreError"))
            else None,
            score_errors=[ModelScoreError.from_entry(e) for e in doc.get("scoreErrors") or []],
            rules_version=doc.get("funnelVersion"),
            created_at=doc["createdAt"],
            updated_at=doc.get("updatedAt") or doc["createdAt"],
            _doc=doc,
        )

    parent_contact = relation_field(
        "contacts",
        "parentContactId",
        "leadgraph.api.contacts.types:Contact",
        description="The parent contact (lead_parent_contact).",
    )

    parent_account = relation_field(
        "accounts",
        "parentAccountId",
        "leadgraph.api.accounts:Account",
        description="The parent account, for account-based leads.",
    )
    custom = custom_field("lead")

    @strawberry.field(description="The opportunity the lead was qualified into.")
    async def opportunity(self, info: Info) -> OpportunityT | None:
        from ..opportunities import Opportunity

        if self._doc.get("status") != "qualified":
            return None
        key = Children.of(documents.OPPORTUNITIES, "leadId", self._doc["_id"], limit=1)
        found = await info.context.loaders.children.load(key)
        return Opportunity.from_doc(found[0]) if found else None

    @strawberry.field(
        description="Marketing insights of the lead: the interaction KPIs of its linked "
        "contacts (its parent contact, or for an account-based lead the account's contacts, "
        "added up); null for an orphan lead (no linked contact: no insights)."
    )
    async def insights(self, info: Info) -> MarketingInsights | None:
        contact_id = self._doc.get("parentContactId")
        loader = info.context.loaders.by_id("contacts")
        contact = await loader.load(contact_id) if contact_id else None
        found = await info.context.services.people.lead_insights(self._doc, contact)
        return MarketingInsights.of(found) if found is not None else None

    @strawberry.field(
        description="The SLA of the lead's current stage: when it is due and whether it is "
        "breached; null when the stage has none (or the lead is closed)."
    )
    def sla(self) -> LeadSla | None:
        due = sla.shown(self._doc)
        if due is None:
            return None
        return LeadSla(
            stage=due["stage"],
            within=due["within"],
            entered_at=due["enteredAt"],
            due_at=due["dueAt"],
            breached=due["breached"],
            breached_at=due.get("breachedAt"),
        )

    @strawberry.field(description="True when the lead has neither parent contact nor account.")
    def orphan(self) -> bool:
        return not (self._doc.get("parentContactId") or self._doc.get("parentAccountId"))

    @strawberry.field(
        description="Every change of the lead's scores (per model), sales-ready flag and "
        "stage, oldest first: when, with which rules, why, and which rules' points changed. "
        "`model` keeps one scoring model's changes."
    )
    async def score_history(
        self,
        info: Info,
        model: Annotated[
            str | None,
            strawberry.argument(
                description="Only the changes of this scoring model (by name); null: every model."
            ),
        ] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[ScoreChange]:
        return await history.score_history(info, self._doc, model, first, after, last, before)

    @strawberry.field(
        description="The lead as it was at `time` (null before it existed): with the rules "
        "then live, as stored (THEN), or with today's rules over the interactions known then "
        "(LIVE)."
    )
    async def as_of(
        self,
        info: Info,
        time: Annotated[
            datetime,
            strawberry.argument(
                description="The moment to look at (ISO 8601; without a zone: UTC)."
            ),
        ],
        rules: Annotated[
            ReplayRules,
            strawberry.argument(
                description="THEN (the default): the lead as stored at `time`; LIVE: "
                "re-scored with today's rules over the interactions known at `time`."
            ),
        ] = ReplayRules.THEN,
    ) -> LeadAsOfT | None:
        return await history.as_of(info, self._doc, time, rules)


@strawberry.type(description="The lead after the change.")
class LeadPayload:
    lead: Lead = strawberry.field(
        description="The lead as stored after the change, with its scores and stage.",
    )
    plugin_errors: list[PluginErrorType] = strawberry.field(
        default_factory=list,
        description="Plugins that failed after the change was stored (event handlers), or "
        "while the lead was scored (then `lead.scoreError` is set too).",
    )


LeadResult = Annotated[
    LeadPayload
    | ValidationError
    | NotFoundError
    | ForbiddenError
    | ConflictError
    | PluginErrorType,
    strawberry.union(
        "LeadResult",
        description="What a lead write answers: the lead as saved (with its scores and stage), or "
        "a typed error (nothing saved).",
    ),
]
