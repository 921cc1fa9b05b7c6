"""Subscription lists as records: create, rename (membership follows), archive, list; and
subscribing / unsubscribing contacts through the consent service.

A list is ``active`` (contacts may be added) or ``archived`` (no new subscribers; who was on
it stays, and anyone may still leave it).  A list's name is its identity in a contact's
``subscriptions`` / ``unsubscribed`` arrays, so a rename rewrites those arrays on every
contact in the rename's transaction.
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from ..errors import Conflict, InvalidInput, NotFound
from ..events import (
    Event,
    SubscriptionListArchived,
    SubscriptionListCreated,
    SubscriptionListUpdated,
    diff,
)
from ..store import contacts, subscription_lists
from ..types import PluginManager, Session
from . import dispatch
from .consent import Actor, Applied, Consent, ConsentChange, require_lists

MAX_NAME = 100


def clean_name(name: str, path: str) -> str:
    """A list name as stored: trimmed, not blank, at most 100 characters."""
    name = (name or "").strip()
    if not name:
        raise InvalidInput(path, "must not be blank")
    if len(name) > MAX_NAME:
        raise InvalidInput(path, f"must be at most {MAX_NAME} characters")
    if any(ord(c) < 32 for c in name):
        raise InvalidInput(path, "must not hold control characters")
    return name


class SubscriptionLists:
    """Every write appends its ``subscription_list.*`` event in its own transaction."""

    def __init__(
        self, db: AsyncDatabase, consent: Consent, pm: PluginManager | None = None
    ) -> None:
        self.db = db
        self.consent = consent
        self.pm = pm

    async def _write(
        self, work: dispatch.Writing[dict[str, Any] | None], name: str
    ) -> dict[str, Any] | None:
        """Run ``work`` in a transaction, appending its events there, and deliver them after
        the commit.  :raises Conflict: ``name`` is taken (nothing written)."""

        try:
            return await dispatch.written(self.db, self.pm, work)
        except DuplicateKeyError:
            raise Conflict(f"a subscription list named {name!r} already exists") from None

    async def create(self, name: str) -> dict[str, Any]:
        """A new active list.  :raises Conflict: the name is taken."""
        name = clean_name(name, "name")

        async def work(session: Session | None) -> tuple[dict[str, Any] | None, list[Event]]:
            doc = await subscription_lists.create(self.db, name, session)
            return doc, [SubscriptionListCreated(list_id=doc["_id"], name=name)]

        doc = await self._write(work, name)
        assert doc is not None
        return doc

    async def rename_list(self, oid: ObjectId, name: str) -> dict[str, Any] | None:
        """Rename a list and, in the same transaction, every contact's membership of it.
        None: no such list.  :raises Conflict: the new name is taken."""
        name = clean_name(name, "name")

        async def work(session: Session | None) -> tuple[dict[str, Any] | None, list[Event]]:
            before = await subscription_lists.get(self.db, oid, session=session)
            if before is None or before["name"] == name:
                return before, []
            after = await subscription_lists.set_fields(
                self.db, oid, {"name": name}, session=session
            )
            await contacts.rename_subscription(self.db, before["name"], name, session=session)
            return after, self._changed(before, after)

        return await self._write(work, name)

    async def set_status(self, oid: ObjectId, status: str) -> dict[str, Any] | None:
        """Archive (or reactivate) a list; its members stay.  None: no such list."""

        async def work(session: Session | None) -> tuple[dict[str, Any] | None, list[Event]]:
            before = await subscription_lists.get(self.db, oid, session=session)
            if before is None or before.get("status") == status:
                return before, []
            after = await subscription_lists.set_fields(
                self.db, oid, {"status": status}, session=session
            )
            return after, self._changed(before, after)

        return await self._write(work, "")

    @staticmethod
    def _changed(before: dict[str, Any], after: dict[str, Any] | None) -> list[Event]:
        """The event of a list's change: archived, else updated (each field old and new)."""
        if after is None:
            return []
        changes = diff(before, after)
        archived = after.get("status") == "archived" != before.get("status")
        kind = SubscriptionListArchived if archived else SubscriptionListUpdated
        return [kind(list_id=after["_id"], name=after["name"], changes=changes)] if changes else []

    async def lists(self, status: str | None = None) -> list[dict[str, Any]]:
        return await subscription_lists.all_lists(self.db, status)

    async def get(self, oid: ObjectId) -> dict[str, Any] | None:
        return await subscription_lists.get(self.db, oid)

    async def _require_contacts(self, contact_ids: list[ObjectId]) -> None:
        """:raises NotFound: naming the first contact that does not exist (nothing written)."""
        found = await contacts.by_ids(self.db, contact_ids)
        for oid in contact_ids:
            if oid not in found:
                raise NotFound("Contact", str(oid))

    async def subscribe(
        self,
        contact_ids: list[ObjectId],
        names: list[str],
        actor: Actor,
        *,
        resubscribe: bool = False,
    ) -> dict[ObjectId, Applied]:
        """Add contacts to active lists.  A contact that left a list stays out of it unless
        ``resubscribe`` (the person asked for it) — see :mod:`leadgraph.services.consent`."""
        await require_lists(self.db, names, "lists")
        await self._require_contacts(contact_ids)
        change = ConsentChange(subscribe=names, resubscribe=resubscribe)
        return await self.consent.apply_many([(c, change) for c in contact_ids], actor)

    async def unsubscribe(
        self, contact_ids: list[ObjectId], names: list[str], actor: Actor
    ) -> dict[ObjectId, Applied]:
        """Take contacts off lists (archived ones too) and remember that they left."""
        await require_lists(self.db, names, "lists", active=False)
        await self._require_contacts(contact_ids)
        change = ConsentChange(unsubscribe=names)
        return await self.consent.apply_many([(c, change) for c in contact_ids], actor)
