"""Webhooks: endpoints that hear the record of what changed (docs/events.md "Webhooks").

An admin registers a URL with the event types it wants (``contact.updated``, every type of a
kind ``lead.*``, or ``*``).  After a change commits, the dispatcher hands its events to
:func:`enqueue`, which stores one delivery per (active webhook, event) that the webhook's
patterns match; the delivery worker (:mod:`leadgraph.services.delivery`) sends them, signed
as the Standard Webhooks specification says, and retries until a 2xx.  Registering and
changing webhooks: :mod:`leadgraph.services.webhook_admin`.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from ..events import CATALOGUE, Event
from ..store import webhook_deliveries as deliveries
from ..store.clock import now
from .active_webhooks import ACTIVE
from .delivery_wake import wake

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24  # 192 random bits (the specification asks for 24 to 64 bytes)
MAX_DESCRIPTION = 500  # characters
MAX_WEBHOOKS = 100  # registered at once (every event is matched against the active ones)


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def masked(secret: str) -> str:
    """A secret as shown after its creation: enough to tell two apart, not to sign."""
    return secret[: len(SECRET_PREFIX) + 4] + "…"


def matches(patterns: Iterable[str], event_type: str) -> bool:
    """Whether a webhook's patterns take ``event_type``."""
    kind = event_type.split(".", 1)[0]
    return any(p in ("*", event_type, f"{kind}.*") for p in patterns)


def pattern_problems(patterns: list[str], field: str) -> list[tuple[str, str]]:
    """``(input.events.N, message)`` for every pattern that names no event type."""
    if not patterns:
        return [(field, "must name at least one event type (or `*`)")]
    kinds = {t.split(".", 1)[0] for t in CATALOGUE}
    out: list[tuple[str, str]] = []
    for n, pattern in enumerate(patterns):
        if pattern == "*" or pattern in CATALOGUE:
            continue
        if pattern.endswith(".*") and pattern[:-2] in kinds:
            continue
        out.append((f"{field}.{n}", f"{pattern!r} is not an event type, `kind.*` or `*`"))
    return out


async def listening(db: AsyncDatabase) -> list[dict[str, Any]]:
    """The active webhooks (this process's copy, at most a second old)."""
    return await ACTIVE.get(db)


def taken(hooks: list[dict[str, Any]], event_type: str) -> bool:
    """Whether one of ``hooks`` takes events of ``event_type``."""
    return any(matches(hook["events"], event_type) for hook in hooks)


async def enqueue(db: AsyncDatabase, events: Iterable[Event]) -> set[ObjectId]:
    """Store a delivery for every (active webhook, event) its patterns match, unless stored
    already (so a dispatch run again after a crash adds nothing); the ids of the events some
    webhook took.  Called by the dispatcher after the commit, and by its sweep."""
    events = list(events)
    hooks = await ACTIVE.get(db) if events else []
    at = now()
    docs = [
        _delivery(hook["_id"], event, at)
        for event in events
        for hook in hooks
        if matches(hook["events"], event.type) and not _about_itself(hook, event)
    ]
    if docs and await deliveries.enqueue(db, docs):
        wake()
    return {d["event"] for d in docs}


#: What a webhook is not told about itself: that it was created (it did not exist yet), that
#: its secret changed (the receiver may not hold the new one yet).
UNTOLD = frozenset({"webhook.created", "webhook.secret_rotated"})


def _about_itself(hook: dict[str, Any], event: Event) -> bool:
    return event.type in UNTOLD and event.record_id == hook["_id"]


def _delivery(webhook: ObjectId, event: Event, at: Any) -> dict[str, Any]:
    return {
        "webhook": webhook,
        "event": event.id,
        "type": event.type,
        "status": "pending",
        "attempts": 0,
        "createdAt": at,
        "nextAttemptAt": at,
        "retryUntil": None,  # set from the settings at the first attempt
        "claim": None,
    }
