"""A partner's fuzzy matching kind (no key, ``find`` decides), registered in a real plugin
manager and assigned to a form by a rule file, is what capture, import and orphan linking use."""

from __future__ import annotations

from conftest import Api

from .helpers import submit
from .test_import import run

LINK = "mutation { linkOrphanLeads { ... on LinkOrphansPayload { linked contactsCreated "
LINK += "contactsMatched leads { id parentContact { id } } } } }"
CREATE_LEAD = """mutation($i: CreateLeadInput!) { createLead(input: $i) {
  ... on LeadPayload { lead { id } } } }"""


async def test_partner_kind_finds_the_contact_on_every_road(partner: Api) -> None:
    first = await submit(partner, "booth", {"email": "a@x.com", "lastName": "Berg"})
    second = await submit(partner, "booth", {"email": "b@y.com", "lastName": "berg"})
    assert first["contactCreated"] and second["contactMatch"]["matched"]
    assert second["contactMatch"]["strategy"] == "contact-surname"
    assert second["contactMatch"]["kind"] == "surname"
    assert second["contact"]["id"] == first["contact"]["id"]
    assert second["contact"]["email"] == "b@y.com"

    out = await run(
        partner, "CONTACTS", "email,lastName,firstName\nc@z.com,BERG,Cy\n", formId="booth"
    )
    assert (out["created"], out["updated"]) == (0, 1), out
    assert await partner.db.contacts.count_documents({}) == 1
    stored = await partner.db.contacts.find_one({})
    assert stored is not None and stored["firstName"] == "Cy"

    lead = await partner.gql(
        CREATE_LEAD, {"i": {"topic": "stand visit", "formId": "booth", "lastName": "Berg"}}
    )
    linked = (await partner.gql(LINK))["linkOrphanLeads"]
    assert (linked["linked"], linked["contactsMatched"], linked["contactsCreated"]) == (1, 1, 0)
    assert linked["leads"][0]["id"] == lead["createLead"]["lead"]["id"]
    assert linked["leads"][0]["parentContact"]["id"] == first["contact"]["id"]
    assert await partner.db.contacts.count_documents({}) == 1
