"""Issue 9, point 10: a database outage is a prompt 503 on /readyz and a typed, retryable
``UNAVAILABLE`` error (HTTP 503 with Retry-After); the next start-up completes the captures a
killed process left half done and releases match keys left without their records."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import httpx
from bson import ObjectId
from capture.helpers import submit
from leadgraph.config import Settings
from leadgraph.db import Connection, make_client
from leadgraph.embedded import EmbeddedMongo
from leadgraph.services.capture import request_digest
from leadgraph.store import keys, pending_captures
from leadgraph.web.app import create_app
from serving import free_port, served
from shipped import SHIPPED
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

QUERY = "{ contacts { totalCount } }"


async def test_a_database_outage_answers_503_and_unavailable_at_once():
    mongo = EmbeddedMongo(":memory:").start()
    try:
        settings = Settings(
            mongodb_uri=mongo.uri,
            db_name="outage",
            rules_dir=SHIPPED,
            port=free_port(),
            db_timeout=0.3,
            ready_timeout=0.3,
        )
        client = make_client(mongo.uri)
        key, _ = await keys.create(client["outage"], "admin", "outage test")
        await client.close()
        auth = {"Authorization": f"Bearer {key}"}
        async with (
            served(create_app(settings), settings) as url,
            httpx.AsyncClient(timeout=60) as http,
        ):
            assert (await http.get(f"{url}/readyz")).status_code == 200
            ok = await http.post(f"{url}/graphql", json={"query": QUERY}, headers=auth)
            assert ok.json()["data"] == {"contacts": {"totalCount": 0}}
            ws_url = url.replace("http://", "ws://") + "/graphql"
            async with connect(ws_url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
                init = {"type": "connection_init", "payload": auth}
                await ws.send(json.dumps(init))
                assert json.loads(await ws.recv())["type"] == "connection_ack"

                mongo.stop()  # the database goes away

                ready = await http.get(f"{url}/readyz")
                assert ready.status_code == 503
                assert ready.json()["database"] is False

                # HTTP: the key cannot even be checked
                response = await http.post(f"{url}/graphql", json={"query": QUERY}, headers=auth)
                assert response.status_code == 503
                assert response.headers["retry-after"].isdigit()
                (error,) = response.json()["errors"]
                assert error["extensions"] == {"code": "UNAVAILABLE", "retryable": True}

                # an operation on an open WebSocket: typed the same way
                op = {"id": "1", "type": "subscribe", "payload": {"query": QUERY}}
                await ws.send(json.dumps(op))
                message = json.loads(await ws.recv())
                assert message["id"] == "1", message
                errors = (
                    message["payload"]
                    if message["type"] == "error"
                    else message["payload"]["errors"]
                )
                assert errors[0]["extensions"] == {"code": "UNAVAILABLE", "retryable": True}
    finally:
        mongo.stop()


IMPORT = """mutation($d: String!) { importRecords(input: {kind: CONTACTS, data: $d, format: CSV})
  { __typename } }"""


async def test_a_request_the_outage_cuts_off_while_it_runs_is_unavailable():
    """The key was checked before the database went away: the resolver's failure is typed."""
    mongo = EmbeddedMongo(":memory:").start()
    try:
        settings = Settings(
            mongodb_uri=mongo.uri,
            db_name="cut",
            rules_dir=SHIPPED,
            port=free_port(),
            db_timeout=0.3,
        )
        client = make_client(mongo.uri, serverSelectionTimeoutMS=300)
        key, _ = await keys.create(client["cut"], "admin", "outage test")
        rows = "\n".join(f"user{i}@example.com,U{i},L{i}" for i in range(20_000))
        async with (
            served(create_app(settings), settings) as url,
            httpx.AsyncClient(timeout=120) as http,
        ):
            request = asyncio.create_task(
                http.post(
                    f"{url}/graphql",
                    json={"query": IMPORT, "variables": {"d": "email,firstName,lastName\n" + rows}},
                    headers={"Authorization": f"Bearer {key}"},
                )
            )
            while not await client["cut"].imports.find_one({"committedLine": {"$gt": 0}}):
                assert not request.done(), (await request).text  # still importing
                await asyncio.sleep(0.01)
            mongo.stop()  # the database goes away in the middle of the import
            response = await request
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"].isdigit()
        body = response.json()
        assert body["errors"][0]["extensions"] == {"code": "UNAVAILABLE", "retryable": True}
        assert body["errors"][0]["message"] == "the database is unavailable: retry later"
        assert body["errors"][0]["path"] == ["importRecords"]
        await client.close()
    finally:
        mongo.stop()


async def test_start_up_releases_match_keys_left_without_their_records(api):
    db = api.db
    old = datetime.now(UTC) - timedelta(minutes=10)
    kept = await db.contacts.insert_one({"lastName": "Kept", "createdAt": old})
    await db.match_keys.insert_many(
        [
            # claimed, then the process died before the contact was written
            {"_id": "contacts:email:ann@example.com", "recordId": ObjectId(), "createdAt": old},
            {"_id": "leads:email-form:ann@example.com|f", "recordId": ObjectId(), "createdAt": old},
            # a record that exists keeps its key
            {
                "_id": "contacts:email:kept@example.com",
                "recordId": kept.inserted_id,
                "createdAt": old,
            },
            # a claim younger than the grace period may belong to a capture still running
            {
                "_id": "contacts:email:new@example.com",
                "recordId": ObjectId(),
                "createdAt": datetime.now(UTC),
            },
        ]
    )
    settings = Settings(rules_dir=SHIPPED, port=free_port())
    conn = Connection(client=db.client, db=db, embedded=None, uri="")
    async with served(create_app(settings, connection=conn), settings):
        pass  # start-up (the lifespan) runs the repair
    left = sorted([d["_id"] async for d in db.match_keys.find({})])
    assert left == ["contacts:email:kept@example.com", "contacts:email:new@example.com"]
    # the submission that follows creates the contact once, under a fresh key
    out = await submit(api, "f", {"email": "ann@example.com", "lastName": "Ann"})
    assert out["contactCreated"], out
    assert await db.contacts.count_documents({"emailNormalized": "ann@example.com"}) == 1


async def restart(db) -> None:
    """Start (and stop) a server on ``db``: its start-up runs the repair."""
    settings = Settings(rules_dir=SHIPPED, port=free_port())
    conn = Connection(client=db.client, db=db, embedded=None, uri="")
    async with served(create_app(settings, connection=conn), settings):
        pass


async def interrupted(
    db, email: str, key: str | None = None, at: datetime | None = None, owner: str | None = None
):
    """What a process killed after writing the contact, before the interaction, leaves: the
    note of a submission of ``NOTED`` with ``email`` by API key ``owner`` (its id)."""
    at = at or datetime.now(UTC) - timedelta(minutes=5)
    fields = {"email": email, **NOTED}
    request = {
        "formId": "webinar",
        "fields": json.dumps(fields),
        "interactionType": "form_submitted",
        "eventId": None,
        "marketingContext": None,
        "idempotencyKey": key,
        "occurredAt": at,
        "source": "form",
        "owner": owner,
        "payloadHash": request_digest("webinar", fields, "form_submitted", None, None, None),
    }
    await pending_captures.start(db, request)
    await db.pending_captures.update_many({}, {"$set": {"createdAt": at}})
    contact = {"_id": ObjectId(), "email": email, "emailNormalized": email, "createdAt": at}
    await db.contacts.insert_one(contact)
    await db.match_keys.insert_one(
        {"_id": f"contacts:email:{email}", "recordId": contact["_id"], "createdAt": at}
    )
    return contact["_id"]


#: The fields (besides the email) of the interrupted submissions.
NOTED = {"firstName": "Ann", "utm": "mail"}


async def owner_id(api) -> str:
    """The id of the API key ``submit`` sends (its idempotency keys are that key's)."""
    found = await keys.lookup(api.db, await api.key("admin"))
    assert found is not None
    return str(found["_id"])


async def test_start_up_completes_a_capture_killed_half_way(api):
    db = api.db
    cid = await interrupted(db, "ann@example.com", key="sub-1", owner=await owner_id(api))
    await restart(db)
    assert await db.pending_captures.count_documents({}) == 0
    (interaction,) = await db.interactions.find({}).to_list()
    assert interaction["contactId"] == cid and interaction["formId"] == "webinar"
    assert interaction["details"] == {"utm": "mail"}
    contact = await db.contacts.find_one({"_id": cid})
    assert contact["firstName"] == "Ann" and contact["insights"]["total"] == 1
    lead = await db.leads.find_one({})
    assert lead["parentContactId"] == cid and interaction["leadId"] == lead["_id"]
    # the client's retry with its key now answers the recorded submission
    sent = {"email": "ann@example.com", **NOTED}
    again = await submit(api, "webinar", sent, idempotencyKey="sub-1")
    assert again["replayed"], again
    await restart(db)  # nothing left to do: nothing doubled
    assert await db.interactions.count_documents({}) == 1
    assert await db.contacts.count_documents({}) == 1 and await db.leads.count_documents({}) == 1


async def test_start_up_records_nothing_twice_when_the_client_already_retried(api):
    db = api.db
    await interrupted(db, "key@example.com", key="sub-2", owner=await owner_id(api))
    await interrupted(db, "nokey@example.com")
    for email, extra in (
        ("key@example.com", {"idempotencyKey": "sub-2"}),
        ("nokey@example.com", {}),
    ):
        out = await submit(api, "webinar", {"email": email, "firstName": "Ann"}, **extra)
        assert out["__typename"] == "CapturePayload" and not out["replayed"], out
    await restart(db)
    assert await db.pending_captures.count_documents({}) == 0
    assert await db.interactions.count_documents({}) == 2
    assert await db.contacts.count_documents({}) == 2


async def test_a_capture_younger_than_the_grace_period_is_left_alone(api):
    db = api.db
    await interrupted(db, "busy@example.com", at=datetime.now(UTC))
    await restart(db)
    assert await db.pending_captures.count_documents({}) == 1
    assert await db.interactions.count_documents({}) == 0
