"""The open leads a contact's engagement rescores (``store.leads.open_of_contact``): its own
open ones (status open or not set) in ``_id`` order, never its closed ones nor other
contacts'; with an account, also that account's account-based leads (no parent contact), and
not the account's leads that have another parent contact."""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from leadgraph.store import leads
from pymongo.asynchronous.database import AsyncDatabase


def _lead(topic: str, **fields: Any) -> dict[str, Any]:
    return dict(leads.new_document({"topic": topic, **fields}, stage="inquiry"))


async def test_a_contacts_open_leads_without_an_account(db: AsyncDatabase) -> None:
    me, other = ObjectId(), ObjectId()
    docs = [
        _lead("open", parentContactId=me),
        {**_lead("no status", parentContactId=me), "status": None},
        {**_lead("qualified", parentContactId=me), "status": "qualified"},
        {**_lead("disqualified", parentContactId=me), "status": "disqualified"},
        _lead("someone else's", parentContactId=other),
    ]
    del docs[0]["status"]  # stored before leads had a status: open
    await db["leads"].insert_many(docs)

    found = await leads.open_of_contact(db, me, None)

    assert [d["topic"] for d in found] == ["open", "no status"]
    assert [d["_id"] for d in found] == sorted(d["_id"] for d in found)


async def test_a_contacts_open_leads_with_its_accounts_account_based_ones(
    db: AsyncDatabase,
) -> None:
    me, colleague, account = ObjectId(), ObjectId(), ObjectId()
    await db["leads"].insert_many(
        [
            _lead("mine", parentContactId=me, parentAccountId=account),
            {**_lead("mine, closed", parentContactId=me), "status": "disqualified"},
            _lead("account-based", parentAccountId=account),
            {**_lead("account-based, closed", parentAccountId=account), "status": "qualified"},
            _lead("a colleague's", parentContactId=colleague, parentAccountId=account),
        ]
    )

    found = await leads.open_of_contact(db, me, account)

    assert [d["topic"] for d in found] == ["mine", "account-based"]
