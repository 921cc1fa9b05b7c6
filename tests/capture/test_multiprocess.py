"""Two server processes against one database: uniqueness is the database's, not a lock's."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from .helpers import SUBMIT, submit


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_submissions_through_two_processes_make_one_contact(api, mongo_uri, tmp_path):
    port = _port()
    env = {
        **os.environ,
        "MONGODB_URI": mongo_uri,
        "LEADGRAPH_DB_NAME": api.db.name,
        "LEADGRAPH_DATA_DIR": str(tmp_path),
    }
    exe = str(Path(sys.executable).parent / "leadgraph")
    other = subprocess.Popen(
        [exe, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(timeout=60) as http:
            for _ in range(300):
                try:
                    if (await http.get(f"{url}/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            headers = {"Authorization": f"Bearer {await api.key('marketer')}"}

            async def remote(i: int) -> dict:
                body = {
                    "query": SUBMIT,
                    "variables": {
                        "input": {"formId": "expo", "fields": {"email": "twice@example.com"}}
                    },
                }
                r = await http.post(f"{url}/graphql", json=body, headers=headers)
                return r.json()["data"]["submitForm"]

            results = await asyncio.gather(
                *[
                    remote(i) if i % 2 else submit(api, "expo", {"email": "twice@example.com"})
                    for i in range(30)
                ]
            )
    finally:
        other.terminate()
        other.wait(timeout=30)
    assert all(r["__typename"] == "CapturePayload" for r in results), results
    assert len({r["contact"]["id"] for r in results}) == 1
    assert len({r["lead"]["id"] for r in results}) == 1
    assert sum(r["contactCreated"] for r in results) == 1
    assert await api.db.contacts.count_documents({}) == 1
    assert await api.db.leads.count_documents({}) == 1
    assert await api.db.interactions.count_documents({}) == 30
