"""A record's match keys follow its current values (issue 9, point 9): after ``updateContact``
moves a contact from ann@ to bob@, a submission for bob@ finds it and one for ann@ does not;
a new value another record holds is a typed conflict that writes nothing; keys a merge moved
onto the survivor are aliases and stay when the survivor's own values change."""

from __future__ import annotations

from typing import Any

from capture.helpers import submit
from conftest import Api
from foundation import oid_of

UPDATE_CONTACT = """mutation($i: UpdateContactInput!) { updateContact(input: $i) {
  __typename
  ... on ContactPayload { contact { id email firstName } }
  ... on ConflictError { message code } } }"""
UPDATE_LEAD = """mutation($i: UpdateLeadInput!) { updateLead(input: $i) {
  __typename
  ... on LeadPayload { lead { id email } }
  ... on ConflictError { message code } } }"""
MERGE = """mutation($s: ID!, $d: [ID!]!) { mergeContacts(survivorId: $s, duplicateIds: $d) {
  __typename } }"""


async def _update_contact(api: Api, **fields: Any) -> dict[str, Any]:
    return (await api.gql(UPDATE_CONTACT, {"i": fields}))["updateContact"]


async def test_contact_keys_follow_an_edited_email(api: Api) -> None:
    ann = await submit(api, "f1", {"email": "ann@x.com", "firstName": "Ann"})
    cid = ann["contact"]["id"]
    moved = await _update_contact(api, id=cid, email="bob@x.com", firstName="Bob")
    assert moved["__typename"] == "ContactPayload", moved

    bob = await submit(api, "f1", {"email": "Bob@X.com"})
    assert not bob["contactCreated"] and bob["contact"]["id"] == cid

    again = await submit(api, "f1", {"email": "ann@x.com", "firstName": "Ann"})
    assert again["contactCreated"] and again["contact"]["id"] != cid
    kept = await api.db.contacts.find_one({"_id": oid_of(cid)})
    assert kept is not None
    assert (kept["emailNormalized"], kept["firstName"]) == ("bob@x.com", "Bob")
    assert await api.db.contacts.count_documents({}) == 2


async def test_a_value_another_contact_holds_is_a_conflict_and_writes_nothing(api: Api) -> None:
    ann = await submit(api, "f1", {"email": "ann@x.com"})
    dan = await submit(api, "f1", {"email": "dan@x.com", "firstName": "Dan"})
    keys_before = sorted([d async for d in api.db.match_keys.find({})], key=lambda d: d["_id"])

    out = await _update_contact(api, id=dan["contact"]["id"], email="ANN@x.com", firstName="X")
    assert out["__typename"] == "ConflictError" and out["code"] == "CONFLICT"
    assert str(oid_of(ann["contact"]["id"])) in out["message"]
    assert "ann@x.com" in out["message"]
    doc = await api.db.contacts.find_one({"_id": oid_of(dan["contact"]["id"])})
    assert doc is not None
    assert (doc["email"], doc["firstName"]) == ("dan@x.com", "Dan")
    keys_after = sorted([d async for d in api.db.match_keys.find({})], key=lambda d: d["_id"])
    assert keys_after == keys_before

    same = await _update_contact(api, id=dan["contact"]["id"], firstName="Daniel")
    assert same["__typename"] == "ContactPayload"  # unchanged values claim nothing new


async def test_merge_aliases_stay_with_the_survivor(api: Api) -> None:
    eve = await submit(api, "f1", {"email": "eve@x.com"})
    dup = await submit(api, "f1", {"email": "eve.b@x.com"})
    survivor = eve["contact"]["id"]
    merged = await api.gql(MERGE, {"s": survivor, "d": [dup["contact"]["id"]]})
    assert merged["mergeContacts"]["__typename"] == "MergePayload"
    alias = await api.db.match_keys.find_one({"_id": "contacts:email:eve.b@x.com"})
    assert alias is not None
    assert alias["alias"] is True and alias["recordId"] == oid_of(survivor)

    await _update_contact(api, id=survivor, email="eva@x.com")
    via_alias = await submit(api, "f1", {"email": "eve.b@x.com"})
    assert not via_alias["contactCreated"] and via_alias["contact"]["id"] == survivor
    via_new = await submit(api, "f1", {"email": "eva@x.com"})
    assert via_new["contact"]["id"] == survivor
    via_old = await submit(api, "f1", {"email": "eve@x.com"})
    assert via_old["contactCreated"]


async def test_lead_keys_follow_an_edited_email(api: Api) -> None:
    lee = await submit(api, "f2", {"email": "lee@x.com"})
    lid = lee["lead"]["id"]
    out = (await api.gql(UPDATE_LEAD, {"i": {"id": lid, "email": "lou@x.com"}}))["updateLead"]
    assert out == {"__typename": "LeadPayload", "lead": {"id": lid, "email": "lou@x.com"}}

    lou = await submit(api, "f2", {"email": "lou@x.com"})
    assert lou["leadMatch"]["matched"] and lou["lead"]["id"] == lid
    back = await submit(api, "f2", {"email": "lee@x.com"})
    assert back["leadCreated"] and back["lead"]["id"] != lid

    clash = (await api.gql(UPDATE_LEAD, {"i": {"id": lid, "email": "lee@x.com"}}))["updateLead"]
    assert clash["__typename"] == "ConflictError", clash
    assert str(oid_of(back["lead"]["id"])) in clash["message"]
