"""Account-based leads reach people through the account's contacts (seed 002; issue 20 point
2): a segment on lead fields finds the account's contacts for a lead whose parent is an
account, each contact with its own facts (a decision maker among them), in the database's
evaluation and in the one-contact explanation alike."""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from foundation import create_lead

from .helpers import CONTOSO, EXAMPLE_WHERE, contact, create, lead, members, membership

ACCOUNT = """mutation($i: CreateAccountInput!) { createAccount(input: $i) {
  ... on AccountPayload { account { id } } } }"""


async def test_a_segment_on_lead_fields_reaches_the_accounts_contacts(api: Any) -> None:
    data = await api.gql(ACCOUNT, {"i": {"name": "Contoso"}})
    account = data["createAccount"]["account"]["id"]
    boss = await contact(api, f"{ObjectId()}@contoso.com", account=account, role="DECISION_MAKER")
    user = await contact(api, f"{ObjectId()}@contoso.com", account=account, role="USER")
    elsewhere = await contact(api, f"{ObjectId()}@else.example", role="DECISION_MAKER")
    await create_lead(api, topic=CONTOSO, parentAccount=account)
    await lead(api, elsewhere, "another topic")

    topic = {"fact": "lead.topic", "op": "eq", "value": CONTOSO}
    assert (await create(api, name="contoso", where=topic))["__typename"] == "SegmentPayload"
    assert sorted(await members(api, "contoso")) == sorted([boss, user])

    # criteria under the lead and under the contact hold together, per contact of the account
    out = await create(api, name="deciders", where=EXAMPLE_WHERE)
    assert out["__typename"] == "SegmentPayload", out
    assert await members(api, "deciders") == [boss]
    assert (await membership(api, boss, "deciders"))["member"] is True
    assert (await membership(api, user, "deciders"))["member"] is False
    assert (await membership(api, user, "contoso"))["member"] is True

    # a contact's own lead and an account-based one: each contact once
    await lead(api, boss, CONTOSO)
    assert sorted(await members(api, "contoso")) == sorted([boss, user])
    not_it = {"not": topic}
    assert (await create(api, name="others", where=not_it))["__typename"] == "SegmentPayload"
    assert sorted(await members(api, "others")) == [elsewhere]
