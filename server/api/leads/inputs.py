"""What leads are filtered, ordered and written by: filters, order, create/update inputs
and their mapping to stored fields."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from ... import documents
from ...errors import InvalidInput
from ...services import listing
from ..common import (
    check_names,
    clean_email,
    contains_text,
    order_input,
    raise_if,
    require_text,
    set_fields,
    time_from,
    time_until,
)
from ..custom import CUSTOM_FILTER, CUSTOM_INPUT, custom_input
from ..relay import object_id
from ..scores import Grade
from .types import LeadStatus, MarketingContextKind


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
    topic: str | None = strawberry.field(default=None, description="The lead's topic, exactly.")
    topic_contains: str | None = strawberry.field(
        default=None, description="Text in the lead's topic, ignoring case."
    )
    stage: str | None = strawberry.field(
        default=None,
        description="The lifecycle stage the lead is in (a stage of the live lifecycle).",
    )
    status: LeadStatus | None = strawberry.field(
        default=None, description="Open in the funnel, qualified or disqualified."
    )
    sales_ready: bool | None = strawberry.field(
        default=None, description="Sales-ready leads (true) or the others (false)."
    )
    owner: str | None = strawberry.field(
        default=None, description="The salesperson the lead is assigned to."
    )
    form_id: str | None = strawberry.field(
        default=None, description="The marketing form (landing page) that created the lead."
    )
    email: str | None = strawberry.field(
        default=None,
        description="The email address the lead was captured with (compared normalised).",
    )
    parent_contact: relay.GlobalID | None = strawberry.field(
        default=None, description="The leads of this parent contact."
    )
    parent_account: relay.GlobalID | None = strawberry.field(
        default=None, description="The leads of this parent account."
    )
    orphan: bool | None = strawberry.field(
        default=None,
        description="Leads with neither parent contact nor parent account (true), or the others.",
    )
    created_after: datetime | None = time_from()
    created_before: datetime | None = time_until()
    score: LeadScoreFilter | None = strawberry.field(
        default=None, description="Scored by a model within a score range."
    )
    grade: LeadGradeFilter | None = strawberry.field(
        default=None, description="Graded by a model with one of some grades."
    )
    sla_breached: bool | None = strawberry.field(
        default=None,
        description="Leads past the SLA of their stage (true: its due date passed, acted on or "
        "not yet), or within it (false); leads whose stage has no SLA are in neither.",
    )
    custom: JSON | None = strawberry.field(default=None, description=CUSTOM_FILTER)


LeadOrder = order_input(
    "Lead", CREATED_AT="createdAt", UPDATED_AT="updatedAt", SCORE=f"{documents.SCORE_OF}.{{model}}"
)


def lead_query(f: LeadFilter) -> dict[str, Any]:
    return listing.query(
        documents.LEADS,
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
        sla_breached=f.sla_breached,
    )


def check_names_of(info: Info, f: LeadFilter | None, order_by: Any) -> None:
    """The stage and scoring models a lead listing names (``filter.stage``,
    ``filter.score.model``, ``filter.grade.model``, ``orderBy.model``) must be the live rules'."""
    model = "lead.scores.model"
    check_names(
        info,
        [
            ("filter.stage", "lead.stage", f.stage if f else None),
            ("filter.score.model", model, f.score.model if f and f.score else None),
            ("filter.grade.model", model, f.grade.model if f and f.grade else None),
            ("orderBy.model", model, getattr(order_by, "model", None)),
        ],
    )


def model_filter_index(f: LeadFilter) -> str | None:
    """The per-model index serving a score or grade filter, or the SLA due dates'."""
    if f.sla_breached is not None and f.score is None and f.grade is None:
        return "sla.dueAt"
    if f.grade is not None:
        return documents.grade_index(f.grade.model)
    return documents.score_index(f.score.model) if f.score is not None else None


@strawberry.input(description="The lead's marketing context.")
class MarketingContextInput:
    kind: MarketingContextKind = strawberry.field(description="Product, offer, campaign or event.")
    name: str = strawberry.field(
        description="Its name, e.g. `Contoso Ltd Conference`; must not be blank.",
    )


@strawberry.input(description="Fields of a new lead.")
class CreateLeadInput:
    topic: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="What the lead is about, in a few words; must not be blank. A new lead needs "
        "a topic or a marketingContext.",
    )
    marketing_context: MarketingContextInput | None = strawberry.field(
        default=strawberry.UNSET,
        description="The product, offer, campaign or event the lead is interested in; null clears "
        "it.",
    )
    form_id: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="The marketing form (landing page) the lead came from; lead matching compares "
        "email plus form id.",
    )
    email: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="The email address the lead was captured with (validated).",
    )
    first_name: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Given name as captured with the lead.",
    )
    last_name: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Family name as captured with the lead.",
    )
    company_name: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Company name as captured (linkOrphanLeads links an account by it).",
    )
    job_title: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Job title as captured with the lead.",
    )
    marketing_source: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Which marketing initiative brought the lead in (free text; `sales` for a "
        "salesperson's own).",
    )
    parent_contact: relay.GlobalID | None = strawberry.field(
        default=strawberry.UNSET,
        description="The parent contact, by global id (it must exist); null unlinks it. A lead "
        "with neither parent contact nor account is an orphan: no insights, no "
        "automatic scoring.",
    )
    parent_account: relay.GlobalID | None = strawberry.field(
        default=strawberry.UNSET,
        description="The parent account, for an account-based lead (it must exist); null unlinks "
        "it.",
    )
    custom: JSON | None = strawberry.field(default=strawberry.UNSET, description=CUSTOM_INPUT)


@strawberry.input(description="Changes to a lead; omitted fields stay as they are.")
class UpdateLeadInput(CreateLeadInput):
    id: relay.GlobalID = strawberry.field(description="The lead to change (its global id).")


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
    fields.update(custom_input(info, "lead", input.custom, creating=creating, errors=errors))
    raise_if(errors)
    return fields
