"""Opportunities: what a lead qualified by sales becomes, and how it ends (won or lost).

``qualifyLead`` (from the lifecycle's ``qualify_from`` stages only, default sales acceptance)
closes the lead as qualified, clears ``marketingOnly`` on its contact and inserts its
opportunity in one transaction: either all three are written or none.  The opportunity takes
the lead's topic (or its marketing context's name), its owner (else the caller), its parent
contact and its account (the lead's parent account, else the contact's).  One opportunity per
lead (a unique index), so two qualifications at once make one.  The ``lead.qualified`` event
is stored in that transaction; ``markOpportunityWon`` / ``markOpportunityLost`` close an open
opportunity (``opportunity.closed``, stored with the change).  Plugins hear them after the
commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from ..contracts import PluginFailure
from ..db import in_transaction
from ..events import Event, LeadQualified, OpportunityClosed
from ..store import contacts, opportunities
from ..types import LeadDoc, PluginManager, Session
from . import dispatch
from .funnel import Funnel, Refused


@dataclass
class Qualified:
    """A qualified lead and the opportunity it became; plugins that failed afterwards."""

    lead: LeadDoc
    opportunity: dict[str, Any]
    plugin_failures: list[PluginFailure] = field(default_factory=list)


class Opportunities:
    def __init__(self, db: AsyncDatabase, funnel: Funnel, pm: PluginManager | None) -> None:
        self.db = db
        self.funnel = funnel
        self.pm = pm

    async def qualify(
        self,
        lead: dict[str, Any],
        *,
        by: str | None,
        reason: str | None,
        topic: str | None = None,
        value: float | None = None,
        owner: str | None = None,
        role: str | None = None,
    ) -> Qualified:
        """Qualify ``lead`` into a new open opportunity (see the module).

        :raises Refused: not from a ``qualify_from`` stage, closed, or changed meanwhile:
            nothing written.
        """
        contact_id = lead.get("parentContactId")
        account_id = lead.get("parentAccountId")
        if account_id is None and contact_id is not None:
            contact = (await contacts.by_ids(self.db, [contact_id])).get(contact_id)
            account_id = (contact or {}).get("accountId")
        context = lead.get("marketingContext") or {}
        doc = opportunities.new_document(
            lead=lead,
            topic=topic or lead.get("topic") or context.get("name"),
            value=value,
            owner=owner or lead.get("owner") or by,
            contact_id=contact_id,
            account_id=account_id,
            by=by,
        )

        async def insert(session: Session | None) -> list[Event]:
            await opportunities.insert(self.db, doc, session=session)
            qualified = LeadQualified(
                lead_id=lead["_id"], contact_id=contact_id, opportunity_id=doc["_id"], reason=reason
            )
            return [qualified]

        after, failures = await self.funnel.qualify(
            lead, by=by, reason=reason, also=insert, role=role
        )
        return Qualified(after, doc, failures)

    async def close(
        self,
        oid: ObjectId,
        outcome: str,
        *,
        by: str | None,
        reason: str | None,
        value: float | None = None,
    ) -> tuple[dict[str, Any] | None, list[PluginFailure]]:
        """Mark an open opportunity ``won`` or ``lost`` (``value``: the final amount, when
        given).  ``(None, [])`` when there is no such opportunity.

        :raises Refused: it is already won or lost (nothing written).
        """
        fields: dict[str, Any] = {"closedBy": by, "closeReason": reason}
        if value is not None:
            fields["value"] = value

        async def work(session: Session | None) -> tuple[dict[str, Any] | None, list[Event]]:
            after = await opportunities.close(self.db, oid, outcome, fields, session=session)
            if after is None:
                return None, []
            closed = OpportunityClosed(
                opportunity_id=oid,
                lead_id=after.get("leadId"),
                contact_id=after.get("contactId"),
                stage="won" if outcome == "won" else "lost",
                reason=reason,
            )
            await dispatch.append(self.db, self.pm, [closed], session)
            return after, [closed]

        after, found = await in_transaction(self.db, work)
        if after is None:
            current = await opportunities.get(self.db, oid)
            if current is None:
                return None, []
            raise Refused(f"the opportunity is already {current['stage']}")
        return after, await dispatch.deliver(self.db, self.pm, found)
