"""Merge aliases (issue 20 point 3): after ``mergeContacts`` the merged-away email stays the
survivor's, even for contacts entered by hand (which hold no match keys until a merge claims
them): a later form submission, import or orphan-lead link with that email finds the survivor,
through the one matching service (createLead links an orphan lead at once); undoing the merge
gives the keys back to the duplicate."""

from __future__ import annotations

from foundation import create_contact, create_lead, oid_of
from privacy.helpers import import_rows

from capture.helpers import submit

MERGE = """mutation($s: ID!, $d: [ID!]!) { mergeContacts(survivorId: $s, duplicateIds: $d) {
  __typename ... on MergePayload { merge { id } } } }"""
UNDO = """mutation($m: String!) { undoMerge(mergeId: $m) { __typename } }"""


async def test_the_merged_away_email_finds_the_survivor_everywhere(api):
    survivor = await create_contact(api, email="kim@x.com", lastName="Kim")
    dup = await create_contact(api, email="Kim.Work@X.com", lastName="Kim")
    merged = await api.gql(MERGE, {"s": survivor, "d": [dup]})
    assert merged["mergeContacts"]["__typename"] == "MergePayload", merged
    alias = await api.db.match_keys.find_one({"_id": "contacts:email:kim.work@x.com"})
    assert alias is not None and alias["alias"] is True
    assert alias["recordId"] == oid_of(survivor)

    via_form = await submit(api, "f1", {"email": "kim.work@x.com", "firstName": "Kim"})
    assert via_form["__typename"] == "CapturePayload", via_form
    assert not via_form["contactCreated"] and via_form["contact"]["id"] == survivor

    imported = await import_rows(api, "CONTACTS", "email,jobTitle\nKIM.WORK@x.com,CTO\n")
    assert imported["__typename"] == "ImportSummary", imported
    assert imported["created"] == 0 and imported["updated"] == 1
    doc = await api.db.contacts.find_one({"_id": oid_of(survivor)})
    assert doc["jobTitle"] == "CTO"

    # a lead entered with no parent is linked at once, through the same matching
    orphan = await create_lead(api, "id parentContact { id }", topic="Demo", email="kim.work@x.com")
    assert orphan["parentContact"] == {"id": survivor}
    assert await api.db.contacts.count_documents({}) == 1


async def test_undoing_a_merge_gives_the_duplicate_its_email_back(api):
    survivor = await create_contact(api, email="lee@x.com", lastName="Lee")
    dup = await create_contact(api, email="lee.b@x.com", lastName="Lee")
    merged = await api.gql(MERGE, {"s": survivor, "d": [dup]})
    undone = await api.gql(UNDO, {"m": merged["mergeContacts"]["merge"]["id"]})
    assert undone["undoMerge"]["__typename"] == "UndoMergePayload", undone
    again = await submit(api, "f1", {"email": "lee.b@x.com"})
    assert not again["contactCreated"] and again["contact"]["id"] == dup
