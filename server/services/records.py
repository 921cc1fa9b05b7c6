"""Contacts, accounts and leads entered by hand: creating them, linking a lead to its parents,
and deleting them with what depends on them.

Each delete is one transaction: a contact takes its interactions with it, and its leads lose
their parent contact and every copy of the person (name, email, job title: they keep topic,
stage and scores, marked ``anonymizedAt``, and orphan linking leaves them alone, so a deleted
person is not re-created from their leads); an account leaves its contacts and leads without
an account; every deleted record releases its match keys, so a later submission with the
same values creates a new record instead of pointing at the deleted one.  Each change
appends its typed event (:mod:`leadgraph.events`) in its transaction; plugins hear them after
the commit (:mod:`leadgraph.services.dispatch`); new and re-linked leads go through the funnel
runner.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from ..contracts import PluginFailure
from ..db import in_transaction
from ..events import (
    AccountCreated,
    AccountDeleted,
    AccountUpdated,
    ContactCreated,
    ContactDeleted,
    Event,
    LeadDeleted,
    LeadUpdated,
    diff,
    lead_created,
)
from ..rules.reads import ruleset_facts
from ..store import (
    accounts,
    contacts,
    history,
    interactions,
    leads,
    match_keys,
    opportunities,
)
from ..types import AccountDoc, ContactDoc, LeadDoc, PluginManager, Session
from . import dispatch
from .consent import Actor, Consent, ConsentChange, require_lists
from .funnel import Funnel, Report
from .handoff import accept_new
from .history import Cause
from .matching import Matching
from .orphans import link_orphans

#: Fields every write sets: no edit of what the rules read.
_BOOKKEEPING = frozenset({"updatedAt", "rev"})


def changed_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """The top-level fields whose values an edit changed."""
    keys = dict.fromkeys([*before, *after])
    return [k for k in keys if k not in _BOOKKEEPING and before.get(k) != after.get(k)]


def edit_cause(entity: str, fields: list[str], by: str | None) -> Cause:
    """The score history's cause of a rescore after an edit: ``update``, with who and what."""
    return Cause("update", by=by, reason=f"{entity} edited: {', '.join(fields)}")


@dataclass
class Saved:
    """A record after the write, and the plugins that failed afterwards (it stays written)."""

    doc: Mapping[str, Any]
    plugin_failures: list[PluginFailure] = field(default_factory=list)


class Records:
    """Manual entry of contacts, accounts and leads over one database."""

    def __init__(
        self,
        db: AsyncDatabase,
        funnel: Funnel,
        pm: PluginManager | None,
        consent: Consent,
        matching: Matching,
    ) -> None:
        self.db = db
        self.funnel = funnel
        self.pm = pm
        self.consent = consent
        self.matching = matching

    # ------------------------------------------------------------ create

    async def create_contact(self, fields: dict[str, Any], actor: Actor) -> Saved:
        """Store a contact from validated fields and announce ``contact_created``.  Its
        preferences, consent and subscriptions (active lists) are set through the consent
        service in the same transaction, recorded as given by ``actor``."""
        fields = dict(fields)
        change = ConsentChange.of_fields(fields)
        change.path = "input.subscriptions"
        await require_lists(self.db, change.subscribe, change.path)

        async def work(session: Session | None) -> tuple[ContactDoc, list[Event]]:
            doc = await contacts.create(self.db, fields, session=session)
            applied = await self.consent.apply(doc["_id"], change, actor, session=session)
            found: list[Event] = [
                ContactCreated(
                    contact_id=doc["_id"],
                    source="api",
                    email=doc.get("email"),
                    account_id=doc.get("accountId"),
                )
            ]
            if applied is not None and applied.event is not None:
                found.append(applied.event)
            await dispatch.append(self.db, self.pm, found, session)
            return doc, found

        doc: Mapping[str, Any]
        doc, found = await in_transaction(self.db, work)
        doc = await contacts.get(self.db, doc["_id"]) or doc
        return Saved(doc, await dispatch.deliver(self.db, self.pm, found))

    async def create_account(self, fields: dict[str, Any]) -> Saved:
        """Store an account from validated fields (with its ``account.created`` event)."""

        async def work(session: Session | None) -> tuple[AccountDoc, list[Event]]:
            doc = await accounts.create(self.db, fields, session=session)
            found: list[Event] = [AccountCreated(account_id=doc["_id"], name=doc.get("name"))]
            await dispatch.append(self.db, self.pm, found, session)
            return doc, found

        doc, found = await in_transaction(self.db, work)
        return Saved(doc, await dispatch.deliver(self.db, self.pm, found))

    async def create_lead(self, fields: dict[str, Any], *, by: str | None = None) -> Saved:
        """Store a lead at the lifecycle's initial stage (or where its ``start_at`` rules send
        it; one that starts at the acceptance stage is accepted by ``by``, the person creating
        it); the funnel scores it at once, follows the ``created`` transitions and announces
        ``lead_created``."""
        new = self.funnel.new_lead(fields)
        accept_new(self.funnel.ruleset, new, by)

        async def work(session: Session | None) -> tuple[LeadDoc, list[Event]]:
            stored = await leads.insert(self.db, new, session=session)
            found: list[Event] = [lead_created(stored, "api")]
            await dispatch.append(self.db, self.pm, found, session)
            return stored, found

        doc: Mapping[str, Any]
        doc, found = await in_transaction(self.db, work)
        failures = await dispatch.deliver(self.db, self.pm, found)
        report = await self.funnel.created([doc])
        failures += report.failures
        doc = report.lead(doc["_id"]) or doc
        orphan = not doc.get("parentContactId") and not doc.get("parentAccountId")
        if orphan and self.matching.rules.link_orphan_leads:
            linked = await link_orphans(self.matching, self.funnel, lead_ids=[doc["_id"]])
            failures += linked.plugin_failures
            if linked.linked:
                doc = await leads.get(self.db, doc["_id"]) or doc
        return Saved(doc, failures)

    async def update_contact(
        self, oid: ObjectId, fields: dict[str, Any], actor: Actor
    ) -> Saved | None:
        """Change a contact's validated fields (keys follow, see ``Matching.edit``); its
        preferences, consent and ``subscriptions`` (the exact set of lists wanted) change
        through the consent service in the same transaction.  Then the funnel rescores the
        leads whose facts the edit changed (:meth:`follow_contact`).  None: no such contact."""
        fields = dict(fields)
        wanted = fields.pop("subscriptions", None)
        change = ConsentChange(
            preferences=dict(fields.pop("preferences", None) or {}),
            consent=dict(fields.pop("consent", None) or {}),
            subscriptions=[n.strip() for n in wanted] if wanted is not None else None,
            path="input.subscriptions",
        )

        async def then(
            session: Session | None, after: dict[str, Any]
        ) -> tuple[dict[str, Any], list[Event]]:
            applied = await self.consent.apply(oid, change, actor, session=session)
            if applied is None:
                return after, []
            return {**after, **applied.state}, [applied.event] if applied.event else []

        before, after, failures = await self.matching.edit(
            "contact", oid, fields, then=then if change else None
        )
        if before is None or after is None:
            return None
        report = await self.follow_contact(before, after, by=actor.by)
        return Saved(after, failures + report.failures)

    async def update_account(
        self, oid: ObjectId, fields: dict[str, Any], *, by: str | None = None
    ) -> Saved | None:
        """Change an account's validated fields, with its ``account.updated`` event, in one
        transaction, then rescore the leads whose facts the edit changed
        (:meth:`follow_account`).  None: no such account."""

        async def work(
            session: Session | None,
        ) -> tuple[AccountDoc | None, AccountDoc, list[Event]]:
            before = await accounts.get(self.db, oid, session=session)
            after = await accounts.update(self.db, oid, fields, session=session)
            if before is None or after is None:
                return None, {}, []
            changes = diff(before, after)
            found: list[Event] = [AccountUpdated(account_id=oid, changes=changes)]
            found = found if changes else []
            await dispatch.append(self.db, self.pm, found, session)
            return before, after, found

        before, after, found = await in_transaction(self.db, work)
        if before is None:
            return None
        failures = await dispatch.deliver(self.db, self.pm, found)
        report = await self.follow_account(before, after, by=by)
        return Saved(after, failures + report.failures)

    async def update_lead(
        self, oid: ObjectId, fields: dict[str, Any], *, by: str | None = None
    ) -> Saved | None:
        """Change a lead's validated fields (keys follow, see ``Matching.edit``), then rescore
        it if the rules read a field that changed (or its parents changed), following the
        ``updated`` transitions.  None: no such lead."""
        before, after, failures = await self.matching.edit("lead", oid, fields)
        if before is None or after is None:
            return None
        changed = changed_fields(before, after)
        parents = [f for f in changed if f in ("parentContactId", "parentAccountId")]
        if not parents and not self._read("lead", changed):
            return Saved(after, failures)
        report = await self.funnel.run(
            [after], {"updated"}, rollups=False, cause=edit_cause("lead", changed, by)
        )
        lead = report.lead(oid) or after
        rollups = self.funnel.rollups  # the accounts it left and joined, when it moved
        moved = await rollups.accounts_of_leads([before, lead]) if parents else set()
        await rollups.refresh(report.accounts | moved)
        return Saved(lead, failures + report.failures)

    # ------------------------------------------------------------ the funnel follows edits

    def _read(self, entity: str, changed: list[str]) -> list[str]:
        """The ``changed`` fields of an ``entity`` the live rules read."""
        if self.funnel.ruleset is None:
            return []
        return ruleset_facts(self.funnel.ruleset).read(entity, changed)

    async def follow_contact(
        self, before: dict[str, Any], after: dict[str, Any], *, by: str | None
    ) -> Report:
        """Rescore what a contact edit changed: its open leads when the rules read a changed
        field; when it moved to another account, also the account-based leads of both
        accounts (their contacts and interactions changed); and those of its account when a
        plugin may read every contact of an account-based lead."""
        changed = changed_fields(before, after)
        read = self._read("contact", changed)
        moved = "accountId" in changed
        if not read and not moved:
            return Report()
        rules = self.funnel.ruleset
        everything = rules is not None and ruleset_facts(rules).everything
        based: list[ObjectId] = []
        for account, wanted in (
            (before.get("accountId"), moved),
            (after.get("accountId"), moved or everything),
        ):
            if wanted and account is not None:
                based.append(account)
        query = leads.open_of_parents(contacts=[after["_id"]], account_based=based)
        report = await self._follow(query, edit_cause("contact", read or changed, by))
        if moved:  # the accounts it left and joined count its leads differently
            await self.funnel.rollups.refresh(based)
        return report

    async def follow_account(
        self, before: Mapping[str, Any], after: Mapping[str, Any], *, by: str | None
    ) -> Report:
        """Rescore what an account edit changed: when the rules read a changed field, the
        open leads of the account and of its contacts."""
        read = self._read("account", changed_fields(before, after))
        if not read:
            return Report()
        members = await contacts.accounts_of_members(self.db, [after["_id"]])
        query = leads.open_of_parents(contacts=members, accounts=[after["_id"]])
        return await self._follow(query, edit_cause("account", read, by))

    async def _follow(self, query: dict[str, Any] | None, cause: Cause) -> Report:
        if query is None or self.funnel.ruleset is None:
            return Report()
        return await self.funnel.rescore_all(query, triggers={"updated"}, cause=cause)

    async def contacts_by_ids(self, ids: list[ObjectId]) -> dict[ObjectId, dict[str, Any]]:
        """Contacts as stored now, by id (one ``$in`` find)."""
        return await contacts.by_ids(self.db, ids)

    # ------------------------------------------------------------ link

    async def link_lead(self, oid: ObjectId, parents: dict[str, Any]) -> Saved | None:
        """Set a lead's ``parentContactId`` and/or ``parentAccountId`` (None unlinks), then
        rescore it from its new facts (the ``updated`` transitions follow).  None: no lead."""

        async def work(session: Session | None) -> tuple[Any, Any, list[Event]]:
            before = await leads.get(self.db, oid, session=session)
            doc = await leads.update(self.db, oid, parents, session=session)
            if before is None or doc is None:
                return None, None, []
            changes = diff(before, doc)
            found: list[Event] = [
                LeadUpdated(lead_id=oid, contact_id=doc.get("parentContactId"), changes=changes)
            ]
            found = found if changes else []
            await dispatch.append(self.db, self.pm, found, session)
            return before, doc, found

        before, doc, found = await in_transaction(self.db, work)
        if doc is None:
            return None
        failures = await dispatch.deliver(self.db, self.pm, found)
        report = await self.funnel.run([doc], {"updated"}, rollups=False)
        after = report.lead(oid) or doc
        rollups = self.funnel.rollups  # the accounts it left and joined
        await rollups.refresh(report.accounts | await rollups.accounts_of_leads([before, after]))
        return Saved(after, [*failures, *report.failures])

    # ------------------------------------------------------------ delete

    async def delete_contact(self, oid: ObjectId) -> bool:
        """Delete a contact with its interactions; its leads lose their parent contact and
        their copies of the person (their match keys are released)."""

        async def cascade(session: Session | None) -> None:
            await interactions.delete_of_contact(self.db, oid, session=session)
            held = [d["_id"] for d in await leads.of_contact(self.db, oid, session=session)]
            await leads.anonymise(self.db, held, session=session)
            await leads.unlink_parent(self.db, "parentContactId", oid, session=session)
            await match_keys.release_all(self.db, held, session=session)
            await opportunities.unlink_parent(self.db, "contactId", oid, session=session)

        return await self._delete(contacts.delete, oid, cascade, ContactDeleted(contact_id=oid))

    async def delete_account(self, oid: ObjectId) -> bool:
        """Delete an account; its contacts and leads no longer belong to it."""

        async def cascade(session: Session | None) -> None:
            await contacts.unlink_account(self.db, oid, session=session)
            await leads.unlink_parent(self.db, "parentAccountId", oid, session=session)
            await opportunities.unlink_parent(self.db, "accountId", oid, session=session)

        return await self._delete(accounts.delete, oid, cascade, AccountDeleted(account_id=oid))

    async def delete_lead(self, oid: ObjectId) -> bool:
        """Delete a lead and its score history; the roll-ups of the accounts it counted for
        follow."""
        before = await leads.get(self.db, oid)
        deleted = LeadDeleted(lead_id=oid, contact_id=(before or {}).get("parentContactId"))
        if not await self._delete(
            leads.delete,
            oid,
            lambda session: history.delete_of_lead(self.db, oid, session),
            deleted,
        ):
            return False
        rollups = self.funnel.rollups
        await rollups.refresh(await rollups.accounts_of_leads([before]))
        return True

    async def _delete(
        self,
        delete: Callable[..., Awaitable[bool]],
        oid: ObjectId,
        cascade: Callable[[Session | None], Awaitable[None]] | None,
        deleted: Event,
    ) -> bool:
        """One transaction: the record, what depends on it, its match keys and its
        ``deleted`` event.  False (nothing written) when the record does not exist."""

        async def work(session: Session | None) -> bool:
            if not await delete(self.db, oid, session=session):
                return False
            if cascade is not None:
                await cascade(session)
            await match_keys.release(self.db, oid, session=session)
            await dispatch.append(self.db, self.pm, [deleted], session)
            return True

        if not await in_transaction(self.db, work):
            return False
        await dispatch.deliver(self.db, self.pm, [deleted])  # failures: kept on the event
        return True
