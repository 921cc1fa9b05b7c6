"""Serve an app on a loopback port as ``leadgraph serve`` does (uvicorn with its HTTP limits):
the one way every test runs a server of its own."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import uvicorn
from leadgraph.config import Settings
from leadgraph.web.http_limits import uvicorn_options
from starlette.applications import Starlette


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def served(app: Starlette, settings: Settings) -> AsyncIterator[str]:
    """Run ``app`` under uvicorn with the serve command's HTTP limits; yields its base URL."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=settings.port,
        log_level="warning",
        ws="websockets-sansio",
        lifespan="on",
        **uvicorn_options(settings.header_timeout),
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    # the start-up rounds (the SLA scheduler's, linking the stored orphan leads) read the
    # database: settled before a test talks to it
    state = getattr(app.state, "leadgraph", None)
    for started in ("sla_start", "orphan_link"):
        round_ = getattr(state, started, None)
        if round_ is not None:
            await round_
    try:
        yield f"http://127.0.0.1:{settings.port}"
    finally:
        server.should_exit = True
        await task
