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


class Served(str):
    """The base URL of a started server; ``pid`` is its process (for CPU accounting)."""

    pid: int


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) process ``pid`` has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def leadgraph_server(
    uri: str, db_name: str, env: dict[str, str] | None = None
) -> AsyncIterator[Served]:
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
    url = Served(f"http://127.0.0.1:{port}")
    url.pid = proc.pid
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
