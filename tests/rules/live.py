"""A real server (uvicorn, lifespan, rules watcher) on its own rules directory and test database.

The session's ``server`` fixture reads the shipped ``rules/``; hot-reload tests need a directory
they can break, so each gets a server of its own, bound to the test's fresh database.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pluggy
from conftest import Api
from leadgraph.config import Settings
from leadgraph.db import Connection
from leadgraph.web.app import create_app
from leadgraph.web.state import AppState
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from serving import free_port, served

STATUS = "version loadedAt errors { file line column message }"
RULES_STATUS = f"{{ rulesStatus {{ {STATUS} }} }}"
RELOAD = f"mutation {{ reloadRules {{ {STATUS} }} }}"


@contextlib.asynccontextmanager
async def live_server(
    rules_dir: Path,
    db: AsyncDatabase,
    client: AsyncMongoClient,
    uri: str,
    *,
    pm: pluggy.PluginManager | None = None,
    **settings_: Any,
) -> AsyncIterator[tuple[Api, AppState]]:
    """Serve the app on a loopback port with ``rules_dir``, ``db`` and the plugins of ``pm``
    (the default ones without it), and ``settings_`` other than the defaults; yield a client
    for it and the app's state."""
    settings = Settings(rules_dir=rules_dir, port=free_port(), **settings_)
    app = create_app(settings, connection=Connection(client=client, db=db, embedded=None, uri=uri))
    app.state.leadgraph.pm = pm
    async with served(app, settings) as url, httpx.AsyncClient(timeout=60) as http:
        yield Api(base_url=url, http=http, db=db), app.state.leadgraph


async def rules_status(api: Api) -> dict[str, Any]:
    return (await api.gql(RULES_STATUS))["rulesStatus"]


async def reload_rules(api: Api) -> dict[str, Any]:
    """``reloadRules`` over HTTP; it must answer a status, never a GraphQL error."""
    return (await api.gql(RELOAD))["reloadRules"]


async def until(check: Callable[[], Awaitable[Any]], what: str, *, timeout: float = 60.0) -> Any:
    """Poll ``check`` until it returns something truthy (the watcher works in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)
