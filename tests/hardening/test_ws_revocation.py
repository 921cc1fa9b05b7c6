"""Issue 9, point 1: an open WebSocket follows its API key.

A key revoked (or given another role) while a socket is open stops working on that socket:
operations sent on it afterwards are checked against the key as it is now, and a revoked key's
socket is closed (code 4403) within ``ws_recheck_seconds``, ending its subscriptions.
"""

from __future__ import annotations

import asyncio
import json

from leadgraph.store import keys
from test_mutations import CREATE_CONTACT, make_contact
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from .ws import INTERACTIONS, leadgraph, live_event, open_socket, recv_for, tuned, ws_url

KEY_REVOKED = 4403
RULES_STATUS = "{ rulesStatus { version } }"


async def test_revoked_key_cannot_run_operations_on_an_open_socket(api, server, mongo_uri):
    key, _ = await keys.create(api.db, "admin", "ws admin")
    # a long recheck interval: what refuses the mutation is the check on the message itself
    with tuned(server, ws_recheck_seconds=60):
        async with open_socket(api, key) as sock:
            await sock.subscribe("before", CREATE_CONTACT, {"i": {"lastName": "Before"}})
            created = await recv_for(sock, "before")
            assert created["payload"]["data"]["createContact"]["__typename"] == "ContactPayload"

            await leadgraph(api, mongo_uri, "keys", "revoke", "ws admin")

            await sock.subscribe("after", CREATE_CONTACT, {"i": {"lastName": "After"}})
            await sock.subscribe("admin", RULES_STATUS)
            code, answered = await sock.close_code()
    assert code == KEY_REVOKED
    assert not {m.get("id") for m in answered} & {"after", "admin"}, answered
    assert await api.db.contacts.count_documents({"lastName": "Before"}) == 1
    assert await api.db.contacts.count_documents({"lastName": "After"}) == 0


async def test_revoked_key_socket_is_closed_and_its_subscription_stops(api, server):
    contact = await make_contact(api, email="live@example.com")
    key, _ = await keys.create(api.db, "read-only", "ws reader")
    with tuned(server, ws_recheck_seconds=0.5):
        async with open_socket(api, key) as sock:
            await sock.subscribe("live", INTERACTIONS)
            event = await live_event(api, sock, "live", contact["id"])
            assert event["contact"] == {"id": contact["id"]}

            assert await keys.revoke(api.db, "ws reader")  # nothing is sent on the socket
            code, _ = await sock.close_code()
            assert code == KEY_REVOKED
            assert sock.ws.close_reason == "API key revoked"


async def test_downgraded_key_gets_its_new_role_on_an_open_socket(api, server, mongo_uri):
    contact = await make_contact(api, email="role@example.com")
    key, _ = await keys.create(api.db, "admin", "ws admin")
    with tuned(server, ws_recheck_seconds=60):
        async with open_socket(api, key) as sock:
            await sock.subscribe("live", INTERACTIONS)
            await live_event(api, sock, "live", contact["id"])
            await sock.subscribe("q1", RULES_STATUS)
            assert (await recv_for(sock, "q1"))["payload"]["data"]["rulesStatus"]["version"]

            await leadgraph(api, mongo_uri, "keys", "role", "ws admin", "read-only")

            # refused as over HTTP: a typed ForbiddenError for a mutation, FORBIDDEN for a query
            await sock.subscribe("m", CREATE_CONTACT, {"i": {"lastName": "Nope"}})
            refused = (await recv_for(sock, "m"))["payload"]["data"]["createContact"]
            assert refused["__typename"] == "ForbiddenError" and refused["role"] == "read-only"
            await sock.subscribe("q2", RULES_STATUS)
            errors = (await recv_for(sock, "q2"))["payload"]["errors"]
            assert errors[0]["extensions"]["code"] == "FORBIDDEN", errors
            # every role may read: the subscription goes on for the read-only key
            await live_event(api, sock, "live", contact["id"])
    assert await api.db.contacts.count_documents({"lastName": "Nope"}) == 0


async def test_legacy_graphql_ws_protocol_is_refused(api):
    """Only graphql-transport-ws is spoken, so no socket escapes the re-checks."""
    key = await api.key("read-only")
    async with connect(ws_url(api), subprotocols=[Subprotocol("graphql-ws")]) as ws:
        try:
            await ws.send(
                json.dumps({"type": "connection_init", "payload": {"Authorization": key}})
            )
            await asyncio.wait_for(ws.recv(), 10)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 4406
        else:
            raise AssertionError("the legacy protocol was spoken")
