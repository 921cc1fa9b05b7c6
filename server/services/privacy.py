"""Data protection: export everything about a person, erase them, keep them erased; and the
subscription centre the person reaches through a signed link.

- :meth:`Privacy.export` gathers every stored trace of a contact into one JSON-ready
  document: the contact, its leads (and any lead holding its email: their copies of name and
  email, scores, stage history), interactions, subscriptions and consent history, merge
  records, opportunities, match keys, recorded submissions and unfinished captures.
- :meth:`Privacy.erase` removes or anonymises all of it in one transaction: the contact, its
  interactions, merge records and submission records are deleted; its leads lose every copy
  of the person (they keep topic, stage and scores for the statistics, marked
  ``anonymizedAt``); the match keys of the contact and those leads are released; and every
  email the person held (their own, their merged duplicates', their leads') is kept as a
  keyed hash in ``suppressions``, so imports and orphan linking leave them out.  A new,
  explicit submission by the person (``submitForm`` / ``registerForEvent``) lifts the
  suppression and makes a new contact (:func:`lift_suppression`).
- Both are recorded in ``privacy_audit`` with who asked and counts, never personal data.
- The subscription centre (:meth:`Privacy.centre`, :meth:`Privacy.update_centre`) reads and
  changes one contact's subscriptions by a token (:mod:`leadgraph.signing`); it never creates
  anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from .. import signing
from ..db import in_transaction
from ..events import ContactErased, Event
from ..rules.fields import CustomFields
from ..store import (
    contacts,
    events,
    history,
    interactions,
    leads,
    match_keys,
    merges,
    opportunities,
    pending_captures,
    privacy_audit,
    submissions,
    subscription_lists,
    suppressions,
)
from ..store.clock import now
from ..types import ContactDoc, Session
from . import dispatch
from .centre_fields import centre_changes, centre_values
from .consent import TYPE as CONSENT_TYPE
from .consent import Actor, Consent, ConsentChange, require_lists
from .matching import Matching

#: How long a subscription-centre link works unless the issuer says otherwise.
DEFAULT_TOKEN_TTL = timedelta(days=30)
MAX_TOKEN_TTL = timedelta(days=365)


def to_json(value: Any) -> Any:
    """A stored value as JSON: ids as strings, times as ISO 8601."""
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


async def suppressed(db: AsyncDatabase, emails: list[str]) -> set[str]:
    """Which of the normalised ``emails`` belong to erased people (import, orphan linking)."""
    if not emails:
        return set()
    by_hash = {signing.email_hash(e): e for e in emails}
    return {by_hash[h] for h in await suppressions.held(db, list(by_hash))}


async def lift_suppression(
    db: AsyncDatabase, email_normalized: str, source: str, session: Session | None = None
) -> bool:
    """The person came back of their own accord (an explicit submission): their email is no
    longer suppressed; recorded in the audit log (without the address).  Capture calls it in
    the transaction that records the submission, so a submission lands wholly before an
    erasure of the person (and is erased with it) or wholly after it (and lifts it)."""
    digest = signing.email_hash(email_normalized)
    if not await suppressions.is_held(db, digest, session=session):  # the common case: a read
        return False
    if not await suppressions.remove(db, digest, session=session):
        return False
    await privacy_audit.record(
        db,
        {"action": "suppression_cleared", "contactId": None, "by": {"source": source}},
        session=session,
    )
    return True


@dataclass
class CentreView:
    """What the subscription centre shows the person."""

    contact: ContactDoc
    lists: list[dict[str, Any]]
    expires_at: datetime
    #: the values of the custom fields the person changes here, by name
    custom: dict[str, Any] = field(default_factory=dict)


class Privacy:
    def __init__(
        self, db: AsyncDatabase, consent: Consent, matching: Matching | None = None
    ) -> None:
        self.db = db
        self.consent = consent
        self.matching = matching  # a centre update of custom fields edits through it

    @property
    def custom_fields(self) -> CustomFields | None:
        ruleset = self.matching.ruleset if self.matching is not None else None
        return ruleset.custom_fields if ruleset is not None else None

    # ------------------------------------------------------------ subscription centre

    async def issue_token(
        self, contact_id: ObjectId, ttl: timedelta = DEFAULT_TOKEN_TTL
    ) -> tuple[str, datetime] | None:
        """A subscription-centre token for an existing contact; None when there is none."""
        if await contacts.get(self.db, contact_id) is None:
            return None
        return signing.issue_token(contact_id, ttl)

    async def _token_contact(self, token: str) -> tuple[ContactDoc, signing.Token]:
        """The contact a valid token names.  :raises signing.TokenRefused: otherwise (a
        contact erased since counts as an invalid link)."""
        read = signing.read_token(token)
        contact = await contacts.get(self.db, read.contact_id)
        if contact is None:
            raise signing.TokenRefused("INVALID", "this link is not valid")
        return contact, read

    async def centre(self, token: str) -> CentreView:
        contact, read = await self._token_contact(token)
        return await self._view(contact, read)

    async def _view(self, contact: ContactDoc, read: signing.Token) -> CentreView:
        active = await subscription_lists.all_lists(self.db, "active")
        custom = centre_values(self.custom_fields, contact)
        return CentreView(contact, active, read.expires_at, custom)

    async def update_centre(
        self,
        token: str,
        *,
        subscribe: list[str],
        unsubscribe: list[str],
        unsubscribe_all: bool,
        allow_bulk_email: bool | None,
        actor: Actor,
        custom: Any = None,
    ) -> CentreView:
        """The person changes their subscriptions (``unsubscribe_all``: every list and
        ``allowBulkEmail`` false, in one call) and the ``custom`` fields the rules let them
        change here, in one transaction.  Only the token's contact is touched."""
        contact, read = await self._token_contact(token)
        await require_lists(self.db, subscribe, "subscribe")
        await require_lists(self.db, unsubscribe, "unsubscribe", active=False)
        change = ConsentChange(
            preferences={} if allow_bulk_email is None else {"allowBulkEmail": allow_bulk_email},
            subscribe=subscribe,
            unsubscribe=unsubscribe,
            unsubscribe_all=unsubscribe_all,
        )
        changes = centre_changes(self.custom_fields, custom)
        if changes and self.matching is not None:
            await self._edit(contact["_id"], changes, change, actor)
        else:
            await self.consent.apply(contact["_id"], change, actor)
        contact = await contacts.get(self.db, contact["_id"]) or contact
        return await self._view(contact, read)

    async def _edit(
        self, oid: ObjectId, changes: dict[str, Any], change: ConsentChange, actor: Actor
    ) -> None:
        """The centre's custom field ``changes`` (a ``contact.updated`` event) and its consent
        ``change``, in one transaction."""
        assert self.matching is not None

        async def then(
            session: Session | None, after: dict[str, Any]
        ) -> tuple[dict[str, Any], list[Event]]:
            applied = await self.consent.apply(oid, change, actor, session=session)
            return after, [applied.event] if applied is not None and applied.event else []

        await self.matching.edit("contact", oid, changes, then=then if change else None)

    # ------------------------------------------------------------ export

    async def export(self, contact_id: ObjectId, by: dict[str, Any]) -> dict[str, Any] | None:
        """Everything stored about a contact as one JSON document; None: no such contact.
        The export is recorded in the audit log."""
        contact = await contacts.get(self.db, contact_id)
        if contact is None:
            return None
        emails = await self._emails(contact)
        held = await self._leads(contact_id, emails)
        lead_ids = [d["_id"] for d in held]
        engagements = (await interactions.of_contacts(self.db, [contact_id])).get(contact_id, [])
        merged = await merges.involving(self.db, contact_id)
        pending: list[dict[str, Any]] = []
        for email in emails:
            pending += await pending_captures.mentioning(self.db, email)
        document = {
            "exportedAt": now(),
            "contact": contact,
            "subscriptions": {
                "subscribed": contact.get("subscriptions") or [],
                "unsubscribed": contact.get("unsubscribed") or [],
            },
            "preferences": contact.get("preferences") or {},
            "consent": contact.get("consent") or {},
            "consentHistory": [i for i in engagements if i.get("type") == CONSENT_TYPE],
            "leads": held,
            "scores": [{"leadId": d["_id"], "scores": d.get("scores") or []} for d in held],
            "stageHistory": [
                {"leadId": d["_id"], "stageHistory": d.get("stageHistory") or []} for d in held
            ],
            "scoreHistory": await history.of_leads(self.db, lead_ids),
            "interactions": engagements,
            "merges": merged,
            "opportunities": await opportunities.of_contact(self.db, contact_id),
            "matchKeys": await match_keys.of_records(self.db, [contact_id, *lead_ids]),
            "submissions": await submissions.of_contacts(
                self.db, [contact_id, *await self._duplicates(contact_id)]
            ),
            "pendingCaptures": pending,
            "privacyAudit": await privacy_audit.of_contact(self.db, contact_id),
        }
        await privacy_audit.record(
            self.db,
            {
                "action": "export",
                "contactId": contact_id,
                "by": by,
                "counts": {
                    "leads": len(held),
                    "interactions": len(engagements),
                    "merges": len(merged),
                },
            },
        )
        return dict(to_json(document))

    async def _emails(self, contact: Mapping[str, Any]) -> list[str]:
        """Every normalised email the person held: their own and their merged duplicates'."""
        found = [contact.get("emailNormalized")]
        for merge in await merges.involving(self.db, contact["_id"]):
            found += [d.get("emailNormalized") for d in merge.get("duplicates") or []]
        return [e for e in dict.fromkeys(found) if e]

    async def _duplicates(self, contact_id: ObjectId) -> list[ObjectId]:
        """The contacts merged into this one (their submission records are the person's)."""
        found = await merges.involving(self.db, contact_id)
        return [d for m in found if m["survivorId"] == contact_id for d in m["duplicateIds"]]

    async def _leads(
        self, contact_id: ObjectId, emails: list[str], session: Session | None = None
    ) -> list[dict[str, Any]]:
        """The person's leads: those of the contact and any other holding their email."""
        mine = await leads.of_contact(self.db, contact_id, session=session)
        ids = {d["_id"] for d in mine}
        others = await leads.with_emails(self.db, emails, session=session)
        return mine + [d for d in others if d["_id"] not in ids]

    # ------------------------------------------------------------ erase

    async def erase(self, contact_id: ObjectId, by: dict[str, Any]) -> dict[str, int] | None:
        """Erase a person (see the module docstring), in one transaction; the counts of what
        was removed, or None when there is no such contact."""
        first = await contacts.get(self.db, contact_id)
        if first is None:
            return None
        emails, duplicates = await self._emails(first), await self._duplicates(contact_id)

        async def work(session: Session | None) -> dict[str, int] | None:
            contact = await contacts.get(self.db, contact_id, session=session)
            if contact is None:
                return None
            held = await self._leads(contact_id, emails, session=session)
            people = [contact_id, *duplicates]
            lead_ids = [d["_id"] for d in held]
            everyone = [*emails, *(d.get("emailNormalized") for d in held)]
            addresses = [e for e in dict.fromkeys(everyone) if e]
            counts = {
                "interactions": await interactions.delete_of_contact(
                    self.db, contact_id, session=session
                ),
                "leadsAnonymized": await leads.anonymise(self.db, lead_ids, session=session),
                "matchKeys": await match_keys.release_all(
                    self.db, [contact_id, *lead_ids], session=session
                ),
                "merges": await merges.delete_involving(self.db, contact_id, session=session),
                "submissions": await submissions.delete_of_contacts(
                    self.db, people, session=session
                ),
                "pendingCaptures": 0,
                "suppressed": len(addresses),
            }
            await leads.unlink_parent(self.db, "parentContactId", contact_id, session=session)
            await opportunities.unlink_parent(self.db, "contactId", contact_id, session=session)
            for email in addresses:
                counts["pendingCaptures"] += await pending_captures.delete_mentioning(
                    self.db, email, session=session
                )
                await suppressions.add(
                    self.db, signing.email_hash(email), "erased", session=session
                )
            await contacts.delete(self.db, contact_id, session=session)
            counts["events"] = 0
            for person in people:  # the record of what changed keeps no value of theirs
                counts["events"] += await events.redact_subject(self.db, person, session)
            await privacy_audit.record(
                self.db,
                {"action": "erase", "contactId": contact_id, "by": by, "counts": counts},
                session=session,
            )
            await dispatch.append(self.db, self.consent.pm, [erased], session)
            return counts

        erased = ContactErased(contact_id=contact_id)
        counts = await in_transaction(self.db, work)
        if counts is not None:
            await dispatch.deliver(self.db, self.consent.pm, [erased])  # failures: on the event
        return counts
