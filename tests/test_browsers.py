"""What browsers and browser libraries meet: CORS for configured origins only, 405 and 406
with JSON bodies, and the legacy ``graphql-ws`` WebSocket protocol refused with 4406."""

from __future__ import annotations

import asyncio

import pytest
from conftest import serving
from leadgraph.config import Settings
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

APP = "https://app.example.com"
QUERY = "{ contacts { totalCount } }"


@pytest.fixture
async def cors_server(api, mongo_client, mongo_uri):
    async with serving(
        mongo_client, mongo_uri, api.db.name, cors_origins=(APP, "http://localhost:5173")
    ) as app:
        yield app


def preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }


async def test_cors_preflight_is_answered_for_configured_origins_only(api, cors_server):
    url = f"{cors_server.base_url}/graphql"
    ok = await api.http.options(url, headers=preflight(APP))
    assert ok.status_code == 200, ok.text
    assert ok.headers["access-control-allow-origin"] == APP
    allowed = {h.strip().lower() for h in ok.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed
    assert "POST" in ok.headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in ok.headers  # keys are no cookies

    for origin in ("https://evil.example.com", "https://app.example.com.evil.net", "null"):
        refused = await api.http.options(url, headers=preflight(origin))
        assert refused.status_code == 405, refused.text
        assert not [h for h in refused.headers if h.lower().startswith("access-control-")]
        assert refused.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"


async def test_cors_answers_carry_the_origin_only_when_configured(api, cors_server):
    key = await api.key("admin")
    url = f"{cors_server.base_url}/graphql"
    for origin, allowed in ((APP, True), ("http://localhost:5173", True), ("http://x.test", False)):
        response = await api.http.post(
            url, json={"query": QUERY}, headers={"Authorization": f"Bearer {key}", "Origin": origin}
        )
        assert response.status_code == 200
        assert response.json()["data"] == {"contacts": {"totalCount": 0}}
        assert response.headers.get("access-control-allow-origin") == (origin if allowed else None)
    # a 401 reaches a configured origin's page too (else the browser shows a CORS error)
    denied = await api.http.post(url, json={"query": QUERY}, headers={"Origin": APP})
    assert denied.status_code == 401
    assert denied.headers["access-control-allow-origin"] == APP


async def test_no_cors_by_default(api):
    response = await api.http.options(f"{api.base_url}/graphql", headers=preflight(APP))
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert not [h for h in response.headers if h.lower().startswith("access-control-")]
    assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"


@pytest.mark.parametrize(
    "value",
    ["*", "app.example.com", "https://*.example.com", "https://app.example.com/path", "ftp://x"],
)
def test_cors_origins_setting_refuses_what_is_no_origin(value):
    with pytest.raises(ValueError, match="LEADGRAPH_CORS_ORIGINS"):
        Settings.from_env({"LEADGRAPH_CORS_ORIGINS": value})


def test_cors_origins_setting_reads_a_comma_list():
    env = {"LEADGRAPH_CORS_ORIGINS": " https://App.example.com/, http://localhost:5173,,"}
    assert Settings.from_env(env).cors_origins == (
        "https://app.example.com",
        "http://localhost:5173",
    )
    assert Settings.from_env({}).cors_origins == ()


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS"])
async def test_other_methods_are_405_with_a_json_body(api, method):
    key = await api.key("admin")
    response = await api.http.request(
        method,
        f"{api.base_url}/graphql",
        json={"query": QUERY},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"


@pytest.mark.parametrize(
    "accept", ["application/xml", "text/plain, text/csv", "application/json;q=0"]
)
async def test_an_accept_we_cannot_answer_is_406(api, accept):
    response = await api.post(QUERY, headers={"Accept": accept})
    assert response.status_code == 406
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_ACCEPTABLE"
    # what browsers send (*/* last) is answered
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    assert (await api.post(QUERY, headers={"Accept": browser})).status_code == 200


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://") + "/graphql"


async def test_legacy_graphql_ws_is_closed_with_4406_after_a_handshake_naming_it(api):
    """A browser fails a handshake that names none of its offered protocols (1006), so the
    socket is accepted naming the legacy protocol and closed at once with 4406."""
    async with connect(ws_url(api.base_url), subprotocols=[Subprotocol("graphql-ws")]) as ws:
        assert ws.subprotocol == "graphql-ws"
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
        4406,
        "Subprotocol not acceptable",
    )
    # the protocol we speak is still chosen when offered with others
    async with connect(
        ws_url(api.base_url),
        subprotocols=[Subprotocol("graphql-ws"), Subprotocol("graphql-transport-ws")],
    ) as ws:
        assert ws.subprotocol == "graphql-transport-ws"
