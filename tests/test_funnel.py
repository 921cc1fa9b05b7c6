"""The lead funnel through GraphQL: scores with explanations, automatic and manual stage moves,
the sales-ready skip, send-back-to-marketing, qualification clearing marketingOnly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bson import ObjectId
from foundation import create_contact, create_lead, gid, oid_of
from leadgraph.store import interactions

LEAD = """
  __typename
  ... on LeadPayload { lead { id stage salesReady teleprospectReady status
      scores { model score salesReady rulesVersion explanation { rule points } }
      stageHistory { stage reason by rulesVersion } } }
  ... on ValidationError { field message }
  ... on ConflictError { message }
  ... on ForbiddenError { permission }
  ... on NotFoundError { id }
"""


async def _lead_for(
    api, *, role="decisionMaker", job="Director of IT", opens=0, clicks=0, marketing_only=False
):
    account = await api.db["accounts"].insert_one(
        {"name": "Contoso", "numberOfEmployees": 1200, "createdAt": datetime.now(UTC)}
    )
    contact = await create_contact(
        api,
        lastName="Moreau",
        email=f"{ObjectId()}@contoso.com",
        role="DECISION_MAKER" if role == "decisionMaker" else "USER",
        jobTitle=job,
        account=gid("Account", account.inserted_id),
        marketingOnly=marketing_only,
        preferences={"allowBulkEmail": True},
    )
    lead = await create_lead(api, "id stage", topic="Contoso Ltd Conference", parentContact=contact)
    # created with a parent contact: scored at once, so in automated marketing qualification
    assert lead["stage"] == "automated_marketing_qualification"

    now = datetime.now(UTC)
    for kind, n in (("email_opened", opens), ("email_clicked", clicks)):
        for k in range(n):
            await interactions.record(
                api.db,
                {
                    "contactId": oid_of(contact),
                    "type": kind,
                    "occurredAt": now - timedelta(days=k + 1),
                },
            )
    return contact, lead["id"]


async def _call(api, mutation, args, role="admin"):
    name = mutation.split("(")[0]
    data = await api.gql(f"mutation {{ {mutation} {{ {LEAD} }} }}", args, role=role)
    return data[name]


async def test_rescoring_explains_points_and_moves_to_marketing_qualification(api):
    _, lead = await _lead_for(api, opens=2)
    result = await _call(api, f'rescoreLead(id: "{lead}")', {})
    got = result["lead"]
    (score,) = got["scores"]
    explanation = {e["rule"]: e["points"] for e in score["explanation"]}
    assert explanation == {
        "decision maker": 20,
        "senior job title": 10,
        "company of 250 or more": 10,
        "email opened (5 each, last 30 days)": 10,
    }
    assert score["score"] == 50 and score["salesReady"] is False
    assert score["rulesVersion"] and got["salesReady"] is False
    assert got["stage"] == "automated_marketing_qualification"
    assert got["stageHistory"][-1] == {
        "stage": "automated_marketing_qualification",
        "reason": "scored",
        "by": None,
        "rulesVersion": score["rulesVersion"],
    }


async def test_sales_ready_score_skips_teleprospecting(api):
    _, lead = await _lead_for(api, opens=3, clicks=2)
    got = (await _call(api, f'rescoreLead(id: "{lead}")', {}))["lead"]
    assert got["scores"][0]["score"] >= 60 and got["salesReady"] is True
    assert [h["stage"] for h in got["stageHistory"]] == [
        "inquiry",
        "automated_marketing_qualification",
        "sales_acceptance",
    ]


async def test_manual_marks_and_send_back_to_marketing(api):
    _, lead = await _lead_for(api, role="user", job="Analyst")
    await _call(api, f'rescoreLead(id: "{lead}")', {})
    got = (await _call(api, f'markTeleprospectReady(id: "{lead}")', {}, role="sales"))["lead"]
    assert got["stage"] == "teleprospecting_acceptance"
    got = (
        await _call(
            api,
            f'moveLeadStage(id: "{lead}", to: "teleprospecting_qualification", reason: "called")',
            {},
            role="sales",
        )
    )["lead"]
    assert got["stage"] == "teleprospecting_qualification"
    assert got["stageHistory"][-1]["by"] == "test sales"
    assert got["stageHistory"][-1]["reason"] == "called"
    got = (await _call(api, f'markSalesReady(id: "{lead}")', {}, role="sales"))["lead"]
    assert got["stage"] == "sales_acceptance" and got["salesReady"] is True
    got = await _call(api, f'moveLeadStage(id: "{lead}", to: "send_back_to_marketing")', {})
    assert got["lead"]["stage"] == "automated_marketing_qualification"
    assert got["lead"]["salesReady"] is False and got["lead"]["teleprospectReady"] is False


async def test_bad_moves_are_typed_errors_and_change_nothing(api):
    _, lead = await _lead_for(api)
    unknown = await _call(api, f'moveLeadStage(id: "{lead}", to: "won")', {})
    assert unknown["__typename"] == "ValidationError" and unknown["field"] == "to"
    illegal = await _call(api, f'moveLeadStage(id: "{lead}", to: "sales_acceptance")', {})
    assert illegal["__typename"] == "ConflictError"
    assert "allowed" in illegal["message"]
    denied = await _call(api, f'markSalesReady(id: "{lead}")', {}, role="read-only")
    assert denied["__typename"] == "ForbiddenError" and denied["permission"] == "leads:stage"
    early = await _call(api, f'qualifyLead(id: "{lead}")', {})
    assert early["__typename"] == "ConflictError" and "sales_acceptance" in early["message"]
    doc = await api.db["leads"].find_one({})
    assert doc["stage"] == "automated_marketing_qualification" and doc["salesReady"] is False
    assert doc["status"] == "open" and len(doc["stageHistory"]) == 2


async def test_qualifying_a_lead_clears_marketing_only_on_its_contact(api):
    contact, lead = await _lead_for(api, marketing_only=True)
    await _call(api, f'markSalesReady(id: "{lead}")', {})
    await _call(api, f'assignLead(id: "{lead}")', {})  # sales accepts it
    got = (await _call(api, f'qualifyLead(id: "{lead}", reason: "budget confirmed")', {}))["lead"]
    assert got["status"] == "QUALIFIED"
    assert got["stageHistory"][-1] == {
        "stage": "sales_acceptance",
        "reason": "budget confirmed",
        "by": "test admin",
        "rulesVersion": got["stageHistory"][-2]["rulesVersion"],
    }
    data = await api.gql(f'{{ contact(id: "{contact}") {{ marketingOnly }} }}')
    assert data["contact"]["marketingOnly"] is False
    again = await _call(api, f'qualifyLead(id: "{lead}")', {})
    assert again["__typename"] == "ConflictError"


async def test_lifecycle_query_lists_the_stages_of_the_live_rules(api):
    data = await api.gql(
        "{ leadLifecycle { initial stages { name label } "
        "transitions { name fromStages to triggers } rulesVersion } }"
    )
    lc = data["leadLifecycle"]
    assert lc["initial"] == "inquiry"
    assert [s["name"] for s in lc["stages"]] == [
        "inquiry",
        "automated_marketing_qualification",
        "teleprospecting_acceptance",
        "teleprospecting_qualification",
        "sales_acceptance",
    ]
    skip = next(t for t in lc["transitions"] if t["name"] == "sales_ready")
    assert skip["to"] == "sales_acceptance" and "scored" in skip["triggers"]


async def test_each_recorded_interaction_rescores_the_contacts_leads(api):
    contact, lead = await _lead_for(api)
    record = """mutation($i: RecordInteractionInput!) { recordInteraction(input: $i) {
        ... on InteractionPayload { created } } }"""
    for _ in range(3):
        await api.gql(record, {"i": {"contact": contact, "type": "EMAIL_CLICKED"}})
    data = await api.gql(f'{{ lead(id: "{lead}") {{ stage salesReady scores {{ score }} }} }}')
    # 20 decision maker + 10 title + 10 company + 3 x 10 clicks = 70 >= threshold 60
    assert data["lead"]["scores"][0]["score"] == 70
    assert data["lead"]["salesReady"] is True and data["lead"]["stage"] == "sales_acceptance"
