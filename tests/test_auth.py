"""API keys and roles: 401 without a live key, typed ForbiddenError per role, query limits."""

from __future__ import annotations

import pytest
from bson import ObjectId
from foundation import gid
from leadgraph.store import keys
from leadgraph.web.auth import ROLES
from test_mutations import CREATE_ACCOUNT, CREATE_CONTACT, DELETE, ERRORS, RECORD, counts

QUERY = "{ contacts { totalCount } }"


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "missing API key"),
        ({"Authorization": "Bearer lg_not-a-real-key"}, "invalid or revoked"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "invalid or revoked"),
        ({"Authorization": "Bearer"}, "invalid or revoked"),
    ],
)
async def test_missing_or_wrong_key_is_401_json(api, headers, message):
    for send in (
        api.http.post(f"{api.base_url}/graphql", json={"query": QUERY}, headers=headers),
        api.http.get(f"{api.base_url}/graphql", params={"query": QUERY}, headers=headers),
    ):
        response = await send
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/json")
        assert response.headers["www-authenticate"].startswith("Bearer")
        (error,) = response.json()["errors"]
        assert error["extensions"]["code"] == "UNAUTHENTICATED"
        assert message in error["message"]
        assert "data" not in response.json()


async def test_revoked_key_is_401(api):
    key = await api.key("admin")
    assert (await api.post(QUERY)).status_code == 200
    assert await keys.revoke(api.db, key)
    response = await api.post(QUERY)
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_read_only_reads_but_cannot_write(api):
    await api.gql(CREATE_CONTACT, {"i": {"lastName": "Lee"}})
    before = await counts(api.db)
    data = await api.gql(QUERY, role="read-only")
    assert data["contacts"]["totalCount"] == 1
    out = await api.gql(CREATE_CONTACT, {"i": {"lastName": "New"}}, role="read-only")
    assert out["createContact"] == {
        "__typename": "ForbiddenError",
        "message": "role 'read-only' may not contacts:write",
        "code": "FORBIDDEN",
        "permission": "contacts:write",
        "role": "read-only",
    }
    cid = gid("Contact", (await api.db.contacts.find_one({}))["_id"])
    out = await api.gql(RECORD, {"i": {"contact": cid, "type": "EMAIL_SENT"}}, role="read-only")
    assert out["recordInteraction"]["__typename"] == "ForbiddenError"
    out = await api.gql(
        DELETE.format(name="deleteContact", errors=ERRORS), {"id": cid}, role="read-only"
    )
    assert out["deleteContact"]["__typename"] == "ForbiddenError"
    assert await counts(api.db) == before


CAN = {
    # role: (create contact, create account, record interaction, delete contact)
    "sales": (True, False, True, False),
    "marketer": (True, True, True, False),
    "admin": (True, True, True, True),
}


def test_permission_table_matches_roles():
    for role, (contact, account, interaction, delete) in CAN.items():
        granted = ROLES[role]
        assert ("contacts:write" in granted) == contact
        assert ("accounts:write" in granted) == account
        assert ("interactions:write" in granted) == interaction
        assert ("contacts:delete" in granted) == delete
    assert ROLES["read-only"] == frozenset()


@pytest.mark.parametrize("role", sorted(CAN))
async def test_role_permissions_through_the_api(api, role):
    can_contact, can_account, can_interaction, can_delete = CAN[role]
    out = (await api.gql(CREATE_CONTACT, {"i": {"lastName": "Lee"}}, role=role))["createContact"]
    assert (out["__typename"] == "ContactPayload") == can_contact, out
    out = (await api.gql(CREATE_ACCOUNT, {"i": {"name": "Acme"}}, role=role))["createAccount"]
    assert out["__typename"] == ("AccountPayload" if can_account else "ForbiddenError"), out
    if not can_account:
        assert out["permission"] == "accounts:write" and out["role"] == role
        assert await api.db.accounts.count_documents({}) == 0
    cid = gid("Contact", (await api.db.contacts.find_one({}))["_id"])
    out = await api.gql(RECORD, {"i": {"contact": cid, "type": "EMAIL_SENT"}}, role=role)
    assert (out["recordInteraction"]["__typename"] == "InteractionPayload") == can_interaction
    out = await api.gql(DELETE.format(name="deleteContact", errors=ERRORS), {"id": cid}, role=role)
    assert out["deleteContact"]["__typename"] == (
        "DeletePayload" if can_delete else "ForbiddenError"
    )
    assert await api.db.contacts.count_documents({}) == (0 if can_delete else 1)


async def test_forbidden_is_checked_before_input(api):
    # a read-only caller learns nothing about ids: forbidden comes first
    out = await api.gql(
        DELETE.format(name="deleteLead", errors=ERRORS),
        {"id": gid("Lead", ObjectId())},
        role="read-only",
    )
    assert out["deleteLead"]["__typename"] == "ForbiddenError"


async def _rejected(api, query):
    response = await api.post(query)
    assert response.status_code == 200
    body = response.json()
    assert "data" not in body or body["data"] is None
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    return error["message"]


async def test_depth_alias_and_token_limits(api):
    ok = "{ contacts { edges { node { account { contacts { edges { node { id } } } } } } } }"
    await api.gql(ok)
    deep = "{ contacts { edges { node { id " + "account { contacts { edges { node { " * 4
    deep += "id" + " } } } }" * 4 + " } } } }"
    assert "depth" in await _rejected(api, deep)

    aliases = " ".join(f"a{i}: contacts {{ totalCount }}" for i in range(40))
    assert "alias" in (await _rejected(api, "{ " + aliases + " }")).lower()
    await api.gql("{ " + " ".join(f"a{i}: contacts {{ totalCount }}" for i in range(5)) + " }")

    many = "{ contacts { edges { node { " + " ".join(["id"] * 5000) + " } } } }"
    response = await api.post(many)
    body = response.json()
    assert "data" not in body or body["data"] is None
    assert "token" in body["errors"][0]["message"].lower()
    assert body["errors"][0]["extensions"]["code"]
