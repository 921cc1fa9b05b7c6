"""A real server (uvicorn, lifespan, rules watcher) on its own rules directory and test database.

The session's ``server`` fixture reads the shipped ``rules/``; hot-reload tests need a directory
they can break, so each gets a server of its own, bound to the test's fresh database.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pluggy
import uvicorn
from conftest import Api
from leadgraph.app import AppState, create_app
from leadgraph.config import Settings
from leadgraph.db import Connection
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

STATUS = "version loadedAt errors { file line column message }"
RULES_STATUS = f"{{ rulesStatus {{ {STATUS} }} }}"
RELOAD = f"mutation {{ reloadRules {{ {STATUS} }} }}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def live_server(
    rules_dir: Path,
    db: AsyncDatabase,
    client: AsyncMongoClient,
    uri: str,
    *,
    pm: pluggy.PluginManager | None = None,
) -> AsyncIterator[tuple[Api, AppState]]:
    """Serve the app on a loopback port with ``rules_dir``, ``db`` and the plugins of ``pm``
    (the default ones without it); yield a client for it and the app's state."""
    port = _free_port()
    app = create_app(
        Settings(rules_dir=rules_dir, port=port),
        connection=Connection(client=client, db=db, embedded=None, uri=uri),
    )
    app.state.leadgraph.pm = pm
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio", lifespan="on"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        async with httpx.AsyncClient(timeout=60) as http:
            yield Api(base_url=f"http://127.0.0.1:{port}", http=http, db=db), app.state.leadgraph
    finally:
        server.should_exit = True
        await task


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
