"""Event registrations (issue 20 point 5): the lead's topic is the event's name unless the
form names one, so the shipped "Contoso Ltd Conference" x decision-maker segment finds the
registrants; the new contact's ``marketingSource`` is ``event:<id>``, not ``event:event:<id>``."""

from __future__ import annotations

from foundation import oid_of

REGISTER = """mutation($i: RegisterForEventInput!) { registerForEvent(input: $i) { __typename
  ... on CapturePayload { contact { id } lead { id topic marketingContext { kind name } } } } }"""
SEGMENT = "contoso-conference-decision-makers"
MEMBERS = """query($n: String!) { segment(name: $n) { members(first: 10) {
  edges { node { id } } } } }"""


async def _register(api, email, **extra):
    fields = {"email": email, "role": "decisionMaker", "lastName": "Ng", **extra.pop("f", {})}
    out = await api.gql(REGISTER, {"i": {"eventId": "contoso-2027", "fields": fields, **extra}})
    assert out["registerForEvent"]["__typename"] == "CapturePayload", out
    return out["registerForEvent"]


async def test_a_registration_gives_the_lead_the_events_name_as_topic(api):
    got = await _register(api, "dm@x.com", eventName="Contoso Ltd Conference")
    assert got["lead"]["topic"] == "Contoso Ltd Conference"
    assert got["lead"]["marketingContext"] == {"kind": "EVENT", "name": "Contoso Ltd Conference"}
    contact = await api.db.contacts.find_one({"_id": oid_of(got["contact"]["id"])})
    assert contact["marketingSource"] == "event:contoso-2027"

    own = await _register(
        api, "dm2@x.com", eventName="Contoso Ltd Conference", f={"topic": "Booth demo"}
    )
    assert own["lead"]["topic"] == "Booth demo"  # the form says otherwise
    unnamed = await _register(api, "dm3@x.com", formId="reg-form")
    assert unnamed["lead"]["topic"] == "contoso-2027"  # no name: the event's id
    contact = await api.db.contacts.find_one({"_id": oid_of(unnamed["contact"]["id"])})
    assert contact["marketingSource"] == "event:reg-form"

    data = await api.gql(MEMBERS, {"n": SEGMENT})
    ids = [e["node"]["id"] for e in data["segment"]["members"]["edges"]]
    assert ids == [got["contact"]["id"]]
