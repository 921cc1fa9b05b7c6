"""Issue 9 point 5: what a request may cost.

A query's cost (list sizes x depth, variables included) is priced before execution against a
budget and charged to the key's rate limit; connections have a default and a maximum page
size and read at most a page (+1) of children per parent; list arguments are capped; segment
counts are computed once per rules version and TTL, however many aliases or requests ask.

These tests run their own server (same app, same embedded database) whose MongoDB client
records every command, so "nothing reached the database" and "one computation" are observed,
not assumed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from bson import ObjectId
from foundation import gid
from leadgraph.config import Settings
from leadgraph.db import Connection, make_client
from leadgraph.services.seed import seed_demo
from leadgraph.store import keys
from leadgraph.store.segment_query import member_ids
from leadgraph.web.app import create_app
from pymongo import monitoring
from pymongo.asynchronous.database import AsyncDatabase
from serving import free_port, served
from shipped import SHIPPED

DATA = {"contacts", "accounts", "leads", "interactions"}  # the collections queries read


class Commands(monitoring.CommandListener):
    """Every command the server's client sends to the data collections, with its reply size."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.sent: list[tuple[str, str]] = []  # (command, collection or "<db>")
        self.batches: list[tuple[str, int]] = []  # (collection, documents in the first reply)
        self._pending: dict[int, str] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.database_name != self.database:
            return
        target = event.command.get(event.command_name)
        name = target if isinstance(target, str) else "<db>"
        if name in DATA or name == "<db>":
            self.sent.append((event.command_name, name))
            self._pending[event.request_id] = name

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        name = self._pending.pop(event.request_id, None)
        cursor = event.reply.get("cursor") if name is not None else None
        if isinstance(cursor, dict):
            self.batches.append((name or "", len(cursor.get("firstBatch", []))))

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._pending.pop(event.request_id, None)

    def reads(self) -> list[tuple[str, str]]:
        return [c for c in self.sent if c[0] in ("find", "aggregate", "count", "getMore")]

    def clear(self) -> None:
        self.sent.clear()
        self.batches.clear()


@dataclass
class Served:
    """A running server over one test database, and a client for it."""

    base_url: str
    http: httpx.AsyncClient
    db: AsyncDatabase
    commands: Commands
    state: Any
    keys: dict[str, str] = field(default_factory=dict)

    async def key(self, name: str, role: str = "admin") -> str:
        if name not in self.keys:
            self.keys[name], _ = await keys.create(self.db, role, name)
        return self.keys[name]

    async def post(
        self, query: str, variables: dict[str, Any] | None = None, *, key: str = "cost tests"
    ) -> httpx.Response:
        return await self.http.post(
            f"{self.base_url}/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {await self.key(key)}"},
        )

    async def gql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.post(query, variables)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body


@contextlib.asynccontextmanager
async def serve(mongo_uri: str, db: AsyncDatabase, **limits: Any) -> AsyncIterator[Served]:
    """The real app on a loopback port, with ``limits`` overriding the default settings.

    The background rescore is off (unless ``limits`` turns it on): it reads the leads whenever
    it runs, and these tests count the commands that answering a request sends."""
    commands = Commands(db.name)
    client = make_client(mongo_uri, event_listeners=[commands])
    limits = {"rescore_on_rules_change": False, **limits}
    settings = Settings(rules_dir=SHIPPED, port=free_port(), **limits)
    connection = Connection(client=client, db=client[db.name], embedded=None, uri=mongo_uri)
    app = create_app(settings, connection=connection)
    try:
        async with served(app, settings) as url, httpx.AsyncClient(timeout=60) as http:
            yield Served(url, http, db, commands, app.state.leadgraph)
    finally:
        await client.close()


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert body.get("data") is None, body
    (error,) = body["errors"]
    return error


async def test_a_huge_list_in_a_variable_is_refused_before_the_database(mongo_uri, db):
    async with serve(mongo_uri, db) as api:
        await api.key("cost tests")  # the key lookup is not what we count
        ids = [gid("Contact", ObjectId()) for _ in range(100_000)]
        api.commands.clear()
        response = await api.post("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": ids})
        error = error_of(response)
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert error["extensions"]["fields"] == [
            {"field": "ids", "message": "holds 100000 items, at most 100 allowed"}
        ]
        assert api.commands.reads() == []  # refused before anything was read
        # the cap holds for lists inside input objects too, and 100 ids are fine
        many_types = {"types": ["EMAIL_SENT"] * 101}
        response = await api.post(
            "query($f: InteractionFilter) { contacts(first: 1) { edges { node {"
            " interactions(first: 1, filter: $f) { totalCount } } } } }",
            {"f": many_types},
        )
        assert error_of(response)["extensions"]["fields"][0]["field"] == "filter"
        body = await api.gql("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": ids[:100]})
        assert body["data"]["nodes"] == [None] * 100


async def test_connections_have_a_default_and_a_maximum_page_and_read_only_a_page(mongo_uri, db):
    contact = ObjectId()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    await db.contacts.insert_one(
        {"_id": contact, "firstName": "Ann", "email": "ann@example.com", "createdAt": start}
    )
    await db.interactions.insert_many(
        [
            {
                "contactId": contact,
                "type": "email_opened",
                "occurredAt": start + timedelta(minutes=n),
                "createdAt": start,
            }
            for n in range(300)
        ]
    )
    query = """query($id: ID!, $n: Int, $after: String) { contact(id: $id) {
      interactions(first: $n, after: $after) {
        totalCount pageInfo { hasNextPage endCursor } edges { node { occurredAt } } } } }"""
    async with serve(mongo_uri, db) as api:
        await api.key("cost tests")
        api.commands.clear()
        page = (await api.gql(query, {"id": gid("Contact", contact)}))["data"]["contact"]
        page = page["interactions"]
        assert len(page["edges"]) == 20  # the default page size, not all 300
        assert page["totalCount"] == 300 and page["pageInfo"]["hasNextPage"] is True
        read = [n for coll, n in api.commands.batches if coll == "<db>" or coll == "interactions"]
        assert read and max(read) <= 21  # the database returned one page + 1, not 300

        # the next page with a cursor is read the same way (after the cursor, page + 1)
        api.commands.clear()
        cursor = page["pageInfo"]["endCursor"]
        second = await api.gql(query, {"id": gid("Contact", contact), "n": 100, "after": cursor})
        edges = second["data"]["contact"]["interactions"]["edges"]
        assert len(edges) == 100
        assert edges[0]["node"]["occurredAt"] > page["edges"][-1]["node"]["occurredAt"]
        read = [n for coll, n in api.commands.batches if coll == "<db>" or coll == "interactions"]
        assert read and max(read) <= 101

        # too large is refused (never clamped), naming the argument and the maximum
        api.commands.clear()
        response = await api.post(query, {"id": gid("Contact", contact), "n": 10_000})
        error = error_of(response)
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert error["extensions"]["fields"] == [
            {"field": "first", "message": "must be at most 100"}
        ]
        assert api.commands.reads() == []
        root = error_of(await api.post("{ contacts(last: 101) { totalCount } }"))
        assert root["extensions"]["fields"][0] == {
            "field": "last",
            "message": "must be at most 100",
        }


async def test_a_query_over_the_budget_is_refused_with_its_cost(mongo_uri, db):
    # 100 contacts x (100 leads + 100 interactions): 70,401 points, over the 50,000 budget
    costly = """{ contacts(first: 100) { edges { node {
      leads(first: 100) { edges { node { id topic } } }
      interactions(first: 100) { edges { node { type } } } } } } }"""
    async with serve(mongo_uri, db) as api:
        await api.key("cost tests")
        api.commands.clear()
        error = error_of(await api.post(costly))
        assert error["extensions"] == {
            "code": "COST_LIMIT_EXCEEDED",
            "cost": 70_401,
            "budget": 50_000,
        }
        assert api.commands.reads() == []
        # an affordable query runs and says what it cost: 1 + 2 x (totalCount 1 + edges 3)
        body = await api.gql("{ contacts(first: 2) { totalCount edges { node { id } } } }")
        assert body["extensions"]["cost"] == {"requested": 9, "budget": 50_000}
    # the budget is a setting
    async with serve(mongo_uri, db, max_query_cost=8) as api:
        error = error_of(
            await api.post("{ contacts(first: 2) { totalCount edges { node { id } } } }")
        )
        assert error["extensions"] == {"code": "COST_LIMIT_EXCEEDED", "cost": 9, "budget": 8}


async def test_a_key_over_its_rate_gets_429_and_other_keys_do_not(mongo_uri, db):
    page = "{ contacts(first: 100) { edges { node { id firstName lastName email } } } }"  # 601
    async with serve(mongo_uri, db, rate_limit_per_second=1.0, rate_limit_burst=1000) as api:
        first = await api.post(page, key="busy")
        assert first.status_code == 200 and "errors" not in first.json()
        second = await api.post(page, key="busy")
        assert second.status_code == 429
        retry_after = int(second.headers["Retry-After"])
        # 601 points needed, about 400 left, 1 point a second
        assert 150 <= retry_after <= 601
        error = error_of(second)
        assert error["extensions"]["code"] == "RATE_LIMITED"
        assert error["extensions"]["retryAfter"] == retry_after
        other = await api.post(page, key="quiet")
        assert other.status_code == 200 and "errors" not in other.json()
        # a cheap request still fits in what the busy key has left
        cheap = await api.post("{ contacts(first: 1) { totalCount } }", key="busy")
        assert cheap.status_code == 200 and "errors" not in cheap.json()


COUNTS = "{ " + " ".join(f"a{i}: segments {{ name memberCount }}" for i in range(30)) + " }"


def counts_of(body: dict[str, Any]) -> dict[str, int]:
    """The counts by segment, after checking that every alias got the same answer."""
    answers = [{s["name"]: s["memberCount"] for s in alias} for alias in body["data"].values()]
    assert len(answers) == 30 and all(a == answers[0] for a in answers)
    return answers[0]


async def test_segment_counts_are_computed_once_for_many_aliases_and_requests(mongo_uri, db):
    await seed_demo(db, n_contacts=60, interactions_per_contact=6)
    async with serve(mongo_uri, db) as api:
        cache = api.state.segment_counts
        ruleset = api.state.rules.current
        expected = {s.name: len(await member_ids(db, ruleset, s.name)) for s in ruleset.segments}
        assert any(expected.values())  # the demo data has members: the numbers mean something
        for n in range(50):
            await api.key(f"client {n}")
        # 50 clients at once, each asking 30 aliases of every segment's count: one computation
        # per segment, every answer right
        answers = await asyncio.gather(*(api.post(COUNTS, key=f"client {n}") for n in range(50)))
        for response in answers:
            assert response.status_code == 200, response.text
            assert counts_of(response.json()) == expected
        assert cache.computations == len(expected)
        # and later requests are answered from the cache, without reading the data
        api.commands.clear()
        assert counts_of(await api.gql(COUNTS)) == expected
        assert cache.computations == len(expected)
        assert api.commands.reads() == []

    # once the TTL has passed, the count is computed again and sees new members
    async with serve(mongo_uri, db, segment_count_ttl=0.0) as api:
        cache = api.state.segment_counts
        assert counts_of(await api.gql(COUNTS)) == expected
        assert cache.computations == len(expected)
        joined = ObjectId()
        await db.contacts.insert_one(
            {
                "_id": joined,
                "firstName": "New",
                "role": "decisionMaker",
                "createdAt": datetime.now(UTC),
            }
        )
        await db.leads.insert_one({"topic": "Contoso Ltd Conference", "parentContactId": joined})
        segment = "contoso-conference-decision-makers"
        assert counts_of(await api.gql(COUNTS)) == {**expected, segment: expected[segment] + 1}
        assert cache.computations == 2 * len(expected)


async def test_subscriptions_are_priced_too(api):
    from test_subscriptions import recv, subscribed

    query = """subscription { interactionRecorded {
      contact { interactions(first: 10000) { totalCount } } } }"""
    async with subscribed(api, query) as ws:
        message = await recv(ws)
    # refused at once, before the subscription starts (graphql-transport-ws "next" + "complete")
    assert message["type"] == "next" and message["payload"]["data"] is None, message
    (error,) = message["payload"]["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["fields"] == [{"field": "first", "message": "must be at most 100"}]


def test_limits_are_read_from_the_environment():
    settings = Settings.from_env(
        {
            "LEADGRAPH_MAX_QUERY_COST": "1234",
            "LEADGRAPH_RATE_LIMIT_PER_SECOND": "2.5",
            "LEADGRAPH_MAX_SUBSCRIPTIONS_PER_KEY": "3",
        }
    )
    assert settings.max_query_cost == 1234 and settings.rate_limit_per_second == 2.5
    assert settings.max_subscriptions_per_key == 3  # every numeric setting, one mechanism
    assert settings.max_page_size == Settings().max_page_size
    with pytest.raises(ValueError, match="LEADGRAPH_MAX_PAGE_SIZE must be a number"):
        Settings.from_env({"LEADGRAPH_MAX_PAGE_SIZE": "lots"})


async def test_a_rate_limited_operation_over_a_websocket_is_typed(mongo_uri, db):
    from .ws import open_socket, recv_for

    page = "{ contacts(first: 100) { edges { node { id firstName lastName email } } } }"  # 601
    async with serve(mongo_uri, db, rate_limit_per_second=1.0, rate_limit_burst=1000) as api:
        async with open_socket(api, await api.key("socket")) as sock:
            await sock.subscribe("1", page)
            first = await recv_for(sock, "1")
            assert first["type"] == "next" and "errors" not in first["payload"], first
            assert (await recv_for(sock, "1"))["type"] == "complete"
            await sock.subscribe("2", page)
            second = await recv_for(sock, "2")
        assert second["type"] == "error", second  # graphql-transport-ws: refused before it ran
        (error,) = second["payload"]
        assert error["extensions"]["code"] == "RATE_LIMITED"  # not an internal error
        assert 150 <= error["extensions"]["retryAfter"] <= 601
        assert error["message"].startswith("rate limit of key 'socket' reached: retry in ")
