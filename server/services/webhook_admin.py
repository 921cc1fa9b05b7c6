"""Registering, changing and removing webhooks, and reading their deliveries (the admin's side
of :mod:`leadgraph.services.webhooks`).  Every change appends its ``webhook.*`` event in its
transaction through :mod:`leadgraph.services.dispatch` (never the secret), so the audit log,
plugins and other webhooks hear it like any other change."""

from __future__ import annotations

import typing
from datetime import timedelta
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from ..config import Settings
from ..cursors import Page
from ..errors import Conflict, InvalidInput
from ..events import (
    Event,
    WebhookCreated,
    WebhookDeleted,
    WebhookSecretRotated,
    WebhookUpdated,
    diff,
)
from ..store import webhook_deliveries as deliveries
from ..store import webhooks as store
from ..store.clock import now
from ..types import PluginManager, Session
from . import addresses, dispatch
from . import webhooks as hooks
from .active_webhooks import ACTIVE
from .delivery_wake import wake
from .webhooks import MAX_DESCRIPTION, new_secret, pattern_problems

#: Stored fields a ``webhook.updated`` event leaves out: the secret (never in an event) and
#: the delivery worker's bookkeeping.
UNRECORDED = ("secret", "failureCount", "failingSince")


class Webhooks:
    """Registering, changing and removing webhooks; their deliveries.  Every change appends
    its ``webhook.*`` event in its transaction (never the secret)."""

    def __init__(
        self, db: AsyncDatabase, settings: Settings, pm: PluginManager | None = None
    ) -> None:
        self.db = db
        self.settings = settings
        self.pm = pm

    async def _write(self, work: dispatch.Writing[Any]) -> Any:
        """Run ``work`` in a transaction, appending its events there; after the commit, the
        active webhooks are read again and the events delivered."""

        return await dispatch.written(
            self.db, self.pm, work, committed=lambda: ACTIVE.forget(self.db)
        )

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
        if await store.count(self.db) >= hooks.MAX_WEBHOOKS:
            most = hooks.MAX_WEBHOOKS
            raise Conflict(f"at most {most} webhooks may be registered: delete one first")
        fields = {
            "url": url,
            "events": list(dict.fromkeys(events)),
            "secret": new_secret(),
            "active": True,
            "description": description,
            "disabledReason": None,
        }

        async def work(session: Session | None) -> tuple[Any, list[Event]]:
            doc = await store.create(self.db, dict(fields), session)
            made = WebhookCreated(
                webhook_id=doc["_id"],
                url=url,
                events=tuple(doc["events"]),
                description=description,
            )
            return doc, [made]

        return typing.cast(dict[str, Any], await self._write(work))

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
        if not changes:
            return await store.get(self.db, oid)

        async def work(session: Session | None) -> tuple[Any, list[Event]]:
            before = await store.get(self.db, oid, session)
            doc = await store.update(self.db, oid, changes, session)
            if before is None or doc is None:
                return None, []
            found = diff(before, doc, skip=UNRECORDED)
            return doc, [WebhookUpdated(webhook_id=oid, changes=found)] if found else []

        return typing.cast(dict[str, Any] | None, await self._write(work))

    async def rotate_secret(self, oid: ObjectId) -> dict[str, Any] | None:
        """A new secret, in force at once: the old one signs nothing more."""

        async def work(session: Session | None) -> tuple[Any, list[Event]]:
            doc = await store.update(self.db, oid, {"secret": new_secret()}, session)
            return doc, [WebhookSecretRotated(webhook_id=oid)] if doc else []

        return typing.cast(dict[str, Any] | None, await self._write(work))

    async def delete(self, oid: ObjectId) -> bool:
        """The webhook and its deliveries, in one transaction."""

        async def work(session: Session | None) -> tuple[Any, list[Event]]:
            doc = await store.get(self.db, oid, session)
            if doc is None:
                return False, []
            await deliveries.delete_of_webhook(self.db, oid, session=session)
            await store.delete(self.db, oid, session=session)
            return True, [WebhookDeleted(webhook_id=oid, url=doc["url"])]

        return bool(await self._write(work))

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
