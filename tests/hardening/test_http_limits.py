"""Issue 9, point 7: limits on body size, JSON shape and read time, each a typed 4xx; requests
that used to be masked internal errors (subscription over POST, a non-string Authorization in
``connection_init``) are typed errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from leadgraph.config import Settings
from leadgraph.db import Connection
from leadgraph.web.app import create_app
from serving import free_port, served
from shipped import SHIPPED
from test_subscriptions import recv, ws_url
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

QUERY = {"query": "{ contacts { totalCount } }"}


@dataclass
class Limited:
    url: str
    headers: dict[str, str]
    http: httpx.AsyncClient

    async def post(self, content: bytes, **headers: str) -> httpx.Response:
        hdrs = {**self.headers, "Content-Type": "application/json", **headers}
        return await self.http.post(f"{self.url}/graphql", content=content, headers=hdrs)


@pytest.fixture
async def limited(api) -> AsyncIterator[Limited]:
    """A server with small limits: 4 KiB bodies, half a second to send headers or a body."""
    settings = Settings(
        rules_dir=SHIPPED,
        port=free_port(),
        max_body_bytes=4096,
        read_timeout=0.5,
        header_timeout=0.5,
        max_json_depth=20,
    )
    conn = Connection(client=api.db.client, db=api.db, embedded=None, uri="")
    headers = {"Authorization": f"Bearer {await api.key('admin')}"}
    app = create_app(settings, connection=conn)
    async with served(app, settings) as url, httpx.AsyncClient(timeout=30) as http:
        yield Limited(url, headers, http)


def error_code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


async def test_bodies_within_the_limit_run(limited):
    response = await limited.post(json.dumps(QUERY).encode())
    assert response.status_code == 200
    assert response.json()["data"] == {"contacts": {"totalCount": 0}}


async def test_a_body_over_the_limit_is_413_with_or_without_a_length(limited):
    padded = json.dumps({**QUERY, "variables": {"pad": "x" * 5000}}).encode()
    response = await limited.post(padded)
    assert response.status_code == 413
    assert error_code(response) == "BAD_REQUEST"

    async def chunks() -> AsyncIterator[bytes]:  # chunked: no Content-Length to refuse early
        for i in range(0, len(padded), 1000):
            yield padded[i : i + 1000]

    response = await limited.http.post(
        f"{limited.url}/graphql",
        content=chunks(),
        headers={**limited.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert error_code(response) == "BAD_REQUEST"


async def test_json_too_deep_or_not_an_object_is_400(api, limited):
    deepest = b"[" * 3000 + b"]" * 3000  # beyond Python's recursion limit, on default limits
    response = await api.http.post(
        f"{api.base_url}/graphql",
        content=deepest,
        headers={**limited.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert error_code(response) == "BAD_REQUEST"
    for body in (b"[" * 1500 + b"]" * 1500, b'{"query": ' + b"[" * 30 + b"]" * 30 + b"}"):
        response = await limited.post(body)
        assert response.status_code == 400, response.text
        assert error_code(response) == "BAD_REQUEST"
        assert "nested" in response.json()["errors"][0]["message"]
    for body in (b"true", b"1", b'"x"', b"null"):
        response = await limited.post(body)
        assert response.status_code == 400, (body, response.text)
        message = response.json()["errors"][0]["message"]
        assert message == "the request body must be a JSON object (or an array of them)"
    response = await limited.post(b"[]")  # an array is a batch (tests/test_batching.py)
    assert response.status_code == 400, response.text
    assert "empty batch" in response.json()["errors"][0]["message"]
    response = await limited.http.get(
        f"{limited.url}/graphql",
        params={**QUERY, "variables": "[" * 500 + "]" * 500},
        headers=limited.headers,
    )
    assert response.status_code == 400
    assert error_code(response) == "BAD_REQUEST"


async def raw_exchange(url: str, data: bytes) -> bytes:
    """Send ``data`` (and nothing more) on a fresh connection; read until the server closes."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(data)
    await writer.drain()
    answer = await reader.read()  # returns once the server closes the connection
    writer.close()
    return answer


async def test_a_body_that_never_finishes_is_408(limited):
    head = (
        b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n"
    )
    answer = await raw_exchange(limited.url, head + b'{"query": ')
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert body["errors"][0]["extensions"]["code"] == "REQUEST_TIMEOUT"


async def test_headers_that_never_finish_are_408_and_oversized_headers_400(limited):
    answer = await raw_exchange(limited.url, b"POST /graphql HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    huge = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000
    answer = await raw_exchange(limited.url, huge)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    # a connection that sends its request in time is served as before
    response = await limited.http.get(f"{limited.url}/healthz")
    assert response.status_code == 200


async def test_a_subscription_sent_over_post_is_a_400_not_an_internal_error(api):
    response = await api.post("subscription { interactionRecorded { id } }")
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert "WebSocket" in error["message"]


@pytest.mark.parametrize("authorization", [123, {"Bearer": "x"}, ["Bearer x"], True])
async def test_a_non_string_authorization_in_connection_init_is_refused(api, authorization):
    async with connect(ws_url(api), subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": authorization}})
        )
        with pytest.raises(ConnectionClosed) as closed:
            await recv(ws, timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    assert (await api.gql(QUERY["query"]))["contacts"]["totalCount"] == 0


@pytest.mark.parametrize(
    "number",
    ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "9" * 1000],
    ids=["nan", "inf", "-inf", "1e400", "-1e400", "1000-digits"],
)
async def test_numbers_json_does_not_have_are_400(api, limited, number):
    """JSON has no NaN or Infinity, and 1e400 is no double: Python's json module accepts them
    (and an integer of over 4,300 digits fails with its own sys.set_int_max_str_digits() hint)."""
    body = (
        '{"query": "mutation($d: JSON!) { recordInteraction(input: {contact: \\"x\\", '
        'type: \\"custom\\", details: $d}) { __typename } }", "variables": {"d": {"n": '
        + number
        + "}}}"
    ).encode()
    response = await limited.post(body)
    assert response.status_code == 400, response.text
    assert error_code(response) == "BAD_REQUEST"
    message = response.json()["errors"][0]["message"]
    assert message.startswith("the request body is not valid JSON"), message
    assert "sys." not in message and "set_int_max_str_digits" not in message
    response = await limited.http.get(
        f"{limited.url}/graphql",
        params={**QUERY, "variables": '{"n": ' + number + "}"},
        headers=limited.headers,
    )
    assert response.status_code == 400, response.text
    assert error_code(response) == "BAD_REQUEST"
    assert await api.db.interactions.count_documents({}) == 0
