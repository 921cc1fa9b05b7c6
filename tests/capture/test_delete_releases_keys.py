"""Deleting a captured record releases its match keys: the next submission with the same email
creates a fresh contact (and lead) instead of pointing at the deleted one; the deleted
person's leads keep no copy of them, so orphan linking cannot re-create them."""

from .helpers import submit


async def test_a_deleted_contact_is_not_matched_again(api):
    first = await submit(api, "landing-trial", {"email": "gone@example.com", "lastName": "Gone"})
    cid = first["contact"]["id"]
    out = await api.gql("mutation($id: ID!) { deleteContact(id: $id) { __typename } }", {"id": cid})
    assert out["deleteContact"]["__typename"] == "DeletePayload"
    # the contact's key and its anonymised lead's key are both released
    assert await api.db["match_keys"].count_documents({}) == 0
    lead = await api.db["leads"].find_one({})
    assert lead["email"] is None and lead["lastName"] is None and lead["anonymizedAt"]
    linked = await api.gql(
        "mutation { linkOrphanLeads { ... on LinkOrphansPayload { linked contactsCreated } } }"
    )
    assert linked["linkOrphanLeads"] == {"linked": 0, "contactsCreated": 0}
    assert await api.db["contacts"].count_documents({}) == 0
    again = await submit(api, "landing-trial", {"email": "gone@example.com", "lastName": "Gone"})
    assert again["contactCreated"] is True and again["contact"]["id"] != cid
    data = await api.gql(
        "query($id: ID!) { contact(id: $id) { email } }", {"id": again["contact"]["id"]}
    )
    assert data["contact"]["email"] == "gone@example.com"
    assert await api.db["contacts"].count_documents({}) == 1
    assert await api.db["leads"].count_documents({}) == 2  # a new lead; the old one anonymous
