"""Leads: one expression of interest of a contact (or account) in a marketing context."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from ..contracts import LEAD_STATUSES
from ..errors import (
    ConflictError,
    ForbiddenError,
    InvalidInput,
    NotFound,
    NotFoundError,
    PluginErrorType,
    ValidationError,
    errors_as_data,
    plugin_errors,
)
from ..services.handoff import shown_value
from ..store import leads as store
from ..store import opportunities
from ..web.loaders import Children
from . import history
from .common import (
    DeletePayload,
    DeleteResult,
    clean_email,
    contains_text,
    order_input,
    raise_if,
    require_text,
    set_fields,
    stored_enum,
    vocabulary_enum,
)
from .history import ReplayRules, ScoreChange
from .relay import (
    Connection,
    Listing,
    StoredNode,
    connection_field,
    load_one,
    object_id,
    relation_field,
)
from .scores import Grade, LeadScore

if TYPE_CHECKING:
    from .history import LeadAsOf
    from .opportunities import Opportunity

OpportunityT = Annotated["Opportunity", strawberry.lazy("leadgraph.api.opportunities")]
LeadAsOfT = Annotated["LeadAsOf", strawberry.lazy("leadgraph.api.history")]


@strawberry.enum(description="What kind of thing the lead is interested in.")
class MarketingContextKind(Enum):
    PRODUCT = "product"
    OFFER = "offer"
    CAMPAIGN = "campaign"
    EVENT = "event"


if TYPE_CHECKING:  # built from leadgraph.contracts at import time; statically, an Enum
    LeadStatus = Enum
else:
    LeadStatus = vocabulary_enum("LeadStatus", LEAD_STATUSES, "Where the lead stands overall.")


@strawberry.type(description="The product, offer, campaign or event the lead is interested in.")
class MarketingContext:
    kind: MarketingContextKind | None
    name: str | None


@strawberry.type(description="One entry of the lead's stage history.")
class StageEntry:
    stage: str
    entered_at: datetime
    reason: str | None
    by: str | None
    transition: str | None = strawberry.field(
        description="The lifecycle transition taken, or `qualified` / `disqualified` when the "
        "lead was closed, `sales_accepted` when a person accepted it for sales, "
        "`manual_override` when an admin moved it outside the lifecycle's transitions."
    )
    rules_version: str | None
    override: bool = strawberry.field(
        default=False, description="An admin's move outside the lifecycle (`reason` says why)."
    )
    owner: str | None = strawberry.field(
        default=None, description="With `sales_accepted`: the salesperson it was assigned to."
    )


@strawberry.type(description="A person accepted the lead for sales and assigned its owner.")
class SalesAcceptance:
    owner: str | None
    by: str | None = strawberry.field(description="Who accepted it (an API key's name).")
    at: datetime


@strawberry.type(description="A value a person recorded for a field of a lifecycle stage.")
class StageFieldValue:
    stage: str
    name: str
    value: JSON = strawberry.field(description="A string, number, date (YYYY-MM-DD) or enum value.")


@strawberry.type(
    description="The lead's scores and stage could not be brought up to date: a plugin failed. "
    "They are as they were before, i.e. stale, until a later run succeeds."
)
class ScoreError:
    plugin: str
    hook: str
    message: str
    at: datetime
    rules_version: str | None


@strawberry.type(description="An expression of interest by a contact in a marketing context.")
class Lead(StoredNode, collection=store.NAME):
    oid: relay.NodeID[str]
    topic: str | None
    marketing_context: MarketingContext | None
    form_id: str | None = strawberry.field(description="Marketing form (landing page) id.")
    email: str | None
    first_name: str | None
    last_name: str | None
    company_name: str | None
    job_title: str | None
    stage: str = strawberry.field(description="Current stage of the lead lifecycle.")
    stage_history: list[StageEntry]
    scores: list[LeadScore]
    sales_ready: bool
    sales_ready_by_hand: bool = strawberry.field(
        description="A person marked the lead sales-ready: scores no longer change the flag."
    )
    teleprospect_ready: bool
    status: LeadStatus
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
        description="Set while the scores and stage are stale because a plugin failed."
    )
    created_at: datetime
    updated_at: datetime
    _doc: strawberry.Private[dict[str, Any]]

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Lead:
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
            stage=doc.get("stage") or store.DEFAULT_STAGE,
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
            created_at=doc["createdAt"],
            updated_at=doc.get("updatedAt") or doc["createdAt"],
            _doc=doc,
        )

    parent_contact = relation_field(
        "contacts",
        "parentContactId",
        "leadgraph.api.contacts:Contact",
        description="The parent contact (lead_parent_contact).",
    )

    parent_account = relation_field(
        "accounts",
        "parentAccountId",
        "leadgraph.api.accounts:Account",
        description="The parent account, for account-based leads.",
    )

    @strawberry.field(description="The opportunity the lead was qualified into.")
    async def opportunity(self, info: Info) -> OpportunityT | None:
        from .opportunities import Opportunity

        if self._doc.get("status") != "qualified":
            return None
        key = Children.of(opportunities.NAME, "leadId", self._doc["_id"], limit=1)
        found = await info.context.loaders.children.load(key)
        return Opportunity.from_doc(found[0]) if found else None

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
        model: str | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[ScoreChange]:
        return await history.score_history(info, self._doc, model, first, after, last, before)

    @strawberry.field(
        description="The lead as it was at `time` (null before it existed): with the rules "
        "then live, as stored (THEN), or with today's rules over the interactions known then "
        "(LIVE)."
    )
    async def as_of(
        self, info: Info, time: datetime, rules: ReplayRules = ReplayRules.THEN
    ) -> LeadAsOfT | None:
        return await history.as_of(info, self._doc, time, rules)


@strawberry.input(description="Leads a scoring model scored, within a score range.")
class LeadScoreFilter:
    model: str = strawberry.field(description="The scoring model.")
    gte: float | None = strawberry.field(default=None, description="A score at least this.")
    lte: float | None = strawberry.field(default=None, description="A score at most this.")


@strawberry.input(description="Leads a scoring model graded with one of some grades.")
class LeadGradeFilter:
    model: str = strawberry.field(description="The scoring model.")
    in_: list[Grade] = strawberry.field(name="in", description="Any of these grades.")


@strawberry.input(description="Filter leads; all given conditions must hold.")
class LeadFilter:
    topic: str | None = None
    topic_contains: str | None = None
    stage: str | None = None
    status: LeadStatus | None = None
    sales_ready: bool | None = None
    owner: str | None = None
    form_id: str | None = None
    email: str | None = None
    parent_contact: relay.GlobalID | None = None
    parent_account: relay.GlobalID | None = None
    orphan: bool | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    score: LeadScoreFilter | None = None
    grade: LeadGradeFilter | None = None


LeadOrder = order_input(
    "Lead", CREATED_AT="createdAt", UPDATED_AT="updatedAt", SCORE=f"{store.SCORE_OF}.{{model}}"
)


def lead_query(f: LeadFilter) -> dict[str, Any]:
    return store.filter_query(
        topic=f.topic,
        topic_contains=contains_text(f.topic_contains, "filter.topicContains"),
        stage=f.stage,
        status=f.status.value if f.status else None,
        sales_ready=f.sales_ready,
        owner=f.owner,
        form_id=f.form_id,
        email=f.email,
        parent_contact_id=object_id(f.parent_contact, "Contact", "filter.parentContact")
        if f.parent_contact
        else None,
        parent_account_id=object_id(f.parent_account, "Account", "filter.parentAccount")
        if f.parent_account
        else None,
        orphan=f.orphan,
        created_after=f.created_after,
        created_before=f.created_before,
        score=(f.score.model, f.score.gte, f.score.lte) if f.score else None,
        grade=(f.grade.model, [g.value for g in f.grade.in_]) if f.grade else None,
    )


def check_models(info: Info, f: LeadFilter | None, order_by: Any) -> None:
    """The scoring models a lead listing names (``filter.score``, ``filter.grade``,
    ``orderBy.model``) must be models of the live rules."""
    ruleset = info.context.rules.current if info.context.rules is not None else None
    if ruleset is None:
        return  # no valid rules: the stored scores are all there is
    known = [m.name for m in ruleset.scoring_models]
    named = [
        ("filter.score.model", f.score.model if f and f.score else None),
        ("filter.grade.model", f.grade.model if f and f.grade else None),
        ("orderBy.model", getattr(order_by, "model", None)),
    ]
    errors = [
        (field, f"unknown scoring model {name!r}; expected one of: {', '.join(known)}")
        for field, name in named
        if name is not None and name not in known
    ]
    raise_if(errors)


def model_filter_index(f: LeadFilter) -> str | None:
    """The per-model index serving a score or grade filter."""
    if f.grade is not None:
        return store.grade_index(f.grade.model)
    return store.score_index(f.score.model) if f.score is not None else None


LEADS = Listing(
    Lead,
    filter=LeadFilter,
    to_query=lead_query,
    order=LeadOrder,
    model_index=store.score_index,
    check=check_models,
    filter_index=model_filter_index,
)


@strawberry.type
class LeadQuery:
    leads = connection_field(
        LEADS, description="Leads, filtered and ordered, as a Relay connection."
    )

    @strawberry.field(description="One lead by global id.")
    async def lead(self, info: Info, id: relay.GlobalID) -> Lead | None:
        return await load_one(info, store.NAME, object_id(id, "Lead"), Lead.from_doc)


@strawberry.input(description="The lead's marketing context.")
class MarketingContextInput:
    kind: MarketingContextKind
    name: str


@strawberry.input(description="Fields of a new lead.")
class CreateLeadInput:
    topic: str | None = strawberry.UNSET
    marketing_context: MarketingContextInput | None = strawberry.UNSET
    form_id: str | None = strawberry.UNSET
    email: str | None = strawberry.UNSET
    first_name: str | None = strawberry.UNSET
    last_name: str | None = strawberry.UNSET
    company_name: str | None = strawberry.UNSET
    job_title: str | None = strawberry.UNSET
    marketing_source: str | None = strawberry.UNSET
    parent_contact: relay.GlobalID | None = strawberry.UNSET
    parent_account: relay.GlobalID | None = strawberry.UNSET


@strawberry.input(description="Changes to a lead; omitted fields stay as they are.")
class UpdateLeadInput(CreateLeadInput):
    id: relay.GlobalID


_FIELDS = {
    "topic": "topic",
    "form_id": "formId",
    "email": "email",
    "first_name": "firstName",
    "last_name": "lastName",
    "company_name": "companyName",
    "job_title": "jobTitle",
    "marketing_source": "marketingSource",
}


async def parent_ids(
    info: Info, contact: Any, account: Any, errors: list[tuple[str, str]], prefix: str = "input"
) -> dict[str, Any]:
    """Validate parent contact/account global ids (they must exist); UNSET ones are left out."""
    out: dict[str, Any] = {}
    for value, type_name, field, collection in (
        (contact, "Contact", "parentContact", "contacts"),
        (account, "Account", "parentAccount", "accounts"),
    ):
        if value is strawberry.UNSET:
            continue
        stored = f"{field}Id"
        if value is None:
            out[stored] = None
            continue
        try:
            oid = object_id(value, type_name, f"{prefix}.{field}")
        except InvalidInput as exc:
            errors.extend(exc.errors)
            continue
        if await info.context.loaders.by_id(collection).load(oid) is None:
            errors.append((f"{prefix}.{field}", f"no {type_name} with id {value}"))
        out[stored] = oid
    return out


async def lead_fields(info: Info, input: CreateLeadInput, creating: bool) -> dict[str, Any]:
    errors: list[tuple[str, str]] = []
    fields = set_fields(input, _FIELDS)
    if "email" in fields:
        fields["email"] = clean_email(fields["email"], "input.email", errors)
    require_text(fields.get("topic"), "input.topic", errors)
    ctx = input.marketing_context
    if ctx is not strawberry.UNSET:
        fields["marketingContext"] = (
            {"kind": ctx.kind.value, "name": ctx.name} if ctx is not None else None
        )
        if ctx is not None:
            require_text(ctx.name, "input.marketingContext.name", errors)
    if creating and not (fields.get("topic") or fields.get("marketingContext")):
        errors.append(("input.topic", "a lead needs a topic or a marketingContext"))
    fields.update(await parent_ids(info, input.parent_contact, input.parent_account, errors))
    raise_if(errors)
    return fields


@strawberry.type(description="The lead after the change.")
class LeadPayload:
    lead: Lead
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
    strawberry.union("LeadResult"),
]


@strawberry.type
class LeadMutation:
    @strawberry.mutation(
        description="Create a lead at the lifecycle's initial stage, or where its `start_at` "
        "rules send it (leads created by sales: sales acceptance, accepted by the caller); it "
        "is scored at once and follows the `created` transitions."
    )
    @errors_as_data
    async def create_lead(self, info: Info, input: CreateLeadInput) -> LeadResult:
        principal = info.context.require("leads:write")
        fields = await lead_fields(info, input, creating=True)
        fields["createdBy"] = {"name": principal.name, "role": principal.role}
        out = await info.context.services.records.create_lead(fields, by=principal.name)
        return LeadPayload(
            lead=Lead.from_doc(out.doc), plugin_errors=plugin_errors(out.plugin_failures)
        )

    @strawberry.mutation(
        description="Change a lead's fields. When the rules read a changed field (or a parent "
        "changed) the lead is rescored and follows the `updated` transitions before the answer."
    )
    @errors_as_data
    async def update_lead(self, info: Info, input: UpdateLeadInput) -> LeadResult:
        principal = info.context.require("leads:write")
        oid = object_id(input.id, "Lead", "input.id")
        fields = await lead_fields(info, input, creating=False)
        out = await info.context.services.records.update_lead(oid, fields, by=principal.name)
        if out is None:
            raise NotFound("Lead", str(input.id))
        return LeadPayload(
            lead=Lead.from_doc(out.doc), plugin_errors=plugin_errors(out.plugin_failures)
        )

    @strawberry.mutation(
        description="Link a lead to a parent contact and/or account (null unlinks)."
    )
    @errors_as_data
    async def link_lead(
        self,
        info: Info,
        id: relay.GlobalID,
        parent_contact: relay.GlobalID | None = strawberry.UNSET,
        parent_account: relay.GlobalID | None = strawberry.UNSET,
    ) -> LeadResult:
        info.context.require("leads:write")
        oid = object_id(id, "Lead")
        errors: list[tuple[str, str]] = []
        fields = await parent_ids(info, parent_contact, parent_account, errors, prefix="")
        if not fields and not errors:
            errors.append(("parentContact", "give parentContact and/or parentAccount"))
        raise_if([(f.lstrip("."), m) for f, m in errors])
        out = await info.context.services.records.link_lead(oid, fields)
        if out is None:
            raise NotFound("Lead", str(id))
        return LeadPayload(
            lead=Lead.from_doc(out.doc), plugin_errors=plugin_errors(out.plugin_failures)
        )

    @strawberry.mutation(description="Delete a lead.")
    @errors_as_data
    async def delete_lead(self, info: Info, id: relay.GlobalID) -> DeleteResult:
        info.context.require("leads:delete")
        oid = object_id(id, "Lead")
        if not await info.context.services.records.delete_lead(oid):
            raise NotFound("Lead", str(id))
        return DeletePayload(deleted_id=id)
