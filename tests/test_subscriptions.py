"""Subscriptions over graphql-transport-ws: interactionRecorded from a change stream."""

from __future__ import annotations

import asyncio
import contextlib
import json

from bson import ObjectId
from foundation import gid
from test_mutations import RECORD, make_contact
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

SUBSCRIBE = """subscription($c: ID) { interactionRecorded(contact: $c) {
    id type occurredAt contact { id email } } }"""


def ws_url(api) -> str:
    return api.base_url.replace("http://", "ws://") + "/graphql"


async def recv(ws, timeout: float = 20.0) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


@contextlib.asynccontextmanager
async def subscribed(
    api, query: str, variables: dict | None = None, *, role: str = "read-only", op_id: str = "1"
):
    """A graphql-transport-ws connection, acknowledged, with ``query`` subscribed as ``op_id``."""
    key = await api.key(role)
    async with connect(ws_url(api), subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        assert ws.subprotocol == "graphql-transport-ws"
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}})
        )
        assert (await recv(ws))["type"] == "connection_ack"
        payload = {"query": query, "variables": variables or {}}
        await ws.send(json.dumps({"id": op_id, "type": "subscribe", "payload": payload}))
        yield ws


async def test_interaction_recorded_is_pushed(api):
    mine = await make_contact(api, email="sub@example.com")
    other = await make_contact(api, email="other@example.com")
    async with subscribed(api, SUBSCRIBE, {"c": mine["id"]}) as ws:
        # the change stream opens asynchronously: record until the event arrives
        message = None
        for attempt in range(40):
            await api.gql(RECORD, {"i": {"contact": other["id"], "type": "EMAIL_SENT"}})
            await api.gql(
                RECORD,
                {
                    "i": {
                        "contact": mine["id"],
                        "type": "EMAIL_OPENED",
                        "idempotencyKey": f"k{attempt}",
                    }
                },
            )
            try:
                message = await recv(ws, timeout=0.5)
                break
            except TimeoutError:
                continue
        assert message is not None, "no event received"
        assert message["type"] == "next" and message["id"] == "1", message
        event = message["payload"]["data"]["interactionRecorded"]
        # only the subscribed contact's interactions are pushed
        assert event["type"] == "EMAIL_OPENED"
        assert event["contact"] == {"id": mine["id"], "email": "sub@example.com"}
        await ws.send(json.dumps({"id": "1", "type": "complete"}))


async def test_bad_key_is_rejected(api):
    for payload in ({"Authorization": "Bearer lg_wrong"}, {}):
        async with connect(ws_url(api), subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
            try:
                message = await recv(ws, timeout=10)
            except ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code == 4403, closed
            else:
                raise AssertionError(f"connection was acknowledged: {message}")


async def test_subscription_to_wrong_id_type_is_an_error(api):
    variables = {"c": gid("Lead", ObjectId())}
    async with subscribed(api, SUBSCRIBE, variables, role="admin", op_id="x") as ws:
        message = await recv(ws)
        assert message["id"] == "x"
        assert message["type"] in ("error", "next"), message
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert "Contact" in errors[0]["message"]


LEAD_CHANGED = """subscription { leadChanged(stage: "sales_acceptance") {
    id stage salesReady } }"""


async def test_lead_changed_pushes_leads_entering_a_stage(api):
    contact = await make_contact(api, email="funnel@example.com")
    lead = (
        await api.gql(
            """mutation($c: ID!) { createLead(input: {topic: "Contoso Ltd Conference",
                 parentContact: $c}) { ... on LeadPayload { lead { id } } } }""",
            {"c": contact["id"]},
        )
    )["createLead"]["lead"]["id"]
    await api.gql(f'mutation {{ rescoreLead(id: "{lead}") {{ __typename }} }}')
    elsewhere = (
        await api.gql(
            'mutation { createLead(input: {topic: "Other"}) { ... on LeadPayload {'
            " lead { id } } } }"
        )
    )["createLead"]["lead"]["id"]
    async with subscribed(api, LEAD_CHANGED) as ws:
        message = None
        for i in range(40):  # the change stream opens asynchronously
            # a change to a lead in another stage is not pushed
            await api.gql(
                f'mutation {{ updateLead(input: {{id: "{elsewhere}", topic: "t{i}"}}) '
                "{ __typename } }"
            )
            await api.gql(f'mutation {{ markSalesReady(id: "{lead}") {{ __typename }} }}')
            try:
                message = await recv(ws, timeout=0.5)
                break
            except TimeoutError:
                continue
        assert message is not None, "no event received"
        assert message["type"] == "next", message
        pushed = message["payload"]["data"]["leadChanged"]
        assert pushed == {"id": lead, "stage": "sales_acceptance", "salesReady": True}
        await ws.send(json.dumps({"id": "1", "type": "complete"}))
