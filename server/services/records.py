"""Contacts, accounts and leads entered by hand: creating them, linking a lead to its parents,
and deleting them with what depends on them.

Each delete is one transaction: a contact takes its interactions with it and leaves its leads
without a parent contact; an account leaves its contacts and leads without an account; every
deleted record releases its match keys, so a later submission with the same values creates a
new record instead of pointing at the deleted one.  Plugins hear ``contact_created`` and
``lead_created`` after the write; new and re-linked leads go through the funnel runner.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from ..contracts import PluginFailure
from ..db import in_transaction
from ..events import emit
from ..store import (
    accounts,
    contacts,
    history,
    interactions,
    leads,
    match_keys,
    opportunities,
)
from .funnel import Funnel
from .handoff import accept_new


@dataclass
class Saved:
    """A record after the write, and the plugins that failed afterwards (it stays written)."""

    doc: dict[str, Any]
    plugin_failures: list[PluginFailure] = field(default_factory=list)


class Records:
    """Manual entry of contacts, accounts and leads over one database."""

    def __init__(self, db: AsyncDatabase, funnel: Funnel, pm: Any) -> None:
        self.db = db
        self.funnel = funnel
        self.pm = pm

    # ------------------------------------------------------------ create

    async def create_contact(self, fields: dict[str, Any]) -> Saved:
        """Store a contact from validated fields and announce ``contact_created``."""
        doc = await contacts.insert(self.db, fields)
        return Saved(doc, await emit(self.pm, "contact_created", {"contact": doc}))

    async def create_account(self, fields: dict[str, Any]) -> Saved:
        return Saved(await accounts.insert(self.db, fields))

    async def create_lead(self, fields: dict[str, Any], *, by: str | None = None) -> Saved:
        """Store a lead at the lifecycle's initial stage (or where its ``start_at`` rules send
        it; one that starts at the acceptance stage is accepted by ``by``, the person creating
        it); the funnel scores it at once, follows the ``created`` transitions and announces
        ``lead_created``."""
        doc = self.funnel.new_lead(fields)
        accept_new(self.funnel.ruleset, doc, by)
        doc = await leads.insert(self.db, doc)
        report = await self.funnel.created([doc])
        return Saved(report.lead(doc["_id"]) or doc, report.failures)

    # ------------------------------------------------------------ link

    async def link_lead(self, oid: ObjectId, parents: dict[str, Any]) -> Saved | None:
        """Set a lead's ``parentContactId`` and/or ``parentAccountId`` (None unlinks), then
        rescore it from its new facts (the ``updated`` transitions follow).  None: no lead."""
        before = await leads.get(self.db, oid)
        doc = await leads.update(self.db, oid, parents)
        if doc is None:
            return None
        report = await self.funnel.run([doc], {"updated"}, rollups=False)
        after = report.lead(oid) or doc
        rollups = self.funnel.rollups  # the accounts it left and joined
        await rollups.refresh(report.accounts | await rollups.accounts_of_leads([before, after]))
        return Saved(after, report.failures)

    # ------------------------------------------------------------ delete

    async def delete_contact(self, oid: ObjectId) -> bool:
        """Delete a contact with its interactions; its leads lose their parent contact."""

        async def cascade(session: Any) -> None:
            await interactions.delete_of_contact(self.db, oid, session=session)
            await leads.unlink_parent(self.db, "parentContactId", oid, session=session)
            await opportunities.unlink_parent(self.db, "contactId", oid, session=session)

        return await self._delete(contacts.delete, oid, cascade)

    async def delete_account(self, oid: ObjectId) -> bool:
        """Delete an account; its contacts and leads no longer belong to it."""

        async def cascade(session: Any) -> None:
            await contacts.unlink_account(self.db, oid, session=session)
            await leads.unlink_parent(self.db, "parentAccountId", oid, session=session)
            await opportunities.unlink_parent(self.db, "accountId", oid, session=session)

        return await self._delete(accounts.delete, oid, cascade)

    async def delete_lead(self, oid: ObjectId) -> bool:
        """Delete a lead and its score history; the roll-ups of the accounts it counted for
        follow."""
        before = await leads.get(self.db, oid)
        if not await self._delete(
            leads.delete, oid, lambda session: history.delete_of_lead(self.db, oid, session)
        ):
            return False
        rollups = self.funnel.rollups
        await rollups.refresh(await rollups.accounts_of_leads([before]))
        return True

    async def _delete(
        self,
        delete: Callable[..., Awaitable[bool]],
        oid: ObjectId,
        cascade: Callable[[Any], Awaitable[None]] | None,
    ) -> bool:
        """One transaction: the record, what depends on it, its match keys.  False (nothing
        written) when the record does not exist."""

        async def work(session: Any) -> bool:
            if not await delete(self.db, oid, session=session):
                return False
            if cascade is not None:
                await cascade(session)
            await match_keys.release(self.db, oid, session=session)
            return True

        return await in_transaction(self.db, work)
