"""salesReady follows the score both ways; a lead sent back to marketing comes back only by a
new decision: its score newly crossing the threshold, or a person."""

from __future__ import annotations

from datetime import UTC, datetime

from bson import ObjectId
from foundation import create_contact, create_lead, gid

LEAD = (
    "id stage salesReady salesReadyByHand stageHistory { stage } "
    "scores { score salesReady explanation { rule points } }"
)


async def _contact_and_lead(api, role: str = "DECISION_MAKER") -> tuple[str, str]:
    account = await api.db["accounts"].insert_one(
        {"name": "Contoso", "numberOfEmployees": 1200, "createdAt": datetime.now(UTC)}
    )
    contact = await create_contact(
        api,
        lastName="Moreau",
        email=f"{ObjectId()}@contoso.com",
        role=role,
        jobTitle="Director of IT",
        account=gid("Account", account.inserted_id),
    )
    lead = await create_lead(api, topic="Contoso Ltd Conference", parentContact=contact)
    return contact, lead["id"]


async def _engage(api, contact: str, kind: str = "EMAIL_CLICKED", n: int = 1) -> None:
    for _ in range(n):
        data = await api.gql(
            """mutation($i: RecordInteractionInput!) { recordInteraction(input: $i) {
               ... on InteractionPayload { created pluginErrors { plugin } } } }""",
            {"i": {"contact": contact, "type": kind}},
        )
        assert data["recordInteraction"] == {"created": True, "pluginErrors": []}


async def _role(api, contact: str, role: str) -> None:
    await api.gql(
        """mutation($i: UpdateContactInput!) { updateContact(input: $i) {
           ... on ContactPayload { contact { id } } } }""",
        {"i": {"id": contact, "role": role}},
    )


async def _lead(api, lead: str) -> dict:
    return (await api.gql(f'{{ lead(id: "{lead}") {{ {LEAD} }} }}'))["lead"]


async def _mutate(api, call: str) -> dict:
    name = call.split("(")[0]
    data = await api.gql(
        f"mutation {{ {call} {{ __typename ... on LeadPayload {{ lead {{ {LEAD} }} }} "
        "... on ConflictError { message } } }"
    )
    return data[name]


async def test_sent_back_lead_stays_in_marketing_after_an_ordinary_interaction(api):
    contact, lead = await _contact_and_lead(api)
    await _engage(api, contact, n=3)  # 20 + 10 + 10 + 30 - 10 (no bulk email) = 60: the threshold
    got = await _lead(api, lead)
    assert got["stage"] == "sales_acceptance" and got["salesReady"] is True

    back = await _mutate(api, f'moveLeadStage(id: "{lead}", to: "send_back_to_marketing")')
    assert back["lead"]["stage"] == "automated_marketing_qualification"
    assert back["lead"]["salesReady"] is False

    await _engage(api, contact, kind="WEBSITE_VISITED")  # worth 0 points
    got = await _lead(api, lead)
    assert got["stage"] == "automated_marketing_qualification"
    assert got["salesReady"] is False
    assert got["scores"][0]["score"] == 60, got["scores"]
    assert got["scores"][0]["salesReady"] is True


async def test_sales_ready_falls_back_when_the_score_drops(api):
    contact, lead = await _contact_and_lead(api)
    await _engage(api, contact, n=3)
    assert (await _lead(api, lead))["salesReady"] is True
    await _role(api, contact, "USER")  # loses the 20 decision-maker points: 40 < 60
    await _engage(api, contact, kind="WEBSITE_VISITED")
    got = await _lead(api, lead)
    assert got["scores"][0]["score"] == 40
    assert got["salesReady"] is False


async def test_sent_back_lead_returns_when_its_score_newly_crosses(api):
    contact, lead = await _contact_and_lead(api)
    await _engage(api, contact, n=3)
    await _mutate(api, f'moveLeadStage(id: "{lead}", to: "send_back_to_marketing")')
    await _role(api, contact, "USER")
    await _engage(api, contact, kind="WEBSITE_VISITED")  # 40: under the threshold
    assert (await _lead(api, lead))["stage"] == "automated_marketing_qualification"
    await _role(api, contact, "DECISION_MAKER")
    await _engage(api, contact, kind="WEBSITE_VISITED")  # 60 again: a new crossing
    got = await _lead(api, lead)
    assert got["salesReady"] is True and got["stage"] == "sales_acceptance"


async def test_marked_by_hand_the_flag_ignores_the_score(api):
    contact, lead = await _contact_and_lead(api, role="USER")
    marked = await _mutate(api, f'markSalesReady(id: "{lead}")')
    assert marked["lead"]["salesReady"] is True and marked["lead"]["salesReadyByHand"] is True
    assert marked["lead"]["stage"] == "sales_acceptance"
    await _engage(api, contact, kind="WEBSITE_VISITED")
    got = await _lead(api, lead)
    assert got["scores"][0]["salesReady"] is False and got["salesReady"] is True

    unmarked = await _mutate(api, f'markSalesReady(id: "{lead}", salesReady: false)')
    assert unmarked["lead"]["salesReady"] is False
    assert unmarked["lead"]["salesReadyByHand"] is False
