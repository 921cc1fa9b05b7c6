"""What interactions are listed and recorded by: the filter (and its listing), the input of
``recordInteraction`` and the check of its type against the live rules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from ... import documents
from ...contracts import CUSTOM_INTERACTION_TYPE, INTERACTION_TYPES
from ...cursors import Order
from ...rules.conditions import interaction_type_problem
from ...services import listing
from ..common import time_from, time_until
from ..relay import Listing
from .types import Interaction, InteractionType


@strawberry.input(description="Filter interactions.")
class InteractionFilter:
    types: list[InteractionType] | None = strawberry.field(
        default=None,
        description="Any of these types (CUSTOM: every type the rules or plugins declare).",
    )
    occurred_after: datetime | None = time_from("Occurred")
    occurred_before: datetime | None = time_until("Occurred")


def interaction_query(f: InteractionFilter) -> dict[str, Any]:
    return listing.query(
        documents.INTERACTIONS,
        types=[t.value for t in f.types] if f.types else None,
        occurred_after=f.occurred_after,
        occurred_before=f.occurred_before,
    )


INTERACTIONS = Listing(
    Interaction,
    filter=InteractionFilter,
    to_query=interaction_query,
    fixed_order=Order("occurredAt"),  # oldest first, always: no orderBy argument
)


@strawberry.input(description="An interaction to record for a contact.")
class RecordInteractionInput:
    contact: relay.GlobalID = strawberry.field(
        description="The contact who engaged, by global id (it must exist).",
    )
    type: InteractionType = strawberry.field(
        description="The kind of engagement; CUSTOM with `customType` for a declared type. "
        "`consent_changed` is refused: leadgraph records it when consent changes.",
    )
    custom_type: str | None = strawberry.field(
        default=None,
        description="With type CUSTOM (only then): an interaction type the live rules declare.",
    )
    occurred_at: datetime | None = strawberry.field(
        default=None,
        description="When the contact engaged; default: now.",
    )
    lead: relay.GlobalID | None = strawberry.field(
        default=None,
        description="The lead this engagement is about, by global id (it must exist); the scores "
        "of the contact's leads follow either way.",
    )
    form_id: str | None = strawberry.field(
        default=None,
        description="The marketing form (landing page) id, for form interactions.",
    )
    event_id: str | None = strawberry.field(
        default=None,
        description="The event's id, for event registrations and attendance.",
    )
    email_id: str | None = strawberry.field(
        default=None,
        description="The marketing email's id, for opens and clicks.",
    )
    url: str | None = strawberry.field(
        default=None,
        description="The page visited or the link clicked.",
    )
    details: JSON | None = strawberry.field(
        default=None,
        description="Free-form facts (a JSON object of at most 16 KiB); the rules' conditions can "
        "read them.",
    )
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="Retrying with the same key and input records nothing twice; the key is "
        "this API key's for recordInteraction (another input with it: ConflictError).",
    )


def interaction_type(info: Info, type_: str, custom_type: str | None) -> tuple[str, str | None]:
    """The stored type of ``type`` / ``customType`` and, when they are wrong, why."""
    if type_ != CUSTOM_INTERACTION_TYPE:
        problem = None if custom_type is None else "only with type CUSTOM"
        return type_, problem
    if not custom_type:
        return type_, "required with type CUSTOM"
    if custom_type in INTERACTION_TYPES:
        return type_, f"{custom_type!r} is built in: use type {custom_type.upper()}"
    ruleset = getattr(info.context.rules, "current", None)
    declared = [t for t in getattr(ruleset, "interaction_types", ()) if t not in INTERACTION_TYPES]
    if custom_type not in declared:
        if not declared:
            return type_, "the live rules declare no interaction types"
        return type_, interaction_type_problem(custom_type, declared)
    return custom_type, None
