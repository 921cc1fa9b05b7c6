"""Every consent change — a form, an API user, an import — is recorded as a consent_changed
interaction saying who, when, from where and old -> new; the insights do not count them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from foundation import create_lists

from .helpers import UNSUBSCRIBE, history, import_rows

SUBMIT = """
mutation($i: SubmitFormInput!) { submitForm(input: $i) {
  ... on CapturePayload { contact { id preferences { allowBulkEmail } subscriptions } } } }
"""
UPDATE = """
mutation($i: UpdateContactInput!) { updateContact(input: $i) {
  __typename ... on ContactPayload { contact { preferences { allowBulkEmail }
    consent { level isChild guardian } subscriptions unsubscribed } } } }
"""


async def test_consent_changes_say_who_when_from_where_and_what(api):
    await create_lists(api, "news", "events")
    before = datetime.now(UTC) - timedelta(seconds=1)
    response = await api.post(
        SUBMIT,
        {
            "i": {
                "formId": "signup",
                "fields": {
                    "email": "ann@example.com",
                    "allowBulkEmail": True,
                    "consent": "marketing",
                    "subscriptions": ["news"],
                },
            }
        },
        headers={"User-Agent": "landing-page/2.1"},
    )
    contact = response.json()["data"]["submitForm"]["contact"]
    assert contact["preferences"]["allowBulkEmail"] is True and contact["subscriptions"] == ["news"]
    cid = contact["id"]

    (first,) = await history(api, cid)
    assert first["type"] == "CONSENT_CHANGED" and first["formId"] == "signup"
    assert datetime.fromisoformat(first["occurredAt"]) >= before
    details = first["details"]
    assert details["via"] == "form" and details["by"] == "signup"
    assert details["source"] == "form:signup"
    assert details["ip"] == "127.0.0.1" and details["userAgent"] == "landing-page/2.1"
    assert details["changes"] == [
        {"field": "preferences.allowBulkEmail", "old": False, "new": True},
        {"field": "consent.level", "old": None, "new": "marketing"},
        {"field": "subscriptions", "list": "news", "old": None, "new": "subscribed"},
    ]

    # the same form again changes nothing: nothing recorded
    await api.post(
        SUBMIT,
        {
            "i": {
                "formId": "signup",
                "fields": {
                    "email": "ann@example.com",
                    "allowBulkEmail": True,
                    "subscriptions": ["news"],
                },
            }
        },
    )
    assert len(await history(api, cid)) == 1

    # an API user: allowBulkEmail off, a guardian, the exact set of lists
    out = await api.gql(
        UPDATE,
        {
            "i": {
                "id": cid,
                "preferences": {"allowBulkEmail": False},
                "consent": {"isChild": True, "guardian": "Bo Lee"},
                "subscriptions": ["events"],
            }
        },
    )
    assert out["updateContact"]["contact"] == {
        "preferences": {"allowBulkEmail": False},
        "consent": {"level": "MARKETING", "isChild": True, "guardian": "Bo Lee"},
        "subscriptions": ["events"],
        "unsubscribed": ["news"],
    }
    await api.gql(UNSUBSCRIBE, {"c": [cid], "l": ["events"]}, role="sales")
    _, by_admin, by_sales = await history(api, cid)
    assert by_admin["details"]["via"] == "api" and by_admin["details"]["by"] == "test admin"
    assert by_admin["details"]["changes"] == [
        {"field": "preferences.allowBulkEmail", "old": True, "new": False},
        {"field": "consent.isChild", "old": False, "new": True},
        {"field": "consent.guardian", "old": None, "new": "Bo Lee"},
        {"field": "subscriptions", "list": "events", "old": None, "new": "subscribed"},
        {"field": "subscriptions", "list": "news", "old": "subscribed", "new": "unsubscribed"},
    ]
    assert by_sales["details"]["by"] == "test sales"
    assert by_sales["details"]["changes"] == [
        {"field": "subscriptions", "list": "events", "old": "subscribed", "new": "unsubscribed"}
    ]
    # records, not engagement: the insights count the two form submissions only
    data = await api.gql("query($id: ID!) { contact(id: $id) { insights { total } } }", {"id": cid})
    assert data["contact"]["insights"]["total"] == 2


async def test_an_import_records_its_consent_changes_with_its_line(api):
    out = await import_rows(
        api,
        "CONTACTS",
        "email,lastName,allowBulkEmail,consentLevel\n"
        "cy@example.com,Cy,yes,marketing\n"
        "dee@example.com,Dee,,\n",
    )
    assert out["created"] == 2
    docs = await api.db.interactions.find({"type": "consent_changed"}).to_list()
    (doc,) = docs  # dee's row changed no consent field
    assert doc["details"]["via"] == "import"
    assert doc["details"]["source"].endswith(" line 2")
    assert doc["details"]["changes"] == [
        {"field": "preferences.allowBulkEmail", "old": False, "new": True},
        {"field": "consent.level", "old": None, "new": "marketing"},
    ]
    cy = await api.db.contacts.find_one({"_id": doc["contactId"]})
    assert cy["email"] == "cy@example.com" and cy["preferences"]["allowBulkEmail"] is True


async def test_consent_records_cannot_be_forged_through_record_interaction(api):
    cid = await api.gql(
        'mutation { createContact(input: {email: "x@example.com"}) '
        "{ ... on ContactPayload { contact { id } } } }"
    )
    cid = cid["createContact"]["contact"]["id"]
    out = await api.gql(
        """mutation($c: ID!) { recordInteraction(input: {contact: $c, type: CONSENT_CHANGED,
           details: {changes: []}}) { __typename ... on ValidationError { field } } }""",
        {"c": cid},
    )
    assert out["recordInteraction"] == {"__typename": "ValidationError", "field": "input.type"}
    assert await api.db.interactions.count_documents({}) == 0
