"""WebSocket helpers for the hardening tests: a graphql-transport-ws client, tuned server
settings and the ``leadgraph`` command line run against a test's database."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any

from click.testing import CliRunner, Result
from leadgraph.cli.main import cli
from test_mutations import RECORD
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

INTERACTIONS = """subscription { interactionRecorded { id type contact { id } } }"""


def ws_url(api: Any) -> str:
    return api.base_url.replace("http://", "ws://") + "/graphql"


class Socket:
    """One acknowledged graphql-transport-ws connection."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def subscribe(self, op_id: str, query: str, variables: dict | None = None) -> None:
        payload = {"query": query, "variables": variables or {}}
        await self.ws.send(json.dumps({"id": op_id, "type": "subscribe", "payload": payload}))

    async def complete(self, op_id: str) -> None:
        await self.ws.send(json.dumps({"id": op_id, "type": "complete"}))

    async def recv(self, timeout: float = 10.0) -> dict[str, Any]:
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    async def close_code(self, timeout: float = 10.0) -> tuple[int | None, list[dict[str, Any]]]:
        """Read messages until the server closes the socket: its close code and the messages."""
        messages = []
        try:
            async with asyncio.timeout(timeout):
                while True:
                    messages.append(json.loads(await self.ws.recv()))
        except ConnectionClosed as closed:
            return (closed.rcvd.code if closed.rcvd else None), messages


@contextlib.asynccontextmanager
async def open_socket(api: Any, key: str, *, small: bool = False) -> AsyncIterator[Socket]:
    """An acknowledged socket; ``small`` ones buffer little unread (to play a slow client)."""
    options: dict[str, Any] = {}
    if small:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", int(api.base_url.rsplit(":", 1)[1])))
        options = {"sock": sock, "max_queue": 1, "compression": None}
    async with connect(
        ws_url(api), subprotocols=[Subprotocol("graphql-transport-ws")], **options
    ) as ws:
        init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}}
        await ws.send(json.dumps(init))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
        yield Socket(ws)


@contextlib.contextmanager
def tuned(server: Any, **settings: Any) -> Iterator[None]:
    """Run with some server settings changed (sockets opened meanwhile use them)."""
    state = server.state.leadgraph
    previous = state.settings
    state.settings = replace(previous, **settings)
    try:
        yield
    finally:
        state.settings = previous


async def leadgraph(api: Any, mongo_uri: str, *args: str) -> Result:
    """``leadgraph ARGS`` against the test's database (in a thread: the CLI runs its own loop)."""
    env = {"MONGODB_URI": mongo_uri, "LEADGRAPH_DB_NAME": api.db.name}
    result = await asyncio.to_thread(
        CliRunner().invoke, cli, list(args), env=env, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return result


async def recv_for(sock: Socket, op_id: str) -> dict:
    """The next message for ``op_id`` (events of other operations are skipped)."""
    while True:
        message = await sock.recv()
        if message.get("id") == op_id:
            return message


async def live_event(api, sock: Socket, op_id: str, contact_id: str) -> dict:
    """Record interactions until ``op_id`` pushes one (a stream may still be opening)."""
    for attempt in range(40):
        key = f"{op_id}-{attempt}-{id(sock)}"
        interaction = {"contact": contact_id, "type": "EMAIL_SENT", "idempotencyKey": key}
        await api.gql(RECORD, {"i": interaction})
        try:
            while True:
                message = await sock.recv(timeout=0.5)
                if message.get("id") == op_id:
                    assert message["type"] == "next", message
                    return message["payload"]["data"]["interactionRecorded"]
        except TimeoutError:
            continue
    raise AssertionError("no event received")
