"""What a capture answers (:class:`Outcome`), the events it records, and the answer to a
retry: the outcome recorded under the caller's idempotency key (``submissions``), or a
:class:`~leadgraph.errors.Conflict` when the key came with another input."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from ..errors import Conflict
from ..events import CaptureSubmitted, ContactCreated, Event, LeadCreated
from ..store import contacts, interactions, leads, submissions
from .first_score import FirstScore
from .interactions import interaction_event
from .matching import Match


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
    #: the new lead of a new person, scored in the capture's transaction
    first: FirstScore | None = None


def capture_events(
    contact: dict[str, Any],
    lead: dict[str, Any] | None,
    interaction: Mapping[str, Any],
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


def with_insight(contact: dict[str, Any], interaction: Mapping[str, Any]) -> dict[str, Any]:
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


async def replay_or_refuse(
    db: AsyncDatabase, done: dict[str, Any], digest: str | None, key: str | None
) -> Outcome:
    """The outcome recorded under this caller's idempotency key, when the input is the same
    one (hashed as ``digest``; None: whatever it was); :raises Conflict: when the key was used
    with another input (nothing is written)."""
    if digest is not None and not submissions.same_payload(done, digest):
        raise Conflict(f"idempotency key {key!r} was already used with another input")
    return await replay(db, done)


async def replay(db: AsyncDatabase, done: dict[str, Any]) -> Outcome:
    """The outcome of an already recorded submission (a retry)."""
    contact = await contacts.get(db, done["contactId"])
    lead = await leads.get(db, done["leadId"]) if done.get("leadId") else None
    interaction = await interactions.get(db, done["interactionId"])
    if contact is None or interaction is None:
        raise Conflict("the records of this submission were deleted or merged away")
    return Outcome(
        dict(contact),
        dict(lead) if lead is not None else None,
        dict(interaction),
        Match(**done["contactMatch"]),
        Match(**done["leadMatch"]),
        replayed=True,
    )
