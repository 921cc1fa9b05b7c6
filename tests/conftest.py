"""Fixtures: one throw-away embedded database server and one real HTTP server per test session;
every test gets its own fresh database."""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from leadgraph.config import Settings
from leadgraph.db import Connection, ensure_indexes, make_client
from leadgraph.embedded import EmbeddedMongo
from leadgraph.services.stages import DatabaseStages
from leadgraph.store import keys
from leadgraph.store.clock import ManualClock, set_clock
from leadgraph.web.app import create_app
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from serving import free_port, served
from shipped import SHIPPED

ROOT = Path(__file__).resolve().parent.parent

# Never the real per-user data directory (nor a checkout's ./.leadgraph): every Settings()
# and every leadgraph command the tests start without their own data dir uses this one.
os.environ["LEADGRAPH_DATA_DIR"] = tempfile.mkdtemp(prefix="leadgraph-tests-")
# Webhooks to the tests' receivers on loopback (tests/webhooks/test_addresses.py checks the
# refusal without it).
os.environ["LEADGRAPH_WEBHOOK_ALLOW_PRIVATE"] = "1"


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    """The clock every service, store module and event reads (``leadgraph.store.clock``),
    stopped at the test's start: time passes only by ``clock.advance(timedelta)``, so no test
    sleeps for it.  The test's servers run in this process and read it too."""
    manual = ManualClock()
    previous = set_clock(manual)
    try:
        yield manual
    finally:
        set_clock(previous)


@pytest.fixture(scope="session")
def mongo_uri() -> Iterator[str]:
    with EmbeddedMongo(":memory:") as server:
        yield server.uri


@pytest.fixture(scope="session")
async def mongo_client(mongo_uri: str) -> AsyncIterator[AsyncMongoClient]:
    client = make_client(mongo_uri)
    yield client
    await client.close()


@pytest.fixture
async def db(mongo_client: AsyncMongoClient) -> AsyncIterator[AsyncDatabase]:
    """A fresh database (with all indexes) for one test."""
    database = mongo_client[f"t_{uuid.uuid4().hex[:12]}"]
    await ensure_indexes(database)
    yield database
    await mongo_client.drop_database(database.name)


@contextlib.asynccontextmanager
async def serving(
    client: AsyncMongoClient,
    uri: str,
    db_name: str,
    rules_dir: Path = SHIPPED,
    pm: Any = None,
    **fields: Any,
) -> AsyncIterator[Any]:
    """The real app served by uvicorn on a loopback port (lifespan, rules and all), on the
    database ``db_name``; ``app.base_url`` is where it listens.  ``pm``: a plugin manager to
    use instead of the one the server would build (a test's plugins registered in it);
    ``fields``: Settings fields to set (``cors_origins=(...)``)."""
    settings = Settings(rules_dir=rules_dir, port=free_port(), **fields)
    conn = Connection(client=client, db=client[db_name], embedded=None, uri=uri)
    app = create_app(settings, connection=conn)
    app.state.leadgraph.pm = pm
    async with served(app, settings) as url:
        app.base_url = url  # type: ignore[attr-defined]
        if app.state.leadgraph.orphan_link is not None:  # its start-up step, settled first
            await app.state.leadgraph.orphan_link
        yield app


@pytest.fixture(scope="session")
async def server(mongo_client: AsyncMongoClient, mongo_uri: str) -> AsyncIterator[Any]:
    """The app every ``api`` test talks to (each test swaps in its own database)."""
    async with serving(mongo_client, mongo_uri, "t_bootstrap") as app:
        yield app


@contextlib.asynccontextmanager
async def listening(server: Any, api: Any, mongo_uri: str, listener: Any) -> AsyncIterator[Any]:
    """Serve the test's database through a client that reports its commands to ``listener``
    (a PyMongo CommandListener); yields the listener."""
    client = make_client(mongo_uri, event_listeners=[listener])
    state = server.state.leadgraph
    previous = state.connection
    state.connection = Connection(client=client, db=client[api.db.name], embedded=None, uri="")
    try:
        yield listener
    finally:
        state.connection = previous
        await client.close()


@dataclass
class Api:
    """A GraphQL client for one test, bound to that test's database."""

    base_url: str
    http: httpx.AsyncClient
    db: AsyncDatabase
    keys: dict[str, str] = field(default_factory=dict)

    async def key(self, role: str) -> str:
        if role not in self.keys:
            self.keys[role], _ = await keys.create(self.db, role, f"test {role}")
        return self.keys[role]

    async def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        role: str | None = "admin",
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        hdrs = dict(headers or {})
        if role is not None:
            hdrs.setdefault("Authorization", f"Bearer {await self.key(role)}")
        return await self.http.post(
            f"{self.base_url}/graphql",
            json={"query": query, "variables": variables or {}},
            headers=hdrs,
        )

    async def gql(
        self, query: str, variables: dict[str, Any] | None = None, *, role: str = "admin"
    ) -> dict[str, Any]:
        """Run a query that must succeed; returns ``data``."""
        response = await self.post(query, variables, role=role)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]


@pytest.fixture
async def api(server: Any, db: AsyncDatabase) -> AsyncIterator[Api]:
    state = server.state.leadgraph
    previous = state.connection
    state.connection = Connection(client=previous.client, db=db, embedded=None, uri=previous.uri)
    if state.rules is not None and state.rules.current is not None:
        # what the server does for its database when rules go live (per-model lead indexes)
        await DatabaseStages(lambda: db).prepare(state.rules.current)
    async with httpx.AsyncClient(timeout=60) as http:
        yield Api(base_url=server.base_url, http=http, db=db)
    state.connection = previous


@pytest.fixture
def orphans_stay(server: Any, api: Api) -> Iterator[None]:
    """The live rules with the matching file's ``link_orphan_leads: false``: a lead created
    with no parent stays an orphan until ``linkOrphanLeads`` (the behaviour before the seeds'
    recommended setup became the default)."""
    manager = server.state.leadgraph.rules
    live = manager.current
    off = live.matching.model_copy(update={"link_orphan_leads": False})
    manager.current = replace(live, matching=off)
    try:
        yield
    finally:
        manager.current = live
