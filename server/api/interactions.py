"""Interactions: engagement records of a contact (email opened, form submitted, ...)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from .. import documents, json_values
from ..contracts import CUSTOM_INTERACTION_TYPE, INTERACTION_TYPES
from ..cursors import Order
from ..errors import InvalidInput
from ..rules.conditions import interaction_type_problem
from ..services import listing
from ..services.consent import TYPE as CONSENT_TYPE
from ..web import live
from .common import raise_if, vocabulary_enum
from .errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    PluginErrorType,
    ValidationError,
    errors_as_data,
    plugin_errors,
)
from .origin import owner_of
from .relay import Listing, StoredNode, object_id, relation_field

if TYPE_CHECKING:  # built from leadgraph.contracts at import time; statically, an Enum
    InteractionType = Enum
else:
    InteractionType = vocabulary_enum(
        "InteractionType",
        INTERACTION_TYPES,
        "Kinds of engagement recorded for a contact. CUSTOM: a type declared by the rule files "
        "or a plugin, named in `customType`.",
        CUSTOM=CUSTOM_INTERACTION_TYPE,
    )


@strawberry.type(description="One engagement of a contact.")
class Interaction(StoredNode, collection=documents.INTERACTIONS):
    oid: relay.NodeID[str]
    type: InteractionType = strawberry.field(
        description="The kind of engagement; CUSTOM for a type the rules or a plugin declare "
        "(then see `customType`).",
    )
    custom_type: str | None = strawberry.field(
        description="With type CUSTOM: the declared interaction type (e.g. webinar_watched)."
    )
    occurred_at: datetime = strawberry.field(
        description="When the contact engaged (given by the caller, else when it was recorded).",
    )
    form_id: str | None = strawberry.field(
        description="The marketing form (landing page) submitted, for form interactions; null "
        "otherwise.",
    )
    event_id: str | None = strawberry.field(
        description="The event registered for or attended, for event interactions; null otherwise.",
    )
    email_id: str | None = strawberry.field(
        description="The marketing email opened or clicked, for email interactions; null "
        "otherwise.",
    )
    url: str | None = strawberry.field(
        description="The page visited or the link clicked; null when not recorded.",
    )
    details: JSON | None = strawberry.field(
        description="Free-form facts recorded with it (a JSON object, at most 16 KiB; form fields "
        "for a submission); null when none.",
    )
    _doc: strawberry.Private[dict[str, Any]]

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Interaction:
        return cls(
            oid=str(doc["_id"]),
            type=InteractionType(
                doc["type"] if doc["type"] in INTERACTION_TYPES else CUSTOM_INTERACTION_TYPE
            ),
            custom_type=None if doc["type"] in INTERACTION_TYPES else doc["type"],
            occurred_at=doc["occurredAt"],
            form_id=doc.get("formId"),
            event_id=doc.get("eventId"),
            email_id=doc.get("emailId"),
            url=doc.get("url"),
            details=doc.get("details") or None,
            _doc=doc,
        )

    contact = relation_field(
        "contacts",
        "contactId",
        "leadgraph.api.contacts.types:Contact",
        description="The contact who engaged.",
    )

    lead = relation_field(
        "leads",
        "leadId",
        "leadgraph.api.leads.types:Lead",
        description="The lead the interaction was recorded for, if any.",
    )


@strawberry.input(description="Filter interactions.")
class InteractionFilter:
    types: list[InteractionType] | None = strawberry.field(
        default=None,
        description="Any of these types (CUSTOM: every type the rules or plugins declare).",
    )
    occurred_after: datetime | None = strawberry.field(
        default=None, description="Occurred at or after this time."
    )
    occurred_before: datetime | None = strawberry.field(
        default=None, description="Occurred before this time."
    )


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


@strawberry.type(description="The recorded interaction.")
class InteractionPayload:
    interaction: Interaction = strawberry.field(
        description="The interaction as stored (on a repeated idempotency key: the one recorded "
        "the first time).",
    )
    created: bool = strawberry.field(description="False when the idempotency key was seen before.")
    plugin_errors: list[PluginErrorType] = strawberry.field(
        default_factory=list,
        description="Plugins that failed after the interaction was stored: a scoring failure "
        "leaves the contact's leads marked stale (`Lead.scoreError`).",
    )


InteractionResult = Annotated[
    InteractionPayload | ValidationError | NotFoundError | ForbiddenError | ConflictError,
    strawberry.union(
        "InteractionResult",
        description="What recording an interaction answers: the interaction (and the contact's "
        "updated insights), or a typed error.",
    ),
]


def _interaction_type(info: Info, type_: str, custom_type: str | None) -> tuple[str, str | None]:
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


@strawberry.type
class InteractionMutation:
    @strawberry.mutation(description="Record an interaction and update the contact's insights.")
    @errors_as_data
    async def record_interaction(
        self,
        info: Info,
        input: Annotated[
            RecordInteractionInput,
            strawberry.argument(description="The interaction: who engaged, how and when."),
        ],
    ) -> InteractionResult:
        info.context.require("interactions:write")
        errors: list[tuple[str, str]] = []
        fields: dict[str, Any] = {"type": input.type.value}
        stored_type, problem = _interaction_type(info, input.type.value, input.custom_type)
        if problem:
            errors.append(("input.customType", problem))
        fields["type"] = stored_type
        if stored_type == CONSENT_TYPE:  # written only by the consent service, with the change
            errors.append(
                (
                    "input.type",
                    "consent_changed is recorded by leadgraph when consent changes: use "
                    "updateContact, subscribeContacts or unsubscribeContacts",
                )
            )
        loaders = info.context.loaders
        for value, type_name, name, stored, coll in (
            (input.contact, "Contact", "contact", "contactId", "contacts"),
            (input.lead, "Lead", "lead", "leadId", "leads"),
        ):
            if value is None:
                continue
            try:
                oid = object_id(value, type_name, f"input.{name}")
            except InvalidInput as exc:
                errors.extend(exc.errors)
                continue
            if await loaders.by_id(coll).load(oid) is None:
                errors.append((f"input.{name}", f"no {type_name} with id {value}"))
            fields[stored] = oid
        if input.details is not None and not isinstance(input.details, dict):
            errors.append(("input.details", "must be a JSON object"))
        errors.extend(json_values.problems(input.details, "input.details"))
        if input.details is not None and json_values.too_large(input.details):
            errors.append(("input.details", "must be at most 16 KiB"))
        if input.idempotency_key is not None and not input.idempotency_key.strip():
            errors.append(("input.idempotencyKey", "must not be blank"))
        raise_if(errors)
        for attr, stored in (
            ("occurred_at", "occurredAt"),
            ("form_id", "formId"),
            ("event_id", "eventId"),
            ("email_id", "emailId"),
            ("url", "url"),
            ("details", "details"),
            ("idempotency_key", "idempotencyKey"),
        ):
            value = getattr(input, attr)
            if value is not None:
                fields[stored] = value
        done = await info.context.services.interactions.record(
            fields, key=fields.pop("idempotencyKey", None), owner=owner_of(info)
        )
        if done.created:  # the contact was loaded (and cached) before its insights changed
            loaders.by_id("contacts").clear(done.interaction["contactId"])
            for lead in done.leads:
                loaders.by_id("leads").prime(lead["_id"], lead)
        return InteractionPayload(
            interaction=Interaction.from_doc(done.interaction),
            created=done.created,
            plugin_errors=plugin_errors(done.failures),
        )


@strawberry.type
class InteractionSubscription:
    @strawberry.subscription(
        description="Interactions as they are recorded (optionally for one contact), "
        "from a MongoDB change stream."
    )
    async def interaction_recorded(
        self,
        info: Info,
        contact: Annotated[
            relay.GlobalID | None,
            strawberry.argument(
                description="Only this contact's interactions (its global id); null: everyone's."
            ),
        ] = None,
    ) -> AsyncIterator[Interaction]:
        contact_id = object_id(contact, "Contact", "contact") if contact is not None else None
        return await info.context.subscribe(
            live.INTERACTIONS,
            matches=lambda doc: contact_id is None or doc.get("contactId") == contact_id,
            convert=Interaction.from_doc,
        )
