"""GraphQL over HTTP: GET/POST, media types and status codes, GraphiQL, health endpoints."""

from __future__ import annotations

import pytest
from test_mutations import CREATE_CONTACT

GRAPHQL_RESPONSE = "application/graphql-response+json"
QUERY = "{ contacts { totalCount } }"


@pytest.fixture
async def auth(api):
    return {"Authorization": f"Bearer {await api.key('admin')}"}


async def test_get_runs_queries(api, auth):
    response = await api.http.get(
        f"{api.base_url}/graphql",
        params={
            "query": "query($n: Int) { contacts(first: $n) { totalCount } }",
            "variables": '{"n": 1}',
        },
        headers=auth,
    )
    assert response.status_code == 200
    assert response.json() == {
        "data": {"contacts": {"totalCount": 0}},
        "extensions": {"cost": {"requested": 2, "budget": 50_000}},
    }


async def test_get_refuses_mutations_with_405(api, auth):
    response = await api.http.get(
        f"{api.base_url}/graphql",
        params={"query": 'mutation { createContact(input: {lastName: "X"}) { __typename } }'},
        headers=auth,
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    assert await api.db.contacts.count_documents({}) == 0


async def test_post_json_runs_mutations(api):
    response = await api.post(CREATE_CONTACT, {"i": {"lastName": "Lee"}})
    assert response.status_code == 200
    assert response.json()["data"]["createContact"]["__typename"] == "ContactPayload"


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, application/json;q=0.9", GRAPHQL_RESPONSE),
        (f"application/json, {GRAPHQL_RESPONSE};q=0.5", "application/json"),
        ("application/json", "application/json"),
        ("*/*", "application/json"),
        (None, "application/json"),
    ],
)
async def test_response_media_type_follows_accept(api, accept, media_type):
    headers = {"Accept": accept} if accept else {}
    ok = await api.post(QUERY, headers=headers)
    assert ok.status_code == 200
    assert ok.headers["content-type"].split(";")[0] == media_type
    assert ok.json()["data"] == {"contacts": {"totalCount": 0}}

    for bad, code in (
        ("{ contacts { ", "GRAPHQL_PARSE_FAILED"),
        ("{ noSuchField }", "GRAPHQL_VALIDATION_FAILED"),
        ("query($x: Int!) { contacts(first: $x) { totalCount } }", "GRAPHQL_VALIDATION_FAILED"),
    ):
        response = await api.post(bad, headers=headers)
        # a request error (no data): 400 for graphql-response+json, 200 for application/json
        expected = 400 if media_type == GRAPHQL_RESPONSE else 200
        assert response.status_code == expected, (bad, response.text)
        assert response.headers["content-type"].split(";")[0] == media_type
        body = response.json()
        assert "data" not in body
        assert body["errors"][0]["extensions"]["code"] == code, body


async def test_field_errors_keep_200_and_partial_data_with_graphql_response(api):
    response = await api.post(
        '{ contacts { totalCount } contact(id: "garbage") { id } }',
        headers={"Accept": GRAPHQL_RESPONSE},
    )
    # execution started: data is present, so this is 200 even for graphql-response+json
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"contacts": {"totalCount": 0}, "contact": None}
    assert body["errors"][0]["path"] == ["contact"]


@pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE, "application/json"])
async def test_malformed_json_body_is_400_json(api, auth, accept):
    for content in (b"{not json", b"[1, 2", b""):
        response = await api.http.post(
            f"{api.base_url}/graphql",
            content=content,
            headers={**auth, "Content-Type": "application/json", "Accept": accept},
        )
        assert response.status_code == 400, (content, response.text)
        assert response.headers["content-type"].split(";")[0] == accept
        assert response.json()["errors"][0]["message"]
    response = await api.http.post(
        f"{api.base_url}/graphql", json={"variables": {}}, headers={**auth, "Accept": accept}
    )
    assert response.status_code == 400
    assert "No GraphQL query" in response.json()["errors"][0]["message"]


async def test_put_is_405(api, auth):
    response = await api.http.put(f"{api.base_url}/graphql", json={"query": QUERY}, headers=auth)
    assert response.status_code == 405


async def test_graphiql_is_served_without_a_key(api):
    response = await api.http.get(f"{api.base_url}/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()
    # but a query sent from a browser still needs a key
    response = await api.http.get(
        f"{api.base_url}/graphql", params={"query": QUERY}, headers={"Accept": "text/html"}
    )
    assert response.status_code == 401


async def test_health_and_readiness(api):
    health = await api.http.get(f"{api.base_url}/healthz")
    assert health.status_code == 200
    assert health.json()["status"] == "ok" and health.json()["version"]
    ready = await api.http.get(f"{api.base_url}/readyz")
    assert ready.status_code == 200
    assert ready.headers["content-type"].startswith("application/json")
    assert ready.json()["status"] == "ready" and ready.json()["database"] is True
    root = await api.http.get(f"{api.base_url}/", follow_redirects=False)
    assert root.status_code in (302, 307) and root.headers["location"] == "/graphql"


async def test_readiness_reports_an_unreachable_database(server, api):
    from leadgraph.db import Connection, make_client

    client = make_client(
        "mongodb://127.0.0.1:9/?directConnection=true", serverSelectionTimeoutMS=200
    )
    state = server.state.leadgraph
    previous = state.connection
    state.connection = Connection(client=client, db=client["x"], embedded=None, uri="")
    try:
        ready = await api.http.get(f"{api.base_url}/readyz")
    finally:
        state.connection = previous
        await client.close()
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable" and ready.json()["database"] is False
