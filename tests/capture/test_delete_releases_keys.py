"""Deleting a captured record releases its match keys: the next submission with the same email
creates a fresh contact instead of pointing at the deleted one."""

from .helpers import submit


async def test_a_deleted_contact_is_not_matched_again(api):
    first = await submit(api, "landing-trial", {"email": "gone@example.com", "lastName": "Gone"})
    cid = first["contact"]["id"]
    out = await api.gql("mutation($id: ID!) { deleteContact(id: $id) { __typename } }", {"id": cid})
    assert out["deleteContact"]["__typename"] == "DeletePayload"
    assert await api.db["match_keys"].count_documents({}) == 1  # the lead's key only
    again = await submit(api, "landing-trial", {"email": "gone@example.com", "lastName": "Gone"})
    assert again["contactCreated"] is True and again["contact"]["id"] != cid
    data = await api.gql(
        "query($id: ID!) { contact(id: $id) { email } }", {"id": again["contact"]["id"]}
    )
    assert data["contact"]["email"] == "gone@example.com"
    assert await api.db["contacts"].count_documents({}) == 1
