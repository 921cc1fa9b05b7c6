"""The interaction mutation (``recordInteraction``) and the live feed of recorded ones."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import strawberry
from strawberry import relay
from strawberry.types import Info

from ... import json_values
from ...errors import InvalidInput
from ...services.consent import TYPE as CONSENT_TYPE
from ...web import live
from ..common import raise_if
from ..errors import (
    errors_as_data,
    plugin_errors,
)
from ..origin import owner_of
from ..relay import object_id
from .inputs import RecordInteractionInput, interaction_type
from .types import Interaction, InteractionPayload, InteractionResult


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
        stored_type, problem = interaction_type(info, input.type.value, input.custom_type)
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
