"""Capture: a form submission or event registration becomes a contact, a lead and an
interaction, without duplicates.

The form's strategies and the records' keys come from the matching service
(:mod:`leadgraph.services.matching`): a key is claimed in ``match_keys`` (an insert on
``_id``), which the database serialises, so all concurrent submissions with the same email, in
any process, get the same record id.  The record itself is then upserted by that id
(``$setOnInsert`` for a new one, ``$set`` for the submitted values), so a claim left behind by a
crash is completed by the next submission.  The interaction, the contact's insights and the
idempotency record are written in one transaction: a retried submission (same idempotency
key) records nothing twice.  A capture notes its request in ``pending_captures`` first and that
transaction deletes the note: a process killed half way leaves the note, and the next start-up
runs the capture again (:func:`leadgraph.web.runtime.repair`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from .. import normalize
from ..contracts import PluginFailure
from ..db import in_transaction
from ..errors import Conflict
from ..events import Event
from ..rules.fields import flat_changes, value_at
from ..store import (
    contacts,
    interactions,
    leads,
    pending_captures,
    privacy_audit,
    records,
    submissions,
)
from ..store._base import applied
from ..store.clock import now
from ..types import InteractionDoc, PluginManager, Session
from . import dispatch
from .capture_input import (
    actor_of,
    custom_of,
    parsed_input,
    request_digest,
    require_match_fields,
    rule_defaults,
    submitted_changes,
)
from .capture_outcome import Outcome, capture_events, replay_or_refuse, with_insight
from .consent import Actor, Consent, ConsentChange, require_lists
from .form_fields import Parsed
from .funnel import Funnel
from .interactions import announce_and_score, write
from .matching import Match, Matching, updated_events
from .privacy import erase_leftovers, lift_suppression


async def capture(
    db: AsyncDatabase,
    *,
    rules: Any,
    pm: PluginManager | None,
    form_id: str,
    fields: Any,
    interaction_type: str = "form_submitted",
    event_id: str | None = None,
    marketing_context: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    occurred_at: datetime | None = None,
    source: str = "form",
    make_lead: Callable[[dict[str, Any]], Mapping[str, Any]],
    matching: Matching | None = None,
    pending: dict[str, Any] | None = None,
    consent: Consent | None = None,
    origin: dict[str, str | None] | None = None,
    owner: str | None = None,
) -> Outcome:
    """Run one submission through matching; see the module docstring.

    ``rules`` is the live :class:`~leadgraph.rules.ruleset.RuleSet` (None: the default
    strategies) and ``pm`` the plugin manager, unless ``matching`` (the service) is given;
    ``make_lead`` builds a new lead document (at the lifecycle's initial stage).  The fields a
    form sends beyond the contact and lead fields are seen by the matching strategies too.
    ``pending`` is the ``pending_captures`` record of an interrupted capture that start-up runs
    again.  Preferences, consent and ``subscriptions`` (which must name active lists) change
    through the ``consent`` service in the interaction's transaction, recorded as the
    person's own act through this form, from ``origin`` (``ip``, ``userAgent`` of the
    request).  A submission with an email that was erased lifts its suppression (in the
    interaction's transaction): the person came back of their own accord and becomes a new
    contact.  A submission racing the erasure of its contact lands before it (and is erased
    with it) or after it (a new contact): see :meth:`_Attempt.record`.  An idempotency key
    is ``owner``'s (the API key's id) for this operation (:mod:`leadgraph.store.submissions`).
    """
    parsed = parsed_input(form_id, fields, idempotency_key, custom_of(matching, rules))
    await require_lists(db, parsed.subscriptions, "input.fields.subscriptions")
    change = ConsentChange(
        preferences=parsed.contact.pop("preferences", None) or {},
        consent=parsed.contact.pop("consent", None) or {},
        subscribe=parsed.subscriptions,
    )
    matching = matching or Matching(db, rules, pm)
    require_match_fields(matching, form_id, parsed)
    if occurred_at is not None and occurred_at.tzinfo is None:
        occurred_at = occurred_at.replace(tzinfo=UTC)  # a time without zone is taken as UTC
    request = (pending or {}).get("request") or {}
    owner = request.get("owner", owner)
    digest = request.get("payloadHash") or request_digest(
        form_id, fields, interaction_type, event_id, marketing_context, occurred_at
    )
    operation = "registerForEvent" if source == "event" else "submitForm"
    sid = submissions.scoped_id(operation, owner, idempotency_key) if idempotency_key else None
    if sid and (done := await submissions.get(db, sid)):
        # an interrupted capture whose key has an outcome (the client retried): done with
        return await replay_or_refuse(db, done, None if pending else digest, idempotency_key)
    attempt = _Attempt(
        db=db,
        pm=pm,
        matching=matching,
        consent=consent or Consent(db),
        make_lead=make_lead,
        form_id=form_id,
        parsed=parsed,
        change=change,
        actor=actor_of(source, form_id, origin),
        interaction_type=interaction_type,
        event_id=event_id,
        marketing_context=marketing_context,
        idempotency_key=idempotency_key,
        occurred_at=occurred_at or now(),
        source=source,
        pending=pending,
        sid=sid,
        digest=digest,
        owner=owner,
        operation=operation,
    )
    return await attempt.start(fields)


#: How many times a capture whose contact was erased under it starts again (each start after
#: the first finds the keys released and makes a new contact, so one more is almost always
#: enough; concurrent submitters of the same person may need a second).
ERASED_RETRIES = 5


class Erased(Exception):
    """The contact a capture resolved was erased (or deleted) before its interaction's
    transaction: nothing was recorded; the capture starts again."""

    def __init__(self, contact: dict[str, Any], lead: dict[str, Any] | None) -> None:
        super().__init__("erased")
        self.contact, self.lead = contact, lead


@dataclass
class _Attempt:
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
    pid: Any = None
    #: the submitted values to set on the contact found (none when it was made here)
    contact_set: dict[str, Any] = field(default_factory=dict)
    #: the submitted values the lead found lacks (none when it was made here)
    lead_set: dict[str, Any] = field(default_factory=dict)
    #: the holders of the keys read at once (:meth:`read_keys`)
    held: dict[str, ObjectId | None] = field(default_factory=dict)

    async def start(self, fields: Any) -> Outcome:
        """Note the request, then :meth:`run` it, again while its contact is erased under it."""
        if self.pending is None:  # deleted with the interaction's transaction
            await self.note(fields)
        for _ in range(ERASED_RETRIES):
            try:
                return await self.run()
            except Erased as gone:
                await self.undo(gone)
                if self.pending is not None:
                    break  # the erasure dropped the interrupted capture: not run again
                await self.note(fields)  # the erasure removed the note with the person
        raise Conflict("the person was erased while this submission was recorded: send it again")

    async def note(self, fields: Any) -> None:
        """Note the request in ``pending_captures`` (see the module docstring)."""
        if self.pid is not None:
            await pending_captures.finish(self.db, self.pid)
        self.pid = await pending_captures.start(
            self.db,
            {
                "formId": self.form_id,
                "fields": json.dumps(fields, default=str),  # text: the names are the client's
                "interactionType": self.interaction_type,
                "eventId": self.event_id,
                "marketingContext": self.marketing_context,
                "idempotencyKey": self.idempotency_key,
                "occurredAt": self.occurred_at,
                "source": self.source,
                "owner": self.owner,
                "payloadHash": self.digest,
            },
        )

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

    async def read_keys(self) -> None:
        """Read the holders of the contact's key and, when it does not depend on the contact
        found (the email was sent), the lead's, in one command (:attr:`held`)."""
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
        self.held = await self.matching.holders_of(kids) if kids else {}

    async def contact(self) -> tuple[dict[str, Any], Match]:
        source, form_id = self.source, self.form_id
        cstrat = self.matching.strategy("contact", form_id)
        cfields = dict(self.parsed.contact)
        crecord = self.contact_record()
        # an event's default form id already names the road ("event:<id>"): not twice
        origin = form_id if form_id.startswith(f"{source}:") else f"{source}:{form_id}"
        made = contacts.new_document({"marketingSource": origin, **cfields})
        new_contact = rule_defaults(self.matching, "contact", made)
        new_contact["createdVia"] = {"source": source, "formId": form_id}
        # found or made here; the submitted values are set in the interaction's transaction,
        # with the contact.updated event of what they changed (:meth:`record`)
        contact, cmatch = await self.matching.resolve(
            "contacts", cstrat, crecord, new_contact, {}, held=self.held
        )
        assert contact is not None  # contact strategies always create
        self.contact_set = {} if cmatch.created else submitted_changes(contact, cfields)
        return contact, cmatch

    async def lead(self, contact: dict[str, Any]) -> tuple[dict[str, Any] | None, Match]:
        lstrat = self.matching.strategy("lead", self.form_id)
        lfields = self.lead_fields()
        made = self.make_lead({**lfields, "parentContactId": contact["_id"]})
        new_lead = rule_defaults(self.matching, "lead", made)
        new_lead["createdVia"] = {"source": self.source, "formId": self.form_id}
        update = {k: v for k, v in lfields.items() if k not in ("topic", "marketingContext")}
        # found or made here; the submitted values a found lead lacks are set in the
        # interaction's transaction, with the lead.updated event of what they changed
        lead, lmatch = await self.matching.resolve(
            "leads",
            lstrat,
            self.lead_record(lfields, contact.get("email")),
            new_lead,
            {},
            held=self.held,
        )
        if lead is not None and lead.get("parentContactId") is None:
            adopted = await leads.adopt(self.db, lead["_id"], contact["_id"])
            lead = dict(adopted) if adopted is not None else lead
        self.lead_set = {}
        if lead is not None and not lmatch.created:
            changes = flat_changes(leads.apply_fields({}, update))
            self.lead_set = {k: v for k, v in changes.items() if value_at(lead, k) != v}
        return lead, lmatch

    async def run(self) -> Outcome:
        await self.read_keys()
        contact, cmatch = await self.contact()
        lead, lmatch = await self.lead(contact)
        if self.pending is not None and not self.idempotency_key:
            # Without a key, the client may have sent it again since: recorded once, not twice.
            since = self.pending["createdAt"]
            seen = await interactions.find_since(
                self.db, contact["_id"], self.form_id, self.interaction_type, since
            )
            if seen is not None:
                await pending_captures.finish(self.db, self.pid)
                return Outcome(contact, lead, dict(seen), cmatch, lmatch, replayed=True)
        try:
            interaction, current, recorded = await self.record(contact, lead, cmatch, lmatch)
        except DuplicateKeyError:
            await pending_captures.finish(self.db, self.pid)
            done = await submissions.get(self.db, self.sid or "")
            if done is None:
                raise
            digest = None if self.pending else self.digest
            return await replay_or_refuse(self.db, done, digest, self.idempotency_key)
        return Outcome(
            with_insight(current, interaction),
            lead,
            dict(interaction),
            cmatch,
            lmatch,
            events=recorded,
        )

    async def record(
        self,
        contact: dict[str, Any],
        lead: dict[str, Any] | None,
        cmatch: Match,
        lmatch: Match,
    ) -> tuple[InteractionDoc, dict[str, Any], list[Event]]:
        """The interaction, insights, the submitted contact fields, consent, a lifted
        suppression, the events and the idempotency record: all or nothing; the interaction,
        the contact as it is now (before the interaction's insights) and the events.

        The transaction writes the contact first (:func:`interactions.record`): an erasure
        committing meanwhile deletes it, so the two transactions conflict and one is retried
        after the other.  Then it sees the erasure: the contact is gone, or was brought back
        by this capture's upsert (matched before the erasure, written after it) and is in the
        audit log as erased.  :raises Erased: then, with nothing written."""
        db, key = self.db, self.idempotency_key
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
        current: dict[str, Any] = {}
        recorded: list[Event] = []

        async def work(session: Session | None) -> InteractionDoc:
            doc, before = await write(db, ifields, session, self.contact_set)
            # a contact this capture inserted under its own new key was never erased; one it
            # matched (or upserted by a key's id) may have been, under it
            if doc is None or (
                not cmatch.inserted
                and await privacy_audit.erased(db, contact["_id"], session=session)
            ):
                raise Erased(contact, lead)
            after = applied(before, self.contact_set) if before else contact
            current.clear()
            current.update(after)
            if email:
                await lift_suppression(db, normalize.email(email), self.actor.source or "", session)
            consented = await self.consent.apply(
                contact["_id"], self.change, self.actor, session=session
            )
            if consented is not None:
                current.update(consented.state)
            made = (cmatch.created, lmatch.created)
            recorded[:] = [
                *(updated_events("contact", before, after) if before else ()),
                *await self.update_lead(lead, session),
                *capture_events(after, lead, doc, made, self.form_id, consented),
            ]
            await dispatch.append(db, self.pm, recorded, session)
            await pending_captures.finish(db, self.pid, session=session)
            if key:
                await self.keep(doc, cmatch, lmatch, session)
            return doc

        return await in_transaction(db, work), current, recorded

    async def update_lead(
        self, lead: dict[str, Any] | None, session: Session | None
    ) -> list[Event]:
        """Set the submitted values the lead found lacks (in the interaction's transaction):
        its ``lead.updated`` event (none: nothing to set, or the lead is gone)."""
        if lead is None or not self.lead_set:
            return []
        before = await records.set_before(
            self.db, "leads", lead["_id"], self.lead_set, inc=leads.REV, session=session
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
        await submissions.insert(self.db, record, session=session)

    async def undo(self, gone: Erased) -> None:
        """What this capture wrote outside its transaction for an erased contact goes too:
        the contact if its upsert brought it back, and the person's copies on its lead (a
        lead it created or updated after the erasure read the person's leads)."""
        await erase_leftovers(self.db, gone.contact["_id"], gone.lead["_id"] if gone.lead else None)


@dataclass
class Captured:
    """A stored submission and the plugins that failed after it was stored."""

    outcome: Outcome
    plugin_failures: list[PluginFailure] = field(default_factory=list)


class Capture:
    def __init__(
        self,
        funnel: Funnel,
        rules: Any,
        pm: PluginManager | None,
        matching: Matching,
        consent: Consent,
    ) -> None:
        self.funnel = funnel
        self.rules = rules
        self.pm = pm
        self.matching = matching
        self.consent = consent

    async def submit(self, **kwargs: Any) -> Captured:
        """Run one submission (see :func:`capture` for the
        arguments).

        The submission is stored exactly once whatever a plugin does afterwards; a scoring
        plugin that fails leaves the lead marked stale and is reported in the result.
        """
        out = await capture(
            self.funnel.db,
            rules=self.rules,
            pm=self.pm,
            make_lead=self.funnel.new_lead,
            matching=self.matching,
            consent=self.consent,
            **kwargs,
        )
        if out.replayed:
            return Captured(out)
        created = [out.lead["_id"]] if out.lead is not None and out.lead_match.created else []
        # a contact made here has this lead and this interaction alone: scored from them
        first = out.lead if created and out.contact_match.created else None
        report, failures = await announce_and_score(
            self.funnel, self.pm, out.contact, out.interaction, out.events, created, first
        )
        if out.lead is not None and report is not None:
            out.lead = report.lead(out.lead["_id"]) or out.lead
        return Captured(out, failures)
