"""Webhooks: registering endpoints, their secrets and their deliveries (admin only)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry import relay
from strawberry.types import Info

from ..errors import NotFound
from ..services.webhook_admin import Webhooks
from ..services.webhooks import masked
from .errors import ConflictError, ForbiddenError, NotFoundError, ValidationError, errors_as_data
from .relay import (
    After,
    Connection,
    First,
    RecordId,
    check_page_args,
    connection,
    known_count,
    object_id,
)

PERMISSION = "webhooks:admin"


def _service(info: Info) -> Webhooks:
    info.context.require(PERMISSION)
    services = info.context.services  # acts for the caller: the webhook.* events name its key
    return Webhooks(info.context.db, info.context.settings, services.pm)


@strawberry.type(description="An endpoint the record of what changed is delivered to.")
class Webhook:
    id: relay.GlobalID = strawberry.field(description="The webhook's global id.")
    url: str = strawberry.field(description="Where deliveries are POSTed (http or https).")
    events: list[str] = strawberry.field(
        description="The event types it hears: a type (`contact.updated`), every type of a "
        "kind (`lead.*`) or `*`."
    )
    secret: str = strawberry.field(
        description="Signs every delivery (`whsec_` + base64). Shown in full only by "
        "`createWebhook` and `rotateWebhookSecret`; masked everywhere else."
    )
    active: bool = strawberry.field(description="False: nothing is sent to it.")
    description: str | None = strawberry.field(
        description="What the endpoint is for, in words; null when none was given.",
    )
    disabled_reason: str | None = strawberry.field(
        description="Why leadgraph disabled it (410 Gone, a long run of failed attempts)."
    )
    created_at: datetime = strawberry.field(description="When the webhook was registered.")
    updated_at: datetime = strawberry.field(
        description="When it last changed (its registration time otherwise).",
    )

    @classmethod
    def from_doc(cls, doc: dict[str, Any], *, reveal: bool = False) -> Webhook:
        return cls(
            id=relay.GlobalID("Webhook", str(doc["_id"])),
            url=doc["url"],
            events=list(doc["events"]),
            secret=doc["secret"] if reveal else masked(doc["secret"]),
            active=bool(doc.get("active")),
            description=doc.get("description"),
            disabled_reason=doc.get("disabledReason"),
            created_at=doc["createdAt"],
            updated_at=doc.get("updatedAt") or doc["createdAt"],
        )


@strawberry.enum(description="Where a delivery is.")
class WebhookDeliveryStatus(Enum):
    PENDING = strawberry.enum_value(
        "pending", description="Not delivered yet: waiting for its next attempt."
    )
    DELIVERED = strawberry.enum_value("delivered", description="The endpoint answered 2xx.")
    FAILED = strawberry.enum_value("failed", description="Every attempt failed; no more retries.")
    CANCELLED = strawberry.enum_value(
        "cancelled", description="Dropped before delivery (the webhook was deleted or disabled)."
    )


@strawberry.type(description="One event on its way to one webhook.")
class WebhookDelivery:
    id: relay.GlobalID = strawberry.field(
        description="The delivery's global id (for redeliverWebhook).",
    )
    status: WebhookDeliveryStatus = strawberry.field(
        description="PENDING (to be attempted), DELIVERED (a 2xx), FAILED (410 Gone, or "
        "retries gave up) or CANCELLED (the webhook was disabled before it was sent)."
    )
    event_id: str = strawberry.field(description="The event's id: the `webhook-id` header.")
    event_type: str = strawberry.field(
        description="The event's type, e.g. `lead.stage_changed` (docs/events.md).",
    )
    attempts: int = strawberry.field(description="How many times it was sent so far (0: not yet).")
    last_response_code: int | None = strawberry.field(
        description="The status code of the last attempt's answer (null: no answer)."
    )
    last_error: str | None = strawberry.field(
        description="Why the last attempt got no answer (timeout, refused, ...)."
    )
    last_attempt_at: datetime | None = strawberry.field(
        description="When it was last sent; null before the first attempt.",
    )
    next_attempt_at: datetime | None = strawberry.field(
        description="When it is attempted next (null once it is delivered or failed)."
    )
    delivered_at: datetime | None = strawberry.field(
        description="When the endpoint answered 2xx; null until then.",
    )
    created_at: datetime = strawberry.field(
        description="When the event was queued for this webhook.",
    )

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> WebhookDelivery:
        pending = doc["status"] == "pending"
        return cls(
            id=relay.GlobalID("WebhookDelivery", str(doc["_id"])),
            status=WebhookDeliveryStatus(doc["status"]),
            event_id=str(doc["event"]),
            event_type=doc["type"],
            attempts=doc.get("attempts", 0),
            last_response_code=doc.get("lastStatus"),
            last_error=doc.get("lastError"),
            last_attempt_at=doc.get("lastAttemptAt"),
            next_attempt_at=doc.get("nextAttemptAt") if pending else None,
            delivered_at=doc.get("deliveredAt"),
            created_at=doc["createdAt"],
        )


@strawberry.input(description="A new webhook.")
class CreateWebhookInput:
    url: str = strawberry.field(
        description="An http(s) URL on a public address (LEADGRAPH_WEBHOOK_ALLOW_PRIVATE=1 "
        "allows loopback and private ones)."
    )
    events: list[str] = strawberry.field(
        description="Event types (docs/events.md), `kind.*` or `*`."
    )
    description: str | None = strawberry.field(
        default=None,
        description="What the endpoint is for, in words.",
    )


@strawberry.input(description="What to change in a webhook (fields left out stay).")
class UpdateWebhookInput:
    url: str | None = strawberry.field(
        default=None,
        description="The new URL (http(s), public unless private ones are allowed).",
    )
    events: list[str] | None = strawberry.field(
        default=None,
        description="The event types it hears from now on: a type, `kind.*` or `*`.",
    )
    description: str | None = strawberry.field(
        default=None,
        description="What the endpoint is for, in words.",
    )
    active: bool | None = strawberry.field(
        default=None, description="true re-enables a disabled webhook (its failures forgotten)."
    )


@strawberry.type(description="The webhook after the change.")
class WebhookPayload:
    webhook: Webhook = strawberry.field(
        description="The webhook as saved (its secret in full only after createWebhook and "
        "rotateWebhookSecret).",
    )


@strawberry.type(description="The webhook was deleted with its deliveries.")
class DeleteWebhookPayload:
    deleted_id: relay.GlobalID = strawberry.field(description="The deleted webhook's global id.")


@strawberry.type(description="The delivery, pending again.")
class WebhookDeliveryPayload:
    delivery: WebhookDelivery = strawberry.field(
        description="The delivery as queued again (PENDING).",
    )


WebhookResult = Annotated[
    WebhookPayload | ValidationError | NotFoundError | ForbiddenError | ConflictError,
    strawberry.union(
        "WebhookResult",
        description="What a webhook write answers: the webhook as saved, or a typed error.",
    ),
]
DeleteWebhookResult = Annotated[
    DeleteWebhookPayload | ValidationError | NotFoundError | ForbiddenError,
    strawberry.union(
        "DeleteWebhookResult",
        description="What deleting a webhook answers: the deleted webhook's id, or a typed error.",
    ),
]
RedeliverWebhookResult = Annotated[
    WebhookDeliveryPayload | ValidationError | NotFoundError | ForbiddenError | ConflictError,
    strawberry.union(
        "RedeliverWebhookResult",
        description="What redelivering an event to a webhook answers: the new delivery, or a "
        "typed error.",
    ),
]


def _found(doc: dict[str, Any] | None, id: relay.GlobalID, *, reveal: bool = False) -> Any:
    if doc is None:
        raise NotFound("Webhook", str(id))
    return WebhookPayload(webhook=Webhook.from_doc(doc, reveal=reveal))


@strawberry.type
class WebhookQuery:
    @strawberry.field(description="Every registered webhook, oldest first. Admin only.")
    async def webhooks(self, info: Info) -> list[Webhook]:
        return [Webhook.from_doc(d) for d in await _service(info).every()]

    @strawberry.field(description="A webhook's deliveries, newest first. Admin only.")
    async def webhook_deliveries(
        self,
        info: Info,
        webhook: Annotated[
            relay.GlobalID,
            strawberry.argument(description="The webhook (global id)."),
        ],
        first: First = None,
        after: After = None,
    ) -> Connection[WebhookDelivery]:
        service = _service(info)
        oid = object_id(webhook, "Webhook", "webhook")
        first, _ = check_page_args(info, first, None)
        found = await service.deliveries(oid, first, after)
        if found is None:
            raise NotFound("Webhook", str(webhook))
        page, total = found
        return connection(page, WebhookDelivery.from_doc, known_count(total))


@strawberry.type
class WebhookMutation:
    @strawberry.mutation(
        description="Register a webhook. The answer holds its secret in full, the one time it "
        "is shown. Admin only."
    )
    @errors_as_data
    async def create_webhook(
        self,
        info: Info,
        input: Annotated[
            CreateWebhookInput,
            strawberry.argument(
                description="The endpoint's URL, the events it hears and a description."
            ),
        ],
    ) -> WebhookResult:
        doc = await _service(info).create(input.url, input.events, input.description)
        return WebhookPayload(webhook=Webhook.from_doc(doc, reveal=True))

    @strawberry.mutation(description="Change a webhook's URL, events, description or state.")
    @errors_as_data
    async def update_webhook(
        self,
        info: Info,
        id: RecordId,
        input: Annotated[
            UpdateWebhookInput,
            strawberry.argument(description="What to change; fields left out stay."),
        ],
    ) -> WebhookResult:
        service = _service(info)
        oid = object_id(id, "Webhook")
        doc = await service.update(
            oid,
            url=input.url,
            events=input.events,
            description=input.description,
            active=input.active,
        )
        return _found(doc, id)

    @strawberry.mutation(description="Delete a webhook and its deliveries.")
    @errors_as_data
    async def delete_webhook(self, info: Info, id: RecordId) -> DeleteWebhookResult:
        service = _service(info)
        if not await service.delete(object_id(id, "Webhook")):
            raise NotFound("Webhook", str(id))
        return DeleteWebhookPayload(deleted_id=id)

    @strawberry.mutation(
        description="Give a webhook a new secret, shown in full in the answer; the old one "
        "signs nothing from now on."
    )
    @errors_as_data
    async def rotate_webhook_secret(self, info: Info, id: RecordId) -> WebhookResult:
        service = _service(info)
        return _found(await service.rotate_secret(object_id(id, "Webhook")), id, reveal=True)

    @strawberry.mutation(
        description="Send a delivery again (delivered, failed or cancelled ones too), with "
        "the same `webhook-id`; retried as a new delivery would be."
    )
    @errors_as_data
    async def redeliver_webhook(
        self,
        info: Info,
        delivery: Annotated[
            relay.GlobalID,
            strawberry.argument(description="The delivery to send again (global id)."),
        ],
    ) -> RedeliverWebhookResult:
        service = _service(info)
        doc = await service.redeliver(object_id(delivery, "WebhookDelivery", "delivery"))
        if doc is None:
            raise NotFound("WebhookDelivery", str(delivery))
        return WebhookDeliveryPayload(delivery=WebhookDelivery.from_doc(doc))
