"""Account-based leads are first-class: scored on the engagement of the account's contacts,
rescored live when any of them engages, and not taken for orphans."""

from __future__ import annotations

from datetime import UTC, datetime

from bson import ObjectId
from foundation import create_contact, create_lead, gid


async def test_a_colleagues_interaction_rescores_the_account_based_lead(api):
    account = await api.db["accounts"].insert_one(
        {"name": "Fabrikam", "numberOfEmployees": 5000, "createdAt": datetime.now(UTC)}
    )
    account_id = gid("Account", account.inserted_id)
    colleague = await create_contact(
        api, lastName="Ito", email=f"{ObjectId()}@fabrikam.com", account=account_id
    )
    lead = await create_lead(
        api, "id stage scores { score }", topic="Fabrikam platform deal", parentAccount=account_id
    )
    assert lead["scores"][0]["score"] == 10  # company of 250 or more

    data = await api.gql(
        """mutation($i: RecordInteractionInput!) { recordInteraction(input: $i) {
           ... on InteractionPayload { created } } }""",
        {"i": {"contact": colleague, "type": "EMAIL_CLICKED"}},
    )
    assert data["recordInteraction"]["created"] is True
    got = (
        await api.gql(
            f'{{ lead(id: "{lead["id"]}") {{ stage parentContact {{ id }} '
            "scores { score explanation { rule points } } } }"
        )
    )["lead"]
    explanation = {e["rule"]: e["points"] for e in got["scores"][0]["explanation"]}
    assert explanation["email link clicked (10 each, last 30 days)"] == 10
    assert got["scores"][0]["score"] == 20
    assert got["stage"] == "automated_marketing_qualification"
    assert got["parentContact"] is None


async def test_a_linked_orphan_is_scored_at_once(api, orphans_stay):
    created = await create_lead(
        api, "id stage scores { score }", topic="Walk-in", email=f"{ObjectId()}@walkin.example"
    )
    assert created["stage"] == "inquiry" and created["scores"] == []  # nobody to score
    linked = (
        await api.gql(
            """mutation { linkOrphanLeads { __typename ... on LinkOrphansPayload {
               linked contactsCreated pluginErrors { plugin }
               leads { id stage parentContact { marketingOnly } scores { model } } } } }"""
        )
    )["linkOrphanLeads"]
    assert linked["linked"] == 1 and linked["contactsCreated"] == 1
    assert linked["pluginErrors"] == []
    (lead,) = linked["leads"]
    assert lead["id"] == created["id"] and lead["parentContact"]["marketingOnly"] is True
    assert [s["model"] for s in lead["scores"]] == ["engagement"]
    assert lead["stage"] == "automated_marketing_qualification"
