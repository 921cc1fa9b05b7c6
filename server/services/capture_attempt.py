"""One submission being captured (:class:`Attempt`): its keys read and claimed, its contact
and lead found or made, and the interaction, insights, consent, events and idempotency record
written, all in one transaction (see :mod:`leadgraph.services.capture`, which starts it)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from .. import normalize
from ..db import in_transaction
from ..errors import Conflict
from ..events import Event
from ..rules.fields import flat_changes, value_at
from ..store import (
    contacts,
    history,
    interactions,
    leads,
    match_keys,
    pending_captures,
    records,
    submissions,
)
from ..store._base import applied
from ..store.writes import Writes
from ..types import InteractionDoc, PluginManager, Session
from . import dispatch
from .capture_input import require_custom, submitted_changes
from .capture_outcome import Outcome, capture_events, replay_or_refuse, with_insight
from .consent import Actor, Consent, ConsentChange
from .first_score import FirstScore, score_first
from .form_fields import Parsed
from .funnel import Funnel
from .interactions import write
from .matching import Deferred, Match, Matching, updated_events
from .privacy import lift_suppression


@dataclass
class Attempt:
    """One submission being captured: resolve its records, then record it in one
    transaction (:meth:`run`), again if the contact was erased meanwhile."""

    db: AsyncDatabase
    pm: PluginManager | None
    matching: Matching
    consent: Consent
    make_lead: Callable[[dict[str, Any]], Mapping[str, Any]]
    form_id: str
    parsed: Parsed
    change: ConsentChange
    actor: Actor
    interaction_type: str
    event_id: str | None
    marketing_context: dict[str, Any] | None
    idempotency_key: str | None
    occurred_at: datetime
    source: str
    pending: dict[str, Any] | None
    sid: str | None = None  # the idempotency record's id (store.submissions.scoped_id)
    digest: str = ""  # the input's hash
    owner: str | None = None
    operation: str = "submitForm"
    #: scores a new person's lead in the transaction (None: after the commit)
    funnel: Funnel | None = None
    #: that lead's evaluation, once made
    first: FirstScore | None = None
    #: the transaction's writes, sent at once before it commits (:mod:`leadgraph.store.writes`)
    writes: Writes | None = None
    #: the submitted values to set on the contact found (none when it was made here)
    contact_set: dict[str, Any] = field(default_factory=dict)
    #: the submitted values the lead found lacks (none when it was made here)
    lead_set: dict[str, Any] = field(default_factory=dict)
    #: the holders of the keys read at once (:meth:`read_keys`)
    held: dict[str, ObjectId | None] = field(default_factory=dict)
    #: the claims and new records resolving left to :meth:`record` (:class:`Deferred`)
    deferred: Deferred = field(default_factory=Deferred)

    def contact_record(self) -> dict[str, Any]:
        """What the contact strategy matches on: the submitted fields and the form."""
        return {**self.parsed.details, **self.parsed.contact, "formId": self.form_id}

    def lead_fields(self) -> dict[str, Any]:
        """The submitted lead fields, with the form, its marketing context and topic."""
        lfields = {**self.parsed.lead, "formId": self.form_id}
        if self.marketing_context:
            lfields["marketingContext"] = self.marketing_context
        if not lfields.get("topic"):
            # the lead's interest is the event's name unless the form names a topic
            context = lfields.get("marketingContext") or {}
            if context.get("kind") == "event" and context.get("name"):
                lfields["topic"] = context["name"]
            elif not context:
                lfields["topic"] = self.form_id
        return lfields

    def lead_record(self, lfields: dict[str, Any], email: str | None) -> dict[str, Any]:
        """What the lead strategy matches on (``email``: the contact's, when none was sent)."""
        return {**self.parsed.details, **lfields, "email": lfields.get("email") or email}

    async def read_keys(self, session: Session) -> None:
        """Read the holders of the contact's key and, when it does not depend on the contact
        found (the email was sent), the lead's, in one command, in the capture's transaction
        (:attr:`held`)."""
        cstrat = self.matching.strategy("contact", self.form_id)
        lstrat = self.matching.strategy("lead", self.form_id)
        found = [
            self.matching.key("contacts", cstrat, self.contact_record())
            if not self.matching.finds(cstrat)
            else None
        ]
        lfields = self.lead_fields()
        if lfields.get("email") and not self.matching.finds(lstrat):
            found.append(self.matching.key("leads", lstrat, self.lead_record(lfields, None)))
        kids = [k.id for k in found if k is not None]
        self.held = await self.matching.holders_of(kids, session) if kids else {}

    async def contact(self, session: Session) -> tuple[dict[str, Any], Match]:
        source, form_id = self.source, self.form_id
        cstrat = self.matching.strategy("contact", form_id)
        cfields = dict(self.parsed.contact)
        crecord = self.contact_record()
        # an event's default form id already names the road ("event:<id>"): not twice
        origin = form_id if form_id.startswith(f"{source}:") else f"{source}:{form_id}"
        new_contact = dict(contacts.new_document({"marketingSource": origin, **cfields}))
        new_contact["createdVia"] = {"source": source, "formId": form_id}
        # found or made here; the submitted values are set with the interaction's insights,
        # with the contact.updated event of what they changed (:meth:`record`)
        contact, cmatch = await self.matching.resolve(
            "contacts",
            cstrat,
            crecord,
            new_contact,
            {},
            held=self.held,
            session=session,
            deferred=self.deferred,
        )
        assert contact is not None  # contact strategies always create
        if cmatch.created:
            require_custom(self.matching, "contact", contact)
        self.contact_set = {} if cmatch.created else submitted_changes(contact, cfields)
        return contact, cmatch

    async def lead(
        self, contact: dict[str, Any], session: Session
    ) -> tuple[dict[str, Any] | None, Match]:
        lstrat = self.matching.strategy("lead", self.form_id)
        lfields = self.lead_fields()
        new_lead = dict(self.make_lead({**lfields, "parentContactId": contact["_id"]}))
        new_lead["createdVia"] = {"source": self.source, "formId": self.form_id}
        update = {k: v for k, v in lfields.items() if k not in ("topic", "marketingContext")}
        # found or made here; the submitted values a found lead lacks are set after, with
        # the lead.updated event of what they changed (:meth:`update_lead`)
        lead, lmatch = await self.matching.resolve(
            "leads",
            lstrat,
            self.lead_record(lfields, contact.get("email")),
            new_lead,
            {},
            held=self.held,
            session=session,
            deferred=self.deferred,
        )
        if lead is not None and lead.get("parentContactId") is None:
            adopted = await leads.adopt(self.db, lead["_id"], contact["_id"], session)
            lead = dict(adopted) if adopted is not None else lead
        self.lead_set = {}
        if lead is not None and lmatch.created:
            require_custom(self.matching, "lead", lead)
        if lead is not None and not lmatch.created:
            changes = flat_changes(leads.apply_fields({}, update))
            self.lead_set = {k: v for k, v in changes.items() if value_at(lead, k) != v}
        return lead, lmatch

    async def run(self) -> Outcome:
        """The whole capture in one transaction: the keys read and claimed, the records found
        or made, the interaction, the events and the idempotency record (all or nothing; a
        concurrent capture of the same person is a write conflict, retried whole)."""
        try:
            return await in_transaction(self.db, self.work)
        except DuplicateKeyError:
            done = await submissions.get(self.db, self.sid or "")
            if done is None:
                raise
            digest = None if self.pending else self.digest
            return await replay_or_refuse(self.db, done, digest, self.idempotency_key)

    async def work(self, session: Session) -> Outcome:
        self.deferred = Deferred()  # afresh on each try of the transaction
        self.writes = Writes(self.db)
        await self.read_keys(session)
        contact, cmatch = await self.contact(session)
        lead, lmatch = await self.lead(contact, session)
        if self.pending is not None and not self.idempotency_key:
            # Without a key, the client may have sent it again since: recorded once, not twice.
            since = self.pending["createdAt"]
            seen = await interactions.find_since(
                self.db, contact["_id"], self.form_id, self.interaction_type, since, session
            )
            if seen is not None:
                await pending_captures.finish(self.db, self.pending["_id"], session=session)
                return Outcome(contact, lead, dict(seen), cmatch, lmatch, replayed=True)
        interaction, current, recorded = await self.record(contact, lead, cmatch, lmatch, session)
        return Outcome(
            with_insight(current, interaction),
            lead,
            dict(interaction),
            cmatch,
            lmatch,
            events=recorded,
            first=self.first,
        )

    async def record(
        self,
        contact: dict[str, Any],
        lead: dict[str, Any] | None,
        cmatch: Match,
        lmatch: Match,
        session: Session,
    ) -> tuple[InteractionDoc, dict[str, Any], list[Event]]:
        """The interaction, insights, the submitted contact fields, consent, a lifted
        suppression, the events and the idempotency record, in the capture's transaction;
        the interaction, the contact as it is now (before the interaction's insights) and the
        events.

        The contact is written here (its insights): an erasure committing meanwhile deletes
        it and its keys, so the two transactions conflict and one is retried after the other;
        this capture then lands wholly before the erasure (and is erased with it) or finds
        the keys released and makes a new contact."""
        db, key, writes = self.db, self.idempotency_key, self.writes
        assert writes is not None
        ifields: dict[str, Any] = {
            "contactId": contact["_id"],
            "leadId": lead["_id"] if lead else None,
            "type": self.interaction_type,
            "formId": self.form_id,
            "eventId": self.event_id,
            "occurredAt": self.occurred_at,
            "details": self.parsed.details,
            "idempotencyKey": key,
            # how this capture found its records, traceable to the rule text that decided it
            "match": {"contact": cmatch.to_doc(), "lead": lmatch.to_doc()},
        }
        email = self.parsed.contact.get("email")
        made_here = self.deferred.records
        await match_keys.insert_claims(db, self.deferred.claims, session, writes)
        known = None if cmatch.created else contact  # as this transaction read it
        doc, before = await write(
            db, ifields, session, self.contact_set, made_here.get("contacts"), writes, known
        )
        if doc is None:  # resolved in this very transaction: it cannot be gone
            raise Conflict("the contact was removed while this submission was recorded")
        self.first = None
        if "leads" in made_here:
            await self.insert_lead(made_here["leads"], contact, cmatch, doc, session)
        after = applied(before, self.contact_set) if before else contact
        current = dict(after)
        if email:
            await lift_suppression(db, normalize.email(email), self.actor.source or "", session)
        if self.change:
            await writes.flush(session)  # the consent service reads and writes the contact
        consented = await self.consent.apply(
            contact["_id"], self.change, self.actor, session=session
        )
        if consented is not None:
            current.update(consented.state)
        made = (cmatch.created, lmatch.created)
        recorded: list[Event] = [
            *(updated_events("contact", before, after) if before else ()),
            *await self.update_lead(lead, session),
            *capture_events(after, lead, doc, made, self.form_id, consented),
            *(self.first.write.events if self.first is not None else ()),
        ]
        await dispatch.append(db, self.pm, recorded, session, writes)
        if self.pending is not None:
            await pending_captures.finish(db, self.pending["_id"], session=session)
        if key:
            await self.keep(doc, cmatch, lmatch, session)
        await writes.flush(session)
        return doc, current, recorded

    async def insert_lead(
        self,
        lead: dict[str, Any],
        contact: dict[str, Any],
        cmatch: Match,
        interaction: InteractionDoc,
        session: Session,
    ) -> None:
        """Insert the lead made here: scored already, with its history, when its contact was
        made here too (:mod:`leadgraph.services.first_score`; ``lead`` is updated in place)."""
        if self.funnel is not None and cmatch.created:
            person = with_insight(dict(contact), interaction)
            self.first = await score_first(self.funnel, lead, person, dict(interaction))
        if self.first is not None:
            lead.update(self.first.write.after)
            await history.append(self.db, self.first.entries, session, self.writes)
        await records.insert(self.db, "leads", lead, session, self.writes)

    async def update_lead(
        self, lead: dict[str, Any] | None, session: Session | None
    ) -> list[Event]:
        """Set the submitted values the lead found lacks (in the interaction's transaction):
        its ``lead.updated`` event (none: nothing to set, or the lead is gone)."""
        if lead is None or not self.lead_set:
            return []
        before = await records.set_before(
            self.db,
            "leads",
            lead["_id"],
            self.lead_set,
            inc=leads.REV,
            session=session,
            writes=self.writes,
            known=lead,  # as this transaction read it
        )
        if before is None:
            return []
        after = applied(before, self.lead_set)
        lead.update(after)
        return updated_events("lead", before, after)

    async def keep(
        self, interaction: Mapping[str, Any], cmatch: Match, lmatch: Match, session: Session | None
    ) -> None:
        """Keep the outcome under the caller's idempotency key (in the capture's transaction:
        a concurrent first request with the key fails there, and answers this outcome)."""
        assert self.idempotency_key
        outcome = {
            "formId": self.form_id,
            "contactId": interaction["contactId"],
            "leadId": interaction.get("leadId"),
            "interactionId": interaction["_id"],
            "contactMatch": cmatch.to_doc(),
            "leadMatch": lmatch.to_doc(),
        }
        record = submissions.new_document(
            self.operation, self.owner, self.idempotency_key, self.digest, outcome
        )
        await submissions.insert(self.db, record, session, self.writes)
