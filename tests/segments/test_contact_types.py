"""Partners, vendors, speakers and sponsors are contacts too (seed 000; issue 20 point 7): a
contact type from a closed vocabulary that rule files extend (the shipped
rules/contact_types.yaml adds ``analyst``), filterable, usable in conditions, and any other
value refused naming the known ones."""

from __future__ import annotations

from typing import Any

from bson import ObjectId

from .helpers import CREATE, MEMBERS

KNOWN = "customer, prospect, partner, vendor, speaker, sponsor, analyst"
CONTACT = """mutation($i: CreateContactInput!) { createContact(input: $i) { __typename
  ... on ContactPayload { contact { id contactType } }
  ... on ValidationError { code fields { field message } } } }"""
UPDATE = """mutation($i: UpdateContactInput!) { updateContact(input: $i) { __typename
  ... on ContactPayload { contact { id contactType } }
  ... on ValidationError { code fields { field message } } } }"""


async def _contact(api: Any, kind: str | None) -> dict[str, Any]:
    fields = {"lastName": "Lee", "email": f"{ObjectId()}@contoso.com", "contactType": kind}
    return dict((await api.gql(CONTACT, {"i": fields}))["createContact"])


async def test_contact_types_are_stored_filtered_and_segmented(api: Any) -> None:
    speaker = (await _contact(api, "speaker"))["contact"]
    analyst = (await _contact(api, "analyst"))["contact"]  # declared by a rule file
    await _contact(api, None)
    assert speaker["contactType"] == "speaker" and analyst["contactType"] == "analyst"

    listed = await api.gql(
        '{ contacts(filter: {contactType: "speaker"}) { totalCount edges { node { id } } } }'
    )
    assert listed["contacts"]["totalCount"] == 1
    assert listed["contacts"]["edges"][0]["node"]["id"] == speaker["id"]

    where = {"fact": "contact.contactType", "op": "in", "value": ["speaker", "analyst"]}
    out = (await api.gql(CREATE, {"i": {"name": "talkers", "where": where}}))["createSegment"]
    assert out["__typename"] == "SegmentPayload", out
    members = (await api.gql(MEMBERS, {"n": "talkers"}))["segment"]["members"]
    assert sorted(e["node"]["id"] for e in members["edges"]) == sorted(
        [speaker["id"], analyst["id"]]
    )

    changed = await api.gql(UPDATE, {"i": {"id": speaker["id"], "contactType": "sponsor"}})
    assert changed["updateContact"]["contact"]["contactType"] == "sponsor"
    cleared = await api.gql(UPDATE, {"i": {"id": speaker["id"], "contactType": None}})
    assert cleared["updateContact"]["contact"]["contactType"] is None


async def test_an_unknown_contact_type_is_refused_naming_the_known_ones(api: Any) -> None:
    out = await _contact(api, "speeker")
    assert out["__typename"] == "ValidationError" and out["code"] == "BAD_USER_INPUT"
    assert out["fields"] == [
        {
            "field": "input.contactType",
            "message": f"unknown contact type 'speeker'; did you mean 'speaker'? "
            f"expected one of: {KNOWN}",
        }
    ]
    assert await api.db.contacts.count_documents({}) == 0

    response = await api.post('{ contacts(filter: {contactType: "judge"}) { totalCount } }')
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["fields"] == [
        {
            "field": "filter.contactType",
            "message": f"unknown contact type 'judge'; expected one of: {KNOWN}",
        }
    ]

    where = {"fact": "contact.contactType", "value": "judge"}
    out = (await api.gql(CREATE, {"i": {"name": "judges", "where": where}}))["createSegment"]
    assert out["__typename"] == "ValidationError"
    assert out["fields"][0]["field"] == "input.where.value"
    assert KNOWN in out["fields"][0]["message"]
