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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from .. import json_values, normalize
from ..contracts import CONSENT_LEVELS, CONTACT_ROLES, PluginFailure
from ..db import in_transaction
from ..errors import Conflict, InvalidInput
from ..events import CaptureSubmitted, ContactCreated, Event, InteractionRecorded, LeadCreated
from ..store import contacts, interactions, leads, pending_captures, privacy_audit, submissions
from ..store._base import now
from . import dispatch, history
from .consent import Actor, Consent, ConsentChange, require_lists
from .funnel import Funnel
from .matching import Match, Matching
from .privacy import erase_leftovers, lift_suppression

CONTACT_FIELDS = ("firstName", "lastName", "email", "phone", "jobTitle", "role", "marketingSource")
PREFERENCE_FIELDS = ("allowBulkEmail", "allowEmail", "allowPrefill", "trackEmail")
LEAD_FIELDS = ("topic", "companyName", "jobTitle", "firstName", "lastName", "email")
MAX_DETAILS = json_values.MAX_BYTES
CONSENT = ("level", "isChild", "guardian")  # the consent object's fields


@dataclass
class Parsed:
    """A submission's ``fields`` split by destination."""

    contact: dict[str, Any] = field(default_factory=dict)
    lead: dict[str, Any] = field(default_factory=dict)
    subscriptions: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


def parse_fields(raw: Any, prefix: str = "input.fields") -> Parsed:
    """Validate submitted form fields; raises InvalidInput naming each bad field."""
    if not isinstance(raw, dict):
        raise InvalidInput(prefix, "must be a JSON object of field name to value")
    errors: list[tuple[str, str]] = []
    out = Parsed()
    for name, value in raw.items():
        path = f"{prefix}.{name}"
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if name in PREFERENCE_FIELDS:
            if not isinstance(value, bool):
                errors.append((path, "must be true or false"))
                continue
            out.contact.setdefault("preferences", {})[name] = value
        elif name == "consent":
            consent = {"level": value} if isinstance(value, str) else value
            if not isinstance(consent, dict):
                errors.append((path, "must be a consent level or an object"))
                continue
            bad = [(f"{path}.{k}", "is not a consent field") for k in consent if k not in CONSENT]
            level, is_child, guardian = (consent.get(k) for k in CONSENT)
            if level is not None and (not isinstance(level, str) or level not in CONSENT_LEVELS):
                bad.append((f"{path}.level", f"must be one of {', '.join(CONSENT_LEVELS)}"))
            if is_child is not None and not isinstance(is_child, bool):
                bad.append((f"{path}.isChild", "must be true or false"))
            if guardian is not None and not isinstance(guardian, str):
                bad.append((f"{path}.guardian", "must be a string"))
            errors.extend(bad)
            if not bad:
                out.contact["consent"] = {k: consent[k] for k in CONSENT if k in consent}
        elif name == "subscriptions":
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                errors.append((path, "must be a list of subscription list names"))
                continue
            out.subscriptions = [i.strip() for i in items if i.strip()]
        elif name in CONTACT_FIELDS or name in LEAD_FIELDS:
            if not isinstance(value, str):
                errors.append((path, "must be a string"))
                continue
            value = value.strip()
            if name == "email":
                try:
                    normalize.email(value)
                except normalize.InvalidValue as exc:
                    errors.append((path, str(exc)))
                    continue
            if name == "role" and value not in CONTACT_ROLES:
                errors.append((path, f"must be one of {', '.join(CONTACT_ROLES)}"))
                continue
            if name in CONTACT_FIELDS:
                out.contact[name] = value
            if name in LEAD_FIELDS:
                out.lead[name] = value
        else:
            out.details[name] = value
    errors.extend(json_values.problems(out.details, prefix))
    if out.details and json_values.too_large(out.details, MAX_DETAILS):
        errors.append((prefix, "the fields kept as interaction details must be at most 16 KiB"))
    if errors:
        raise InvalidInput(errors)
    return out


@dataclass
class Outcome:
    contact: dict[str, Any]
    lead: dict[str, Any] | None
    interaction: dict[str, Any]
    contact_match: Match
    lead_match: Match
    replayed: bool = False
    #: what the capture recorded (stored in its transaction; delivered after it)
    events: list[Event] = field(default_factory=list)


def contact_changes(fields: dict[str, Any]) -> dict[str, Any]:
    """The ``$set`` map for submitted contact fields (derived fields recomputed)."""
    scratch: dict[str, Any] = {}
    changes = contacts.apply_fields(scratch, fields)
    if "sortName" in changes and not ("firstName" in fields and "lastName" in fields):
        changes.pop("sortName")  # needs the stored other half of the name: left as it was
    return changes


async def capture(
    db: AsyncDatabase,
    *,
    rules: Any,
    pm: Any,
    form_id: str,
    fields: Any,
    interaction_type: str = "form_submitted",
    event_id: str | None = None,
    marketing_context: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    occurred_at: datetime | None = None,
    source: str = "form",
    make_lead: Callable[[dict[str, Any]], dict[str, Any]],
    matching: Matching | None = None,
    pending: dict[str, Any] | None = None,
    consent: Consent | None = None,
    origin: dict[str, str | None] | None = None,
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
    with it) or after it (a new contact): see :meth:`_Attempt.record`.
    """
    if not form_id or not form_id.strip():
        raise InvalidInput("input.formId", "must not be blank")
    if idempotency_key is not None and not idempotency_key.strip():
        raise InvalidInput("input.idempotencyKey", "must not be blank")
    parsed = parse_fields(fields)
    await require_lists(db, parsed.subscriptions, "input.fields.subscriptions")
    change = ConsentChange(
        preferences=parsed.contact.pop("preferences", None) or {},
        consent=parsed.contact.pop("consent", None) or {},
        subscribe=parsed.subscriptions,
    )
    actor = Actor(
        via="event" if source == "event" else "form",
        by=form_id,
        source=f"{source}:{form_id}",
        ip=(origin or {}).get("ip"),
        user_agent=(origin or {}).get("userAgent"),
        form_id=form_id,
    )
    matching = matching or Matching(db, rules, pm)
    cstrat = matching.strategy("contact", form_id)
    crecord = {**parsed.details, **parsed.contact, "formId": form_id}
    if not matching.finds(cstrat) and matching.values(cstrat, crecord) is None:
        # Without its fields the contact could never be matched again: a duplicate per submit.
        missing = [f for f in cstrat.fields if f != "formId" and not crecord.get(f)]
        raise InvalidInput(
            [
                (f"input.fields.{f}", f"is required by the contact matching strategy {cstrat.name}")
                for f in missing or cstrat.fields
            ]
        )
    if occurred_at is not None and occurred_at.tzinfo is None:
        occurred_at = occurred_at.replace(tzinfo=UTC)  # a time without zone is taken as UTC
    if idempotency_key and (done := await submissions.get(db, idempotency_key)):
        return await replay(db, done)
    attempt = _Attempt(
        db=db,
        pm=pm,
        matching=matching,
        consent=consent or Consent(db),
        make_lead=make_lead,
        form_id=form_id,
        parsed=parsed,
        change=change,
        actor=actor,
        interaction_type=interaction_type,
        event_id=event_id,
        marketing_context=marketing_context,
        idempotency_key=idempotency_key,
        occurred_at=occurred_at or now(),
        source=source,
        pending=pending,
    )
    if pending is None:  # deleted with the interaction's transaction: see store.pending_captures
        await attempt.note(fields)
    for _ in range(ERASED_RETRIES):
        try:
            return await attempt.run()
        except Erased as gone:
            await attempt.undo(gone)
            if attempt.pending is not None:
                break  # the erasure dropped the interrupted capture: not run again
            await attempt.note(fields)  # the erasure removed the note with the person
    raise Conflict("the person was erased while this submission was recorded: send it again")


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
    pm: Any
    matching: Matching
    consent: Consent
    make_lead: Callable[[dict[str, Any]], dict[str, Any]]
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
    pid: Any = None

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
            },
        )

    async def contact(self) -> tuple[dict[str, Any], Match]:
        source, form_id = self.source, self.form_id
        cstrat = self.matching.strategy("contact", form_id)
        cfields = dict(self.parsed.contact)
        crecord = {**self.parsed.details, **cfields, "formId": form_id}
        # an event's default form id already names the road ("event:<id>"): not twice
        origin = form_id if form_id.startswith(f"{source}:") else f"{source}:{form_id}"
        new_contact = contacts.new_document({"marketingSource": origin, **cfields})
        new_contact["createdVia"] = {"source": source, "formId": form_id}
        contact, cmatch = await self.matching.resolve(
            "contacts",
            cstrat,
            crecord,
            new_contact,
            contact_changes({k: v for k, v in cfields.items() if k != "marketingSource"}),
        )
        assert contact is not None  # contact strategies always create
        sort_name = normalize.sort_name(contact.get("firstName"), contact.get("lastName"))
        if contact.get("sortName") != sort_name:  # one half of the name changed
            await contacts.set_sort_name(self.db, contact["_id"], sort_name)
        return contact, cmatch

    async def lead(self, contact: dict[str, Any]) -> tuple[dict[str, Any] | None, Match]:
        lstrat = self.matching.strategy("lead", self.form_id)
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
        new_lead = self.make_lead({**lfields, "parentContactId": contact["_id"]})
        new_lead["createdVia"] = {"source": self.source, "formId": self.form_id}
        update = {k: v for k, v in lfields.items() if k not in ("topic", "marketingContext")}
        lead, lmatch = await self.matching.resolve(
            "leads",
            lstrat,
            {
                **self.parsed.details,
                **lfields,
                "email": lfields.get("email") or contact.get("email"),
            },
            new_lead,
            leads.apply_fields({}, update),
        )
        if lead is not None and lead.get("parentContactId") is None:
            lead = await leads.adopt(self.db, lead["_id"], contact["_id"]) or lead
        return lead, lmatch

    async def run(self) -> Outcome:
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
                return Outcome(contact, lead, seen, cmatch, lmatch, replayed=True)
        try:
            interaction, consented, recorded = await self.record(contact, lead, cmatch, lmatch)
        except DuplicateKeyError:
            await pending_captures.finish(self.db, self.pid)
            done = await submissions.get(self.db, self.idempotency_key or "")
            if done is None:
                raise Conflict(
                    f"idempotency key {self.idempotency_key!r} was already used for another "
                    "interaction"
                ) from None
            return await replay(self.db, done)
        return Outcome(
            with_insight({**contact, **consented}, interaction),
            lead,
            interaction,
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
    ) -> tuple[dict[str, Any], dict[str, Any], list[Event]]:
        """The interaction, insights, consent, a lifted suppression, the events and the
        idempotency record: all or nothing; the interaction, the consented state and the
        events.

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
        consented: dict[str, Any] = {}
        recorded: list[Event] = []

        async def work(session: Any) -> dict[str, Any]:
            doc = await interactions.record(db, ifields, session=session)
            if doc is None or await privacy_audit.erased(db, contact["_id"], session=session):
                raise Erased(contact, lead)
            if email:
                await lift_suppression(db, normalize.email(email), self.actor.source or "", session)
            applied = await self.consent.apply(
                contact["_id"], self.change, self.actor, session=session
            )
            if applied is not None:
                consented.update(applied.state)
            made = (cmatch.created, lmatch.created)
            recorded[:] = capture_events(contact, lead, doc, made, self.form_id, applied)
            await dispatch.append(db, self.pm, recorded, session)
            await pending_captures.finish(db, self.pid, session=session)
            if key:
                await submissions.insert(
                    db,
                    {
                        "_id": key,
                        "formId": self.form_id,
                        "contactId": contact["_id"],
                        "leadId": lead["_id"] if lead else None,
                        "interactionId": doc["_id"],
                        "contactMatch": cmatch.to_doc(),
                        "leadMatch": lmatch.to_doc(),
                        "createdAt": now(),
                    },
                    session=session,
                )
            return doc

        return await in_transaction(db, work), consented, recorded

    async def undo(self, gone: Erased) -> None:
        """What this capture wrote outside its transaction for an erased contact goes too:
        the contact if its upsert brought it back, and the person's copies on its lead (a
        lead it created or updated after the erasure read the person's leads)."""
        await erase_leftovers(self.db, gone.contact["_id"], gone.lead["_id"] if gone.lead else None)


def interaction_event(doc: dict[str, Any]) -> InteractionRecorded:
    """The ``interaction.recorded`` event of a stored interaction."""
    return InteractionRecorded(
        interaction_id=doc["_id"],
        contact_id=doc["contactId"],
        interaction_type=doc["type"],
        occurred_at=doc["occurredAt"],
        custom_type=doc.get("customType"),
    )


def capture_events(
    contact: dict[str, Any],
    lead: dict[str, Any] | None,
    interaction: dict[str, Any],
    created: tuple[bool, bool],
    form_id: str,
    applied: Any,
) -> list[Event]:
    """What one capture records: the contact and lead it created, the interaction, the
    consent change, and the submission itself."""
    out: list[Event] = []
    if created[0]:
        out.append(
            ContactCreated(
                contact_id=contact["_id"],
                source="capture",
                email=contact.get("email"),
                account_id=contact.get("accountId"),
            )
        )
    if lead is not None and created[1]:
        out.append(
            LeadCreated(
                lead_id=lead["_id"],
                contact_id=contact["_id"],
                source="capture",
                stage=lead.get("stage"),
                account_id=lead.get("parentAccountId"),
                topic=lead.get("topic"),
            )
        )
    out.append(interaction_event(interaction))
    if applied is not None and applied.event is not None:
        out.append(applied.event)
    out.append(
        CaptureSubmitted(
            contact_id=contact["_id"],
            form_id=form_id,
            interaction_id=interaction["_id"],
            lead_id=lead["_id"] if lead else None,
            contact_created=created[0],
            lead_created=created[1],
        )
    )
    return out


def with_insight(contact: dict[str, Any], interaction: dict[str, Any]) -> dict[str, Any]:
    """``contact`` with ``interaction`` folded into its insights (as the transaction did)."""
    insights = dict(contact.get("insights") or {})
    counts = dict(insights.get("counts") or {})
    counts[interaction["type"]] = counts.get(interaction["type"], 0) + 1
    last = insights.get("lastActivityAt")
    when = interaction["occurredAt"]
    return {
        **contact,
        "insights": {
            "total": int(insights.get("total") or 0) + 1,
            "counts": counts,
            "lastActivityAt": when if last is None or when > last else last,
        },
    }


async def replay(db: AsyncDatabase, done: dict[str, Any]) -> Outcome:
    """The outcome of an already recorded submission (a retry)."""
    contact = await contacts.get(db, done["contactId"])
    lead = await leads.get(db, done["leadId"]) if done.get("leadId") else None
    interaction = await interactions.get(db, done["interactionId"])
    if contact is None or interaction is None:
        raise Conflict("the records of this submission were deleted or merged away")
    return Outcome(
        contact,
        lead,
        interaction,
        Match(**done["contactMatch"]),
        Match(**done["leadMatch"]),
        replayed=True,
    )


@dataclass
class Captured:
    """A stored submission and the plugins that failed after it was stored."""

    outcome: Outcome
    plugin_failures: list[PluginFailure] = field(default_factory=list)


class Capture:
    def __init__(
        self, funnel: Funnel, rules: Any, pm: Any, matching: Matching, consent: Consent
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
        failures = await dispatch.deliver(self.funnel.db, self.pm, out.events)
        created = [out.lead["_id"]] if out.lead is not None and out.lead_match.created else []
        report = await self.funnel.after_engagement(
            out.contact, created=created, cause=history.interaction(out.interaction)
        )
        if out.lead is not None:
            out.lead = report.lead(out.lead["_id"]) or out.lead
        return Captured(out, [*failures, *report.failures])
