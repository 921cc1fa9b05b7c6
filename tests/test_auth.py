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


class CacheClock:
    """The clock of the server's cache of verified keys, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def key_cache(server, monkeypatch):
    """The server's cache of verified keys on a clock the test moves."""
    cache = server.state.leadgraph.verified_keys
    clock = CacheClock()
    monkeypatch.setattr(cache, "clock", clock)
    return cache, clock


def _unauthenticated(response) -> bool:
    return (
        response.status_code == 401
        and response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    )


async def test_revoked_key_is_401_once_the_cached_check_expires(api, key_cache):
    """A key found live is trusted for key_cache_seconds, never longer: then it is read again
    and its revocation applies."""
    cache, clock = key_cache
    key = await api.key("admin")
    assert (await api.post(QUERY)).status_code == 200
    assert await keys.revoke(api.db, key)
    clock.now += cache.ttl * 0.9
    assert (await api.post(QUERY)).status_code == 200  # the check of 0.9 * ttl ago
    clock.now += cache.ttl * 0.2
    assert _unauthenticated(await api.post(QUERY))
    clock.now += cache.ttl * 10  # a revoked key is never cached: refused at every request
    assert _unauthenticated(await api.post(QUERY))


async def test_revoked_key_is_401_at_once_without_the_cache(api, key_cache, monkeypatch):
    cache, _ = key_cache
    monkeypatch.setattr(cache, "ttl", 0.0)  # LEADGRAPH_KEY_CACHE_SECONDS=0
    key = await api.key("admin")
    assert (await api.post(QUERY)).status_code == 200
    assert await keys.revoke(api.db, key)
    assert _unauthenticated(await api.post(QUERY))


async def test_changed_role_applies_once_the_cached_check_expires(api, key_cache):
    cache, clock = key_cache
    key = await api.key("admin")
    out = await api.gql(CREATE_ACCOUNT, {"i": {"name": "Acme"}})
    assert out["createAccount"]["__typename"] != "ForbiddenError"
    assert await keys.set_role(api.db, key, "read-only")
    clock.now += cache.ttl * 1.1
    out = await api.gql(CREATE_ACCOUNT, {"i": {"name": "Other"}})
    assert out["createAccount"]["__typename"] == "ForbiddenError"


async def test_key_cache_holds_at_most_its_bound(api, key_cache, monkeypatch):
    """More live keys than the cache holds: it stays at its bound (the oldest go first), every
    key still works, and keys that are not live take no room."""
    cache, _ = key_cache
    monkeypatch.setattr(cache, "_entries", {})
    monkeypatch.setattr(cache, "max_entries", 3)
    clear = [(await keys.create(api.db, "read-only", f"many {i}"))[0] for i in range(6)]
    for _ in range(2):
        for key in clear:
            response = await api.post(QUERY, role=None, headers={"Authorization": f"Bearer {key}"})
            assert response.status_code == 200
            assert len(cache) <= 3
    for i in range(5):
        bad = {"Authorization": f"Bearer lg_no-such-key-{i}"}
        assert _unauthenticated(await api.post(QUERY, role=None, headers=bad))
    assert len(cache) == 3


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
