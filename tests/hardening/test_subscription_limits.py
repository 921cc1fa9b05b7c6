"""Issue 9, point 2: subscriptions are bounded and share one change stream per collection.

Subscriptions beyond the per-key or per-process limit are refused with an ``error`` message
(code ``TOO_MANY_SUBSCRIPTIONS``) for that operation only, while HTTP keeps answering and the
open subscriptions keep receiving.  However many subscribers there are, each collection is
watched by one change stream per server process.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from conftest import listening
from foundation import oid_of
from leadgraph.services.interactions import interaction_event
from leadgraph.store import events as events_store
from leadgraph.store import keys
from pymongo import monitoring
from test_mutations import RECORD, make_contact

from .ws import INTERACTIONS, Socket, live_event, open_socket, recv_for, tuned

CONTACTS = "{ contacts(first: 5) { edges { node { id } } } }"
BY_CONTACT = "subscription($c: ID) { interactionRecorded(contact: $c) { id contact { id } } }"


def too_many(message: dict[str, Any]) -> str:
    """The error message of a refused subscription (fails for anything else)."""
    assert message["type"] == "error", message
    (error,) = message["payload"]
    assert error["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS", error
    return error["message"]


async def test_per_key_limit_refuses_the_extra_subscription_only(api, server):
    contact = await make_contact(api, email="limit@example.com")
    reader, _ = await keys.create(api.db, "read-only", "reader")
    other, _ = await keys.create(api.db, "read-only", "other reader")
    with tuned(server, max_subscriptions_per_key=3, max_subscriptions=100):
        async with open_socket(api, reader) as sock:
            for op in ("s1", "s2", "s3"):
                await sock.subscribe(op, INTERACTIONS)
                await live_event(api, sock, op, contact["id"])

            await sock.subscribe("s4", INTERACTIONS)
            assert "limit" in too_many(await recv_for(sock, "s4"))
            # HTTP is untouched and the open subscriptions still receive
            assert (await api.gql(CONTACTS))["contacts"]["edges"]
            for op in ("s1", "s2", "s3"):
                await live_event(api, sock, op, contact["id"])
            # the limit is per key ...
            async with open_socket(api, other) as second:
                await second.subscribe("o1", INTERACTIONS)
                await live_event(api, second, "o1", contact["id"])
            # ... and a completed subscription frees its place
            await sock.complete("s1")
            await sock.subscribe("s5", INTERACTIONS)
            await live_event(api, sock, "s5", contact["id"])


async def test_process_limit_refuses_any_key_beyond_it(api, server):
    contact = await make_contact(api, email="global@example.com")
    first, _ = await keys.create(api.db, "read-only", "first")
    second, _ = await keys.create(api.db, "sales", "second")
    with tuned(server, max_subscriptions_per_key=10, max_subscriptions=2):
        async with open_socket(api, first) as a, open_socket(api, second) as b:
            await a.subscribe("a1", INTERACTIONS)
            await live_event(api, a, "a1", contact["id"])
            await b.subscribe("b1", INTERACTIONS)
            await live_event(api, b, "b1", contact["id"])
            # the second key has 1 of its 10, but the server is full: refused, whatever the feed
            await b.subscribe("b2", "subscription { leadChanged { id } }")
            assert "server" in too_many(await recv_for(b, "b2"))
            assert (await api.gql(CONTACTS))["contacts"]["edges"]
            await live_event(api, a, "a1", contact["id"])


class ChangeStreams(monitoring.CommandListener):
    """Counts the change streams opened, by collection."""

    def __init__(self) -> None:
        self.opened: Counter[str] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pipeline = event.command.get("pipeline") or [{}]
        if event.command_name == "aggregate" and "$changeStream" in pipeline[0]:
            self.opened[event.command["aggregate"]] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@contextlib.asynccontextmanager
async def listened(server, api, mongo_uri):
    """Serve the test's database through a client that counts change streams."""
    async with listening(server, api, mongo_uri, ChangeStreams()) as listener:
        yield listener


async def test_150_subscriptions_share_one_change_stream(api, server, mongo_uri):
    ann = await make_contact(api, email="ann@example.com")
    bob = await make_contact(api, email="bob@example.com")
    reader, _ = await keys.create(api.db, "read-only", "busy reader")
    received: dict[str, list[str]] = {}  # operation id -> contact ids pushed to it

    async def read(sock: Socket) -> None:
        while True:
            message = await sock.recv(timeout=60)
            assert message["type"] == "next", message
            event = message["payload"]["data"]["interactionRecorded"]
            received.setdefault(message["id"], []).append(event["contact"]["id"])

    async def until_all_receive(ops: list[str], contact: dict) -> None:
        for attempt in range(40):
            interaction = {"contact": contact["id"], "type": "EMAIL_SENT"}
            await api.gql(
                RECORD, {"i": {**interaction, "idempotencyKey": f"{contact['id']}{attempt}"}}
            )
            await asyncio.sleep(0.3)
            if all(received.get(op) for op in ops):
                return
        missing = [op for op in ops if not received.get(op)]
        raise AssertionError(f"{len(missing)} subscriptions got nothing")

    with tuned(server, max_subscriptions_per_key=200, max_subscriptions=1000):
        async with (
            listened(server, api, mongo_uri) as listener,
            contextlib.AsyncExitStack() as stack,
        ):
            sockets = [await stack.enter_async_context(open_socket(api, reader)) for _ in range(3)]
            ops: dict[str, str] = {}  # operation id -> the contact it follows
            for n in range(150):
                sock, contact = sockets[n % 3], (ann, bob)[n % 2]
                await sock.subscribe(f"op{n}", BY_CONTACT, {"c": contact["id"]})
                ops[f"op{n}"] = contact["id"]
            readers = [asyncio.create_task(read(sock)) for sock in sockets]
            try:
                # HTTP answers while 150 subscriptions are open (concurrent requests too)
                answers = await asyncio.gather(*(api.gql(CONTACTS) for _ in range(20)))
                assert all(a["contacts"]["edges"] for a in answers)
                await until_all_receive([op for op, c in ops.items() if c == ann["id"]], ann)
                await until_all_receive([op for op, c in ops.items() if c == bob["id"]], bob)
                for task in readers:
                    assert not task.done(), task.exception()
            finally:
                for task in readers:
                    task.cancel()
            opened = dict(listener.opened)
    # every subscription got its own contact's events only, filtered in memory ...
    assert len(received) == 150
    for op, contacts in received.items():
        assert set(contacts) == {ops[op]}, (op, contacts)
    # ... from a single change stream on the interactions collection
    assert opened == {"events": 1}, opened


async def test_a_slow_subscriber_is_dropped_and_does_not_hold_back_the_others(api, server):
    contact = await make_contact(api, email="slow@example.com")
    reader, _ = await keys.create(api.db, "read-only", "reader")
    query = "subscription { interactionRecorded { id details } }"
    events = 600  # of 12 KB: more than the slow socket's kernel and library buffers hold
    with tuned(server, subscription_queue=64):
        async with open_socket(api, reader) as fast, open_socket(api, reader, small=True) as slow:
            await fast.subscribe("fast", query)
            await slow.subscribe("slow", query)
            await live_event(api, fast, "fast", contact["id"])  # both are subscribed by now
            await live_event(api, slow, "slow", contact["id"])
            seen: set[int] = set()

            async def read_fast() -> None:
                while len(seen) < events:
                    message = await fast.recv()
                    details = message["payload"]["data"]["interactionRecorded"]["details"]
                    if details and "n" in details:
                        seen.add(details["n"])

            reading = asyncio.create_task(read_fast())
            # a burst written straight to the collections, each interaction with its event
            # (recordInteraction, 600 times, is slow)
            pad = "x" * 12_000
            for batch in range(0, events, 100):
                docs = [
                    {
                        "contactId": oid_of(contact["id"]),
                        "type": "email_sent",
                        "occurredAt": datetime.now(UTC),
                        "details": {"n": n, "pad": pad},
                    }
                    for n in range(batch, batch + 100)
                ]
                await api.db.interactions.insert_many(docs)
                await events_store.append(api.db, [interaction_event(d) for d in docs])
            await asyncio.wait_for(reading, 60)
            assert seen == set(range(events))  # the fast subscriber got every one of them
            # the slow one, when it reads at last, finds it was dropped, and nothing after
            while (message := await slow.recv())["type"] == "next" and (
                "errors" not in message["payload"]
            ):
                pass
            errors = message["payload"]["errors"]
            assert errors[0]["extensions"]["code"] == "SUBSCRIBER_TOO_SLOW", errors
            assert (await slow.recv())["type"] == "complete"


async def test_the_shared_stream_reopens_after_it_ends(api, server, mongo_uri):
    """Dropping the collection ends (invalidates) the change stream: the hub opens it again
    and the open subscription goes on receiving."""
    contact = await make_contact(api, email="again@example.com")
    reader, _ = await keys.create(api.db, "read-only", "reader")
    async with listened(server, api, mongo_uri) as listener, open_socket(api, reader) as sock:
        await sock.subscribe("live", INTERACTIONS)
        await live_event(api, sock, "live", contact["id"])
        assert listener.opened == {"events": 1}
        await api.db.events.drop()
        event = await live_event(api, sock, "live", contact["id"])
        assert event["contact"] == {"id": contact["id"]}
        assert listener.opened == {"events": 2}
