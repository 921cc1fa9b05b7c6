"""``leadgraph serve`` in its own process for a benchmark, as a user runs it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def leadgraph_server(
    uri: str, db_name: str, env: dict[str, str] | None = None
) -> AsyncIterator[str]:
    """Start ``leadgraph serve`` on ``uri``/``db_name`` (``env``: more settings), wait until
    ``/readyz`` answers 200, yield its base URL, and stop it afterwards."""
    port = free_port()
    env = {**os.environ, **(env or {}), "MONGODB_URI": uri, "LEADGRAPH_DB_NAME": db_name}
    exe = str(Path(sys.executable).parent / "leadgraph")
    proc = subprocess.Popen(
        [exe, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(600):
                if proc.poll() is not None:
                    raise RuntimeError(f"leadgraph serve exited with {proc.returncode}")
                try:
                    if (await http.get(f"{url}/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("leadgraph serve did not become ready")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
