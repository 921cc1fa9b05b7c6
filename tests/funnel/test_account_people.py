"""An account is a collection of contacts (seed 002): its leads are its account-based leads
and its contacts' leads, and what ``Account.leads`` lists is what its roll-ups count (issue 20
point 10); interactions belong to contacts, so a lead's and an account's insights are those
of their linked contacts (point 9)."""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from foundation import create_contact, create_lead

ACCOUNT = """mutation($i: CreateAccountInput!) { createAccount(input: $i) {
  ... on AccountPayload { account { id } } } }"""
RECORD = """mutation($i: RecordInteractionInput!) { recordInteraction(input: $i) {
  ... on InteractionPayload { created } } }"""
INSIGHTS = "insights { total lastActivityAt counts { type count } }"


async def _account(api: Any) -> tuple[str, str, str]:
    """An account of 5,000 people with two contacts."""
    data = await api.gql(ACCOUNT, {"i": {"name": "Fabrikam", "numberOfEmployees": 5000}})
    account = data["createAccount"]["account"]["id"]
    ito, ng = [
        await create_contact(
            api, lastName=name, email=f"{ObjectId()}@fabrikam.com", account=account
        )
        for name in ("Ito", "Ng")
    ]
    return account, ito, ng


async def _record(api: Any, contact: str, kind: str) -> None:
    data = await api.gql(RECORD, {"i": {"contact": contact, "type": kind}})
    assert data["recordInteraction"]["created"] is True


async def test_account_leads_are_the_leads_its_rollup_counts(api: Any) -> None:
    account, ito, ng = await _account(api)
    based = await create_lead(api, topic="Fabrikam platform deal", parentAccount=account)
    mine = [await create_lead(api, topic=f"topic {c}", parentContact=c) for c in (ito, ng, ito)]
    stranger = await create_contact(api, lastName="Else", email=f"{ObjectId()}@else.example")
    await create_lead(api, topic="not theirs", parentContact=stranger)

    got = (
        await api.gql(
            f"""{{ account(id: "{account}") {{
              scores {{ model leadCount }}
              leads(first: 2) {{ totalCount edges {{ node {{ id }} }}
                pageInfo {{ hasNextPage endCursor }} }} }} }}"""
        )
    )["account"]
    (rollup,) = got["scores"]
    assert rollup["model"] == "engagement"
    assert got["leads"]["totalCount"] == rollup["leadCount"] == 4
    page = """query($a: ID!, $c: String) { account(id: $a) { leads(first: 5, after: $c) {
      edges { node { id } } pageInfo { hasNextPage } } } }"""
    after = got["leads"]["pageInfo"]["endCursor"]
    rest = (await api.gql(page, {"a": account, "c": after}))["account"]["leads"]
    listed = [e["node"]["id"] for e in got["leads"]["edges"] + rest["edges"]]
    assert sorted(listed) == sorted([based["id"], *(m["id"] for m in mine)])
    assert rest["pageInfo"]["hasNextPage"] is False

    filtered = await api.gql(
        f'{{ account(id: "{account}") {{ leads(filter: {{ topicContains: "platform" }}) '
        "{ totalCount edges { node { id } } } } }"
    )
    assert filtered["account"]["leads"]["totalCount"] == 1
    assert filtered["account"]["leads"]["edges"][0]["node"]["id"] == based["id"]


async def test_lead_and_account_insights_are_their_contacts_interactions(
    api: Any, orphans_stay: None
) -> None:
    account, ito, ng = await _account(api)
    for contact, kind in ((ito, "EMAIL_OPENED"), (ito, "EMAIL_CLICKED"), (ng, "EMAIL_OPENED")):
        await _record(api, contact, kind)
    based = await create_lead(api, f"id {INSIGHTS}", topic="deal", parentAccount=account)
    own = await create_lead(api, f"id {INSIGHTS}", topic="webinar", parentContact=ng)
    orphan = await create_lead(api, f"id {INSIGHTS}", topic="walk-in")

    everyone = {"email_clicked": 1, "email_opened": 2}
    counts = {c["type"]: c["count"] for c in based["insights"]["counts"]}
    assert based["insights"]["total"] == 3 and counts == everyone
    ng_only = {c["type"]: c["count"] for c in own["insights"]["counts"]}
    assert own["insights"]["total"] == 1 and ng_only == {"email_opened": 1}
    assert orphan["insights"] is None  # no linked contact: no insights

    data = await api.gql(
        f'{{ account(id: "{account}") {{ {INSIGHTS} }} contact(id: "{ng}") {{ {INSIGHTS} }} }}'
    )
    whole = data["account"]["insights"]
    assert whole["total"] == 3
    assert {c["type"]: c["count"] for c in whole["counts"]} == everyone
    assert whole["lastActivityAt"] == based["insights"]["lastActivityAt"] is not None
    assert data["contact"]["insights"] == own["insights"]  # one definition: the contact's
