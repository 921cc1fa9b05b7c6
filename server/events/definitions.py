"""The event types of the records that configure leadgraph rather than describe people:
segment definitions, subscription lists and webhooks (part of :mod:`leadgraph.events`, which
re-exports them; the core only).  Like every event they are appended in the transaction of
the change.  A webhook's secret is never in an event: ``webhook.secret_rotated`` says only
that it changed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bson import ObjectId

from .base import Event, RecordType, event

# ---------------------------------------------------------------- segment definitions


@dataclass(frozen=True, kw_only=True)
class _SegmentEvent(Event):
    record: ClassVar[RecordType] = "segment"
    record_field: ClassVar[str] = "segment"

    segment: str  # its name (a segment is named, never renamed)


@event
@dataclass(frozen=True, kw_only=True)
class SegmentCreated(_SegmentEvent):
    """A segment was created through the API (``createSegment``), as a draft of ``kind``
    (``dynamic``, ``static``, ``compound``) for ``purpose``."""

    type: ClassVar[str] = "segment.created"
    kind: str
    purpose: str | None = None


@event
@dataclass(frozen=True, kw_only=True)
class SegmentUpdated(_SegmentEvent):
    """A segment's definition changed (``updateSegment``: it is a draft again) or it went live
    (``publishSegment``: ``status`` draft to published); ``changes`` holds each field's old
    and new value (``where`` as its stored JSON)."""

    type: ClassVar[str] = "segment.updated"


@event
@dataclass(frozen=True, kw_only=True)
class SegmentDeleted(_SegmentEvent):
    """A segment was deleted with its static list and evaluations (``deleteSegment``)."""

    type: ClassVar[str] = "segment.deleted"
    kind: str


# ---------------------------------------------------------------- subscription lists


@dataclass(frozen=True, kw_only=True)
class _ListEvent(Event):
    record: ClassVar[RecordType] = "subscription_list"
    record_field: ClassVar[str] = "list_id"

    list_id: ObjectId
    name: str  # its name after the change


@event
@dataclass(frozen=True, kw_only=True)
class SubscriptionListCreated(_ListEvent):
    """An active subscription list was created (``createSubscriptionList``)."""

    type: ClassVar[str] = "subscription_list.created"


@event
@dataclass(frozen=True, kw_only=True)
class SubscriptionListUpdated(_ListEvent):
    """A subscription list was renamed (``renameSubscriptionList``: every member's
    subscriptions followed in the same transaction) or reactivated; ``changes`` holds the old
    and new ``name`` or ``status``."""

    type: ClassVar[str] = "subscription_list.updated"


@event
@dataclass(frozen=True, kw_only=True)
class SubscriptionListArchived(_ListEvent):
    """A subscription list was archived (``archiveSubscriptionList``): nobody can be added
    any more, its members stay; ``changes`` holds ``status`` active to archived."""

    type: ClassVar[str] = "subscription_list.archived"


# ---------------------------------------------------------------- webhooks


@dataclass(frozen=True, kw_only=True)
class _WebhookEvent(Event):
    record: ClassVar[RecordType] = "webhook"
    record_field: ClassVar[str] = "webhook_id"

    webhook_id: ObjectId


@event
@dataclass(frozen=True, kw_only=True)
class WebhookCreated(_WebhookEvent):
    """A webhook was registered (``createWebhook``): where it delivers and the event
    patterns it hears (never its secret)."""

    type: ClassVar[str] = "webhook.created"
    url: str
    events: tuple[str, ...]
    description: str | None = None


@event
@dataclass(frozen=True, kw_only=True)
class WebhookUpdated(_WebhookEvent):
    """A webhook's URL, event patterns, description or state changed (``updateWebhook``, or
    the delivery worker turning it off after a 410 or a run of failures, with
    ``disabledReason``); ``changes`` holds each field's old and new value."""

    type: ClassVar[str] = "webhook.updated"


@event
@dataclass(frozen=True, kw_only=True)
class WebhookDeleted(_WebhookEvent):
    """A webhook was deleted with its deliveries (``deleteWebhook``)."""

    type: ClassVar[str] = "webhook.deleted"
    url: str


@event
@dataclass(frozen=True, kw_only=True)
class WebhookSecretRotated(_WebhookEvent):
    """A webhook got a new signing secret (``rotateWebhookSecret``); the old one signs nothing
    from then on.  Neither secret is in the event."""

    type: ClassVar[str] = "webhook.secret_rotated"
