"""Webhooks: endpoints that hear the record of what changed (docs/events.md "Webhooks").

An admin registers a URL with the event types it wants (``contact.updated``, every type of a
kind ``lead.*``, or ``*``).  After a change commits, the dispatcher hands its events to
:func:`enqueue`, which stores one delivery per (active webhook, event) that the webhook's
patterns match; the delivery worker (:mod:`leadgraph.services.delivery`) sends them, signed
as the Standard Webhooks specification says, and retries until a 2xx.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from ..config import Settings
from ..cursors import Page
from ..db import in_transaction
from ..errors import Conflict, InvalidInput
from ..events import CATALOGUE, Event
from ..store import webhook_deliveries as deliveries
from ..store import webhooks as store
from ..store.clock import now
from ..types import Session
from . import addresses
from .active_webhooks import ACTIVE
from .delivery import wake

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
        if matches(hook["events"], event.type)
    ]
    if docs and await deliveries.enqueue(db, docs):
        wake()
    return {d["event"] for d in docs}


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


class Webhooks:
    """Registering, changing and removing webhooks; their deliveries."""

    def __init__(self, db: AsyncDatabase, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    async def _check_url(self, url: str, field: str) -> str:
        url = url.strip()
        try:
            await addresses.target(
                url,
                allow_private=self.settings.webhook_allow_private,
                timeout=self.settings.webhook_timeout,
            )
        except addresses.Refused as exc:
            raise InvalidInput(field, str(exc)) from None
        return url

    def _check(self, events: list[str] | None, description: str | None) -> None:
        errors = pattern_problems(events, "input.events") if events is not None else []
        if description is not None and len(description) > MAX_DESCRIPTION:
            errors.append(("input.description", f"must be at most {MAX_DESCRIPTION} characters"))
        if errors:
            raise InvalidInput(errors)

    async def create(self, url: str, events: list[str], description: str | None) -> dict[str, Any]:
        self._check(events, description)
        url = await self._check_url(url, "input.url")
        if await store.count(self.db) >= MAX_WEBHOOKS:
            raise Conflict(f"at most {MAX_WEBHOOKS} webhooks may be registered: delete one first")
        doc = await store.create(
            self.db,
            {
                "url": url,
                "events": list(dict.fromkeys(events)),
                "secret": new_secret(),
                "active": True,
                "description": description,
                "disabledReason": None,
            },
        )
        ACTIVE.forget(self.db)
        return doc

    async def update(
        self,
        oid: ObjectId,
        *,
        url: str | None = None,
        events: list[str] | None = None,
        description: str | None = None,
        active: bool | None = None,
    ) -> dict[str, Any] | None:
        """Change what is given; ``active: true`` re-enables a disabled endpoint (its run of
        failures forgotten)."""
        self._check(events, description)
        changes: dict[str, Any] = {}
        if url is not None:
            changes["url"] = await self._check_url(url, "input.url")
        if events is not None:
            changes["events"] = list(dict.fromkeys(events))
        if description is not None:
            changes["description"] = description
        if active is not None:
            changes["active"] = active
            if active:
                changes |= {"disabledReason": None, "failureCount": 0, "failingSince": None}
        doc = (
            await store.update(self.db, oid, changes) if changes else await store.get(self.db, oid)
        )
        ACTIVE.forget(self.db)
        return doc

    async def rotate_secret(self, oid: ObjectId) -> dict[str, Any] | None:
        """A new secret, in force at once: the old one signs nothing more."""
        doc = await store.update(self.db, oid, {"secret": new_secret()})
        ACTIVE.forget(self.db)
        return doc

    async def delete(self, oid: ObjectId) -> bool:
        """The webhook and its deliveries, in one transaction."""

        async def work(session: Session | None) -> bool:
            await deliveries.delete_of_webhook(self.db, oid, session=session)
            return await store.delete(self.db, oid, session=session)

        gone = await in_transaction(self.db, work)
        ACTIVE.forget(self.db)
        return gone

    async def every(self) -> list[dict[str, Any]]:
        return await store.every(self.db)

    async def get(self, oid: ObjectId) -> dict[str, Any] | None:
        return await store.get(self.db, oid)

    async def deliveries(
        self, oid: ObjectId, first: int | None, after: str | None
    ) -> tuple[Page, int] | None:
        """A page of the webhook's deliveries (newest first) and how many it has."""
        if await store.get(self.db, oid) is None:
            return None
        page = await deliveries.page(self.db, oid, first=first, after=after)
        return page, await deliveries.count(self.db, oid)

    async def redeliver(self, delivery: ObjectId) -> dict[str, Any] | None:
        """Send a delivery again (whatever its status), with the same ``webhook-id``."""
        doc = await deliveries.get(self.db, delivery)
        if doc is None:
            return None
        hook = await store.get(self.db, doc["webhook"])
        if hook is None or not hook.get("active"):
            raise Conflict("the webhook is disabled: enable it (updateWebhook) first")
        at = now()
        until = at + timedelta(hours=self.settings.webhook_retry_hours)
        again = await deliveries.requeue(self.db, delivery, at, until)
        wake()
        return again
