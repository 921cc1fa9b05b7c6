"""Data protection: export everything about a person as one JSON document; erase them in one
transaction, so that neither an import nor orphan linking brings them back, while their own
new submission makes a new, consented contact.  Admin only, audited without personal data."""

from __future__ import annotations

import json

from bson import json_util
from capture.helpers import submit
from foundation import create_contact, create_lead, create_lists, oid_of

from .helpers import LINK, import_rows

EXPORT = """
mutation($id: ID!) { exportContactData(id: $id) {
  __typename ... on ContactDataExport { contactId document } ... on Error { message code } } }
"""
ERASE = """
mutation($id: ID!) { eraseContact(id: $id) {
  __typename ... on ErasePayload { erasedId counts } ... on Error { message code } } }
"""
MERGE = """
mutation($s: ID!, $d: [ID!]!) { mergeContacts(survivorId: $s, duplicateIds: $d) { __typename } }
"""
PERSON = ("ann.lee@example.com", "ann.alt@example.com", "Lee", "Annabel")


async def _ann(api):
    """A person with everything: a form submission (lead, interaction, consent, a recorded
    submission), a merged duplicate under another email, a lead created by hand with her
    email and no parent (an orphan)."""
    await create_lists(api, "news")
    out = await submit(
        api,
        "trial",
        {
            "email": "Ann.Lee@example.com",
            "firstName": "Annabel",
            "lastName": "Lee",
            "allowBulkEmail": True,
            "subscriptions": ["news"],
        },
        idempotencyKey="ann-trial-1",
    )
    ann = out["contact"]["id"]
    dup = await create_contact(
        api, email="ann.alt@example.com", firstName="Annabel", lastName="Lee"
    )
    assert (await api.gql(MERGE, {"s": ann, "d": [dup]}))["mergeContacts"]["__typename"] == (
        "MergePayload"
    )
    orphan = await create_lead(api, topic="Pricing", email="ann.lee@example.com", lastName="Lee")
    return ann, dup, out["lead"]["id"], orphan["id"]


async def _everything(api) -> str:
    """Every document of every collection, as text."""
    parts = []
    for name in await api.db.list_collection_names():
        docs = await api.db[name].find({}).to_list()
        parts.append(json_util.dumps(docs))
    return "\n".join(parts).lower()


async def test_export_holds_everything_about_the_person(api):
    ann, dup, lead, orphan = await _ann(api)
    out = (await api.gql(EXPORT, {"id": ann}))["exportContactData"]
    assert out["__typename"] == "ContactDataExport" and out["contactId"] == ann
    doc = out["document"]
    assert doc["contact"]["email"] == "Ann.Lee@example.com"
    assert doc["contact"]["_id"] == str(oid_of(ann))
    assert doc["subscriptions"] == {"subscribed": ["news"], "unsubscribed": []}
    assert doc["preferences"]["allowBulkEmail"] is True
    leads = {d["_id"]: d for d in doc["leads"]}
    assert set(leads) == {str(oid_of(lead)), str(oid_of(orphan))}  # hers and the orphan
    assert leads[str(oid_of(lead))]["email"] == "Ann.Lee@example.com"
    assert leads[str(oid_of(lead))]["firstName"] == "Annabel"
    assert {s["leadId"] for s in doc["scores"]} == set(leads)
    assert any(h["stageHistory"] for h in doc["stageHistory"])
    assert str(oid_of(lead)) in {h["leadId"] for h in doc["scoreHistory"]}
    types = sorted(i["type"] for i in doc["interactions"])
    assert types == ["consent_changed", "form_submitted"]
    (consent,) = doc["consentHistory"]
    assert consent["details"]["via"] == "form"
    (merge,) = doc["merges"]
    assert merge["duplicateIds"] == [str(oid_of(dup))]
    assert merge["duplicates"][0]["email"] == "ann.alt@example.com"
    keys = {k["_id"] for k in doc["matchKeys"]}
    assert keys == {
        "contacts:email:ann.lee@example.com",
        "contacts:email:ann.alt@example.com",  # the merged-away email, now her alias
        "leads:email+formId:ann.lee@example.com|trial",
    }
    assert doc["opportunities"] == []  # none qualified yet
    (submission,) = doc["submissions"]
    assert submission["key"] == "ann-trial-1" and submission["operation"] == "submitForm"
    json.dumps(doc)  # one plain JSON document
    (audit,) = await api.db.privacy_audit.find({}).to_list()
    assert audit["action"] == "export" and audit["contactId"] == oid_of(ann)
    assert audit["by"] == {"name": "test admin", "role": "admin"}


async def test_erase_then_import_and_orphan_linking_do_not_bring_the_person_back(api):
    ann, _, lead, _ = await _ann(api)
    out = (await api.gql(ERASE, {"id": ann}))["eraseContact"]
    assert out["__typename"] == "ErasePayload" and out["erasedId"] == ann
    assert out["counts"]["leadsAnonymized"] == 2 and out["counts"]["suppressed"] == 2
    assert out["counts"]["merges"] == 1 and out["counts"]["submissions"] == 1

    # nothing of the person is left anywhere: not a name, not an email
    text = await _everything(api)
    for value in PERSON:
        assert value.lower() not in text, value
    assert await api.db.contacts.count_documents({}) == 0
    assert await api.db.match_keys.count_documents({}) == 0
    stored = await api.db.leads.find_one({"_id": oid_of(lead)})
    assert stored["topic"] and stored["stage"] and stored["anonymizedAt"]  # the funnel's data
    assert stored["parentContactId"] is None and stored["email"] is None

    # the audit record says what happened, by whom, and nothing about the person
    audit = await api.db.privacy_audit.find_one({"action": "erase"})
    assert audit["contactId"] == oid_of(ann) and audit["by"]["name"] == "test admin"
    assert audit["counts"]["interactions"] == 2
    for value in PERSON:
        assert value.lower() not in json_util.dumps(audit).lower()

    # an old export re-imported: both emails refused, as contacts and as leads
    again = await import_rows(
        api,
        "CONTACTS",
        "email,firstName,lastName\nann.lee@example.com,Annabel,Lee\nANN.ALT@example.com,A,L\n"
        "kim@example.com,Kim,Ko\n",
    )
    assert again["created"] == 1 and again["rejected"] == 2
    assert {r["reason"] for r in again["rejectedRows"]} == {
        "suppressed: this person's data was erased on request"
    }
    leads_file = await import_rows(
        api, "LEADS", "email,lastName,topic\nann.lee@example.com,Lee,Webinar\n"
    )
    assert leads_file["rejected"] == 1 and leads_file["contactsCreated"] == 0

    # a sales rep types her in as an orphan lead: linking leaves it alone
    await create_lead(api, topic="Call back", email="ann.lee@example.com", lastName="Lee")
    linked = (await api.gql(LINK))["linkOrphanLeads"]
    assert linked == {"linked": 0, "contactsCreated": 0, "suppressed": 1}
    emails = [c["emailNormalized"] async for c in api.db.contacts.find({})]
    assert emails == ["kim@example.com"]


async def test_her_own_new_submission_makes_a_new_consented_contact(api):
    ann, *_ = await _ann(api)
    await api.gql(ERASE, {"id": ann})
    back = await submit(
        api, "trial", {"email": "ann.lee@example.com", "lastName": "Lee", "allowBulkEmail": True}
    )
    assert back["contactCreated"] and back["leadCreated"] and back["contact"]["id"] != ann
    assert back["contact"]["preferences"]["allowBulkEmail"] is True
    assert back["contact"]["subscriptions"] == []  # nothing of the erased contact returns
    # the suppression of that email is lifted (recorded, without the address)
    cleared = await api.db.privacy_audit.find_one({"action": "suppression_cleared"})
    assert cleared["by"] == {"source": "form:trial"}
    assert "ann" not in json_util.dumps(cleared).lower()
    imported = await import_rows(api, "CONTACTS", "email,firstName\nann.lee@example.com,Ann\n")
    assert imported["updated"] == 1 and imported["rejected"] == 0
    # the merged duplicate's email stays suppressed
    other = await import_rows(api, "CONTACTS", "email\nann.alt@example.com\n")
    assert other["rejected"] == 1


async def test_export_and_erase_are_for_admins_only(api):
    ann, *_ = await _ann(api)
    for role in ("marketer", "sales", "read-only"):
        for doc in (EXPORT, ERASE):
            body = (await api.post(doc, {"id": ann}, role=role)).json()["data"]
            (answer,) = body.values()
            assert answer["__typename"] == "ForbiddenError" and answer["code"] == "FORBIDDEN"
    assert await api.db.contacts.count_documents({}) == 1
    assert await api.db.privacy_audit.count_documents({}) == 0
    missing = "Q29udGFjdDo2NTAwMDAwMDAwMDAwMDAwMDAwMDAwMDA="
    assert (await api.gql(ERASE, {"id": missing}))["eraseContact"]["code"] == "NOT_FOUND"
    assert (await api.gql(EXPORT, {"id": missing}))["exportContactData"]["code"] == "NOT_FOUND"
