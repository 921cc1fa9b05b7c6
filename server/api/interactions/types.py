"""Interactions in GraphQL: the Interaction type (an engagement of a contact: email opened, form
submitted, ...), its type enum and what recording one answers."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from ... import documents
from ...contracts import CUSTOM_INTERACTION_TYPE, INTERACTION_TYPES
from ..common import vocabulary_enum
from ..errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    PluginErrorType,
    ValidationError,
)
from ..relay import StoredNode, relation_field

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
    _doc: strawberry.Private[Mapping[str, Any]]

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Interaction:
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
