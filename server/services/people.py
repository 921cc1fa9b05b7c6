"""The people behind an account or a lead.

For marketing an account is a collection of contacts (seed 002): an account's leads are its
account-based leads and its contacts' leads (:func:`leadgraph.store.leads.of_account`, what
``Account.leads`` lists and the roll-ups count), and its insights are its contacts' added up.
Interactions belong to contacts, never to leads or accounts: a lead's insights are those of
its linked contacts, the parent contact, or for an account-based lead the account's contacts
(the contacts the funnel scores it on, :mod:`leadgraph.services.facts`); a lead with neither
has none.
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from ..store import contacts

#: The insights of no contact at all.
NO_INSIGHTS: dict[str, Any] = {"total": 0, "counts": {}, "lastActivityAt": None}


class People:
    """Who an account's or a lead's marketing reaches, over one database."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.db = db

    async def account_insights(self, account_id: ObjectId) -> dict[str, Any]:
        """The account's contacts' insights, added up."""
        return await contacts.insights_summed(self.db, {"accountId": account_id})

    async def lead_insights(
        self, lead: dict[str, Any], contact: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        """The insights of the lead's linked contacts: its parent ``contact`` (already
        loaded), else its parent account's contacts; None for an orphan lead."""
        if lead.get("parentContactId") is not None:
            return (contact or {}).get("insights") or dict(NO_INSIGHTS)
        if (account := lead.get("parentAccountId")) is not None:
            return await self.account_insights(account)
        return None
