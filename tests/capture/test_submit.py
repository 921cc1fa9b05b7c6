"""submitForm / registerForEvent through GraphQL over HTTP: matching, preferences, insights."""

from __future__ import annotations

import asyncio

from foundation import create_lists

from .helpers import REGISTER, submit


async def test_new_email_creates_contact_and_lead_then_matches(api):
    first = await submit(api, "webinar-2026", {"email": "Ana@Example.COM", "firstName": "Ana"})
    assert first["__typename"] == "CapturePayload", first
    assert first["contactCreated"] and first["leadCreated"]
    assert first["contactMatch"]["fields"] == ["email"]
    assert first["contactMatch"]["values"] == {"email": "ana@example.com"}
    assert first["leadMatch"]["fields"] == ["email", "formId"]
    assert first["lead"]["parentContact"]["id"] == first["contact"]["id"]
    assert first["interaction"]["type"] == "FORM_SUBMITTED"

    again = await submit(api, "webinar-2026", {"email": " ana@example.com ", "lastName": "Lee"})
    assert not again["contactCreated"] and not again["leadCreated"]
    assert again["contactMatch"]["matched"] and again["leadMatch"]["matched"]
    assert again["contact"]["id"] == first["contact"]["id"]
    assert again["lead"]["id"] == first["lead"]["id"]
    assert again["contact"]["lastName"] == "Lee" and again["contact"]["firstName"] == "Ana"
    assert again["contact"]["insights"]["total"] == 2

    other_form = await submit(api, "ebook", {"email": "ana@example.com"})
    assert not other_form["contactCreated"] and other_form["leadCreated"]
    assert other_form["contact"]["id"] == first["contact"]["id"]
    assert other_form["lead"]["id"] != first["lead"]["id"]
    assert await api.db.contacts.count_documents({}) == 1
    assert await api.db.leads.count_documents({}) == 2


async def test_preferences_consent_and_subscriptions_are_applied(api):
    await create_lists(api, "monthly")
    out = await submit(
        api,
        "newsletter",
        {
            "email": "bo@example.com",
            "allowBulkEmail": True,
            "allowPrefill": True,
            "consent": "marketing",
            "subscriptions": ["monthly"],
            "utm_source": "ads",
        },
    )
    contact = out["contact"]
    assert contact["preferences"] == {
        "allowBulkEmail": True,
        "allowPrefill": True,
        "allowEmail": True,
    }
    assert contact["consent"]["level"] == "MARKETING"
    assert contact["subscriptions"] == ["monthly"]
    out = await submit(api, "newsletter", {"email": "bo@example.com", "allowBulkEmail": False})
    assert out["contact"]["preferences"]["allowBulkEmail"] is False
    assert out["contact"]["preferences"]["allowPrefill"] is True
    stored = await api.db.interactions.find_one({"type": "form_submitted"}, sort=[("_id", 1)])
    assert stored["details"] == {"utm_source": "ads"}


async def test_matches_a_contact_entered_by_hand(api):
    made = await api.gql(
        'mutation { createContact(input: {email: "Cy@Example.com", lastName: "Cy"}) {'
        " ... on ContactPayload { contact { id } } } }"
    )
    out = await submit(api, "demo-request", {"email": "cy@example.com"})
    assert not out["contactCreated"]
    assert out["contact"]["id"] == made["createContact"]["contact"]["id"]


async def test_insights_count_each_interaction_type(api):
    await submit(api, "f1", {"email": "dee@example.com"})
    reg = await api.gql(
        REGISTER,
        {
            "input": {
                "eventId": "summit",
                "eventName": "Summit 2026",
                "fields": {"email": "dee@example.com"},
            }
        },
    )
    out = reg["registerForEvent"]
    assert out["__typename"] == "CapturePayload", out
    assert not out["contactCreated"] and out["leadCreated"]
    assert out["lead"]["marketingContext"] == {"kind": "EVENT", "name": "Summit 2026"}
    assert out["interaction"] == {"type": "EVENT_REGISTERED", "eventId": "summit"}
    counts = {c["type"]: c["count"] for c in out["contact"]["insights"]["counts"]}
    assert counts == {"event_registered": 1, "form_submitted": 1}
    assert out["contact"]["insights"]["total"] == 2


async def test_bad_fields_are_reported_and_nothing_is_written(api):
    out = await submit(
        api, "f1", {"email": "not-an-email", "allowBulkEmail": "yes", "role": "boss"}
    )
    assert out["__typename"] == "ValidationError"
    fields = {f["field"] for f in out["fields"]}
    assert fields == {
        "input.fields.email",
        "input.fields.allowBulkEmail",
        "input.fields.role",
    }
    out = await submit(api, "f1", {"firstName": "No Email"})
    assert out["__typename"] == "ValidationError"
    assert [f["field"] for f in out["fields"]] == ["input.fields.email"]
    assert "contact-email" in out["fields"][0]["message"]
    out = await submit(api, "f1", {"email": "big@example.com", "notes": "x" * 20_000})
    assert out["__typename"] == "ValidationError"
    assert await api.db.contacts.count_documents({}) == 0


async def test_read_only_role_cannot_submit(api):
    out = await submit(api, "f1", {"email": "x@example.com"}, role="read-only")
    assert out["__typename"] == "ForbiddenError"


async def test_idempotent_retry_records_nothing_twice(api):
    args = {"idempotencyKey": "sub-42"}
    first = await submit(api, "f1", {"email": "eve@example.com"}, **args)
    retries = await asyncio.gather(
        *[submit(api, "f1", {"email": "eve@example.com"}, **args) for _ in range(5)]
    )
    assert not first["replayed"]
    for r in retries:
        assert r["replayed"] and r["interaction"]["id"] == first["interaction"]["id"]
        assert r["contact"]["id"] == first["contact"]["id"]
        assert r["contactCreated"]  # the first outcome, as recorded
    assert await api.db.interactions.count_documents({}) == 1
    contact = await api.db.contacts.find_one({})
    assert contact["insights"]["total"] == 1


async def test_concurrent_first_submissions_make_one_contact_and_one_lead_per_form(api):
    forms = ("launch", "webinar")
    results = await asyncio.gather(
        *[
            submit(api, forms[i % 2], {"email": "Rush@Example.com", "firstName": f"R{i}"})
            for i in range(50)
        ]
    )
    assert all(r["__typename"] == "CapturePayload" for r in results), results[0]
    assert len({r["contact"]["id"] for r in results}) == 1
    for form in forms:
        mine = [r for r in results if r["interaction"]["formId"] == form]
        assert len(mine) == 25
        assert len({r["lead"]["id"] for r in mine}) == 1
        assert sum(r["leadCreated"] for r in mine) == 1
    assert sum(r["contactCreated"] for r in results) == 1
    assert await api.db.contacts.count_documents({}) == 1
    assert await api.db.leads.count_documents({}) == 2
    assert await api.db.interactions.count_documents({}) == 50
    contact = await api.db.contacts.find_one({})
    assert contact["insights"]["total"] == 50
    assert contact["insights"]["counts"] == {"form_submitted": 50}


SCORED = """
mutation($input: SubmitFormInput!) {
  submitForm(input: $input) {
    ... on CapturePayload {
      leadCreated
      lead { id stage scores { model score explanation { rule points } rulesVersion } }
      leadMatch { strategy matched created }
    }
  }
}
"""


async def test_captured_lead_is_scored_and_moves_stage(api):
    data = await api.gql(
        SCORED, {"input": {"formId": "spring-webinar", "fields": {"email": "sc@example.com"}}}
    )
    lead = data["submitForm"]["lead"]
    (score,) = [s for s in lead["scores"] if s["model"] == "engagement"]
    rules = {e["rule"]: e["points"] for e in score["explanation"]}
    assert rules["landing page submitted"] == 15
    assert score["rulesVersion"]
    assert lead["stage"] != "inquiry"  # the scored transition was taken


async def test_find_and_score_strategy_never_creates_a_lead(api):
    form = "partner-summit-registration"
    out = await submit(api, form, {"email": "partner@example.com"})
    assert out["__typename"] == "CapturePayload", out
    assert out["lead"] is None and not out["leadCreated"]
    assert out["leadMatch"]["strategy"] == "lead-find-and-score"
    assert out["contactCreated"] and out["interaction"]["type"] == "FORM_SUBMITTED"
    assert await api.db.leads.count_documents({}) == 0

    made = await api.gql(
        'mutation { createLead(input: {topic: "Summit", email: "Partner@example.com", '
        f'formId: "{form}"}}) {{ ... on LeadPayload {{ lead {{ id }} }} }} }}'
    )
    data = await api.gql(
        SCORED, {"input": {"formId": form, "fields": {"email": "partner@example.com"}}}
    )
    out = data["submitForm"]
    assert out["lead"]["id"] == made["createLead"]["lead"]["id"]
    assert out["leadMatch"] == {
        "strategy": "lead-find-and-score",
        "matched": True,
        "created": False,
    }
    assert out["lead"]["scores"], "the found lead is scored"
    assert await api.db.leads.count_documents({}) == 1
    lead = await api.db.leads.find_one({})
    contact = await api.db.contacts.find_one({})
    assert lead["parentContactId"] == contact["_id"]  # linked to the submitting contact


async def test_a_submission_rescores_the_contacts_other_open_leads(api):
    await submit(api, "whitepaper", {"email": "multi@example.com"})
    await submit(api, "webinar", {"email": "multi@example.com"})
    leads = await api.db.leads.find({}).to_list()
    assert len(leads) == 2
    for lead in leads:  # both leads count both landing-page submissions of their contact
        (score,) = [s for s in lead["scores"] if s["model"] == "engagement"]
        explained = {e["rule"]: e["points"] for e in score["explanation"]}
        assert explained["landing page submitted"] == 30


async def test_matches_record_the_rules_version_that_chose_them(api):
    out = await submit(api, "landing-trial", {"email": "trace@example.com"})
    live = (await api.gql("{ rulesStatus { version } }"))["rulesStatus"]["version"]
    assert live and out["contactMatch"]["rulesVersion"] == live
    assert out["leadMatch"]["rulesVersion"] == live
    stored = await api.db["interactions"].find_one({"formId": "landing-trial"})
    assert stored["match"]["contact"]["strategy"] == out["contactMatch"]["strategy"]
    assert stored["match"]["lead"]["rules_version"] == live
