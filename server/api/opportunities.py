"""Opportunities over GraphQL: what qualified leads became, their queries, winning and losing
them, and the ``leadQualified`` feed."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay
from strawberry.types import Info

from .. import documents
from ..errors import Conflict, InvalidInput, NotFound
from ..services import listing
from ..services.funnel import Refused
from ..web import live
from .common import order_input, stored_enum, time_from, time_until, vocabulary_enum
from .errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    PluginErrorType,
    ValidationError,
    errors_as_data,
    plugin_errors,
)
from .relay import (
    Listing,
    RecordId,
    StoredNode,
    connection_field,
    load_one,
    object_id,
    relation_field,
)

if TYPE_CHECKING:
    from enum import Enum

    OpportunityStage = Enum
else:
    OpportunityStage = vocabulary_enum(
        "OpportunityStage",
        documents.OPPORTUNITY_STAGES,
        "Where an opportunity stands: open, won or lost.",
    )


@strawberry.type(description="A sale in the making: what a lead qualified by sales became.")
class Opportunity(StoredNode, collection=documents.OPPORTUNITIES):
    oid: relay.NodeID[str]
    topic: str | None = strawberry.field(
        description="What is being sold; the lead's topic unless the qualifier gave another.",
    )
    value: float | None = strawberry.field(description="The expected (or, won, final) amount.")
    owner: str | None = strawberry.field(description="The salesperson working it.")
    stage: OpportunityStage = strawberry.field(description="Open until marked won or lost.")
    created_by: str | None = strawberry.field(
        description="The API key's name of the person who qualified the lead into it.",
    )
    close_reason: str | None = strawberry.field(
        description="Why it was won or lost, as given; null while open or when none was given.",
    )
    closed_by: str | None = strawberry.field(
        description="The API key's name of the person who marked it won or lost; null while open.",
    )
    closed_at: datetime | None = strawberry.field(
        description="When it was marked won or lost; null while open.",
    )
    created_at: datetime = strawberry.field(description="When the lead was qualified into it.")
    updated_at: datetime = strawberry.field(
        description="When it last changed (its creation time if never changed).",
    )
    _doc: strawberry.Private[dict[str, Any]]

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Opportunity:
        return cls(
            oid=str(doc["_id"]),
            topic=doc.get("topic"),
            value=doc.get("value"),
            owner=doc.get("owner"),
            stage=stored_enum(OpportunityStage, doc.get("stage")) or OpportunityStage("open"),
            created_by=doc.get("createdBy"),
            close_reason=doc.get("closeReason"),
            closed_by=doc.get("closedBy"),
            closed_at=doc.get("closedAt"),
            created_at=doc["createdAt"],
            updated_at=doc.get("updatedAt") or doc["createdAt"],
            _doc=doc,
        )

    lead = relation_field(
        "leads",
        "leadId",
        "leadgraph.api.leads.types:Lead",
        description="The lead qualified into this opportunity.",
    )

    contact = relation_field(
        "contacts",
        "contactId",
        "leadgraph.api.contacts.types:Contact",
        description="The lead's parent contact.",
    )

    account = relation_field(
        "accounts",
        "accountId",
        "leadgraph.api.accounts:Account",
        description="The lead's account (its parent account, else its contact's).",
    )


@strawberry.input(description="Filter opportunities; all given conditions must hold.")
class OpportunityFilter:
    stage: OpportunityStage | None = strawberry.field(
        default=None, description="Open, won or lost."
    )
    owner: str | None = strawberry.field(
        default=None, description="The salesperson who owns the opportunity."
    )
    contact: relay.GlobalID | None = strawberry.field(
        default=None, description="The opportunities of this contact."
    )
    account: relay.GlobalID | None = strawberry.field(
        default=None, description="The opportunities of this account."
    )
    created_after: datetime | None = time_from()
    created_before: datetime | None = time_until()


OpportunityOrder = order_input("Opportunity", CREATED_AT="createdAt", UPDATED_AT="updatedAt")


def opportunity_query(f: OpportunityFilter) -> dict[str, Any]:
    return listing.query(
        documents.OPPORTUNITIES,
        stage=f.stage.value if f.stage else None,
        owner=f.owner,
        contact_id=object_id(f.contact, "Contact", "filter.contact") if f.contact else None,
        account_id=object_id(f.account, "Account", "filter.account") if f.account else None,
        created_after=f.created_after,
        created_before=f.created_before,
    )


OPPORTUNITIES = Listing(
    Opportunity, filter=OpportunityFilter, to_query=opportunity_query, order=OpportunityOrder
)


@strawberry.type(description="The opportunity after the change.")
class OpportunityPayload:
    opportunity: Opportunity = strawberry.field(
        description="The opportunity as stored after the change.",
    )
    plugin_errors: list[PluginErrorType] = strawberry.field(
        default_factory=list,
        description="Plugins that failed after the change was stored (event handlers).",
    )


OpportunityResult = Annotated[
    OpportunityPayload | ValidationError | NotFoundError | ForbiddenError | ConflictError,
    strawberry.union(
        "OpportunityResult",
        description="What an opportunity write answers: the opportunity as saved, or a typed "
        "error (nothing saved).",
    ),
]


def checked_value(value: float | None, field: str = "value") -> float | None:
    """An amount: finite and not negative (``BAD_USER_INPUT`` otherwise)."""
    if value is not None and (not math.isfinite(value) or value < 0):
        raise InvalidInput(field, "must be a finite amount of 0 or more")
    return value


async def _close(
    info: Info, id: relay.GlobalID, outcome: str, reason: str | None, value: float | None
) -> OpportunityPayload:
    principal = info.context.require("opportunities:write")
    oid = object_id(id, "Opportunity")
    try:
        after, failures = await info.context.services.opportunities.close(
            oid, outcome, by=principal.name, reason=reason, value=checked_value(value)
        )
    except Refused as exc:
        raise Conflict(str(exc)) from exc
    if after is None:
        raise NotFound("Opportunity", str(id))
    return OpportunityPayload(
        opportunity=Opportunity.from_doc(after), plugin_errors=plugin_errors(failures)
    )


@strawberry.type
class OpportunityQuery:
    opportunities = connection_field(
        OPPORTUNITIES, description="Opportunities, filtered and ordered, as a Relay connection."
    )

    @strawberry.field(description="One opportunity by global id.")
    async def opportunity(self, info: Info, id: RecordId) -> Opportunity | None:
        return await load_one(
            info, documents.OPPORTUNITIES, object_id(id, "Opportunity"), Opportunity.from_doc
        )


@strawberry.type
class OpportunityMutation:
    @strawberry.mutation(description="Mark an open opportunity won (optionally its final value).")
    @errors_as_data
    async def mark_opportunity_won(
        self,
        info: Info,
        id: RecordId,
        value: Annotated[
            float | None,
            strawberry.argument(
                description="The final amount (finite, 0 or more); null keeps the expected one."
            ),
        ] = None,
        reason: Annotated[
            str | None, strawberry.argument(description="Why it was won (free text).")
        ] = None,
    ) -> OpportunityResult:
        return await _close(info, id, "won", reason, value)

    @strawberry.mutation(description="Mark an open opportunity lost.")
    @errors_as_data
    async def mark_opportunity_lost(
        self,
        info: Info,
        id: RecordId,
        reason: Annotated[
            str | None, strawberry.argument(description="Why it was lost (free text).")
        ] = None,
    ) -> OpportunityResult:
        return await _close(info, id, "lost", reason, None)


@strawberry.type
class OpportunitySubscription:
    @strawberry.subscription(
        description="Opportunities as leads are qualified into them (optionally only those of "
        "one owner); from a MongoDB change stream."
    )
    async def lead_qualified(
        self,
        info: Info,
        owner: Annotated[
            str | None,
            strawberry.argument(
                description="Only the opportunities of this salesperson; null: all of them."
            ),
        ] = None,
    ) -> AsyncIterator[Opportunity]:
        return await info.context.subscribe(
            live.OPPORTUNITIES,
            matches=lambda doc: owner is None or doc.get("owner") == owner,
            convert=Opportunity.from_doc,
        )
