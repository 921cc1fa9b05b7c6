"""The delivery worker as it runs in production: inside ``leadgraph serve`` (a delivery
survives kill -9 of the server) and alone as ``leadgraph webhooks deliver``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from serving import free_port
from shipped import SHIPPED
from standardwebhooks import Webhook
from strawberry.relay import GlobalID

from .helpers import contact_updated, create, deliveries, happened, receiving, until

LEADGRAPH = str(Path(sys.executable).parent / "leadgraph")


def _env(mongo_uri: str, db_name: str, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "MONGODB_URI": mongo_uri,
        "LEADGRAPH_DB_NAME": db_name,
        "LEADGRAPH_DATA_DIR": str(tmp_path),
        "LEADGRAPH_RULES_DIR": str(SHIPPED),
        "LEADGRAPH_WEBHOOK_ALLOW_PRIVATE": "1",
        "LEADGRAPH_WEBHOOK_TIMEOUT": "3",
        "LEADGRAPH_WEBHOOK_LEASE_SECONDS": "1",  # the lease is at least timeout + 2 s
        "LEADGRAPH_WEBHOOK_POLL_SECONDS": "0.1",
        "LEADGRAPH_WEBHOOK_RETRY_BASE": "0.05",
    }


@contextlib.asynccontextmanager
async def serve(env: dict[str, str]) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """``leadgraph serve`` in a child process, once it answers /healthz; with its URL."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        LEADGRAPH,
        "serve",
        "--port",
        str(port),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient() as http:

            async def up() -> bool:
                assert proc.returncode is None, "leadgraph serve exited"
                try:
                    return (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await until(up, timeout=60)
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()


async def test_a_delivery_survives_kill_9_of_the_server(api, mongo_uri, tmp_path):
    env = _env(mongo_uri, api.db.name, tmp_path)
    hold = asyncio.Event()  # the endpoint is slow: the first attempt is still running
    async with receiving(hold=hold) as rx:
        hook = (await create(api, rx.url, ["contact.updated"]))["webhook"]
        contact = await _contact(api)
        async with serve(env) as (first, url):
            await _edit(api, url, contact)  # the write, through the server about to be killed
            await until(lambda: _got(rx, 1))
            first.kill()  # SIGKILL mid-attempt: nothing recorded, the lease runs out
            await first.wait()
        [pending] = await deliveries(api, hook["id"])
        assert (pending["status"], pending["attempts"]) == ("PENDING", 0)
        hold.set()
        async with serve(env):  # a new server process
            [found] = await until(lambda: _status(api, hook["id"], "DELIVERED"))
    assert found["attempts"] == 1
    assert [got.headers["webhook-id"] for got in rx.got] == [found["eventId"]] * 2
    for got in rx.got:
        message = Webhook(hook["secret"]).verify(got.body, got.headers)
        assert message["type"] == "contact.updated"
        assert message["data"]["record"]["id"] == GlobalID.from_id(contact).node_id


async def test_webhooks_deliver_runs_a_worker_of_its_own(api, mongo_uri, tmp_path):
    env = _env(mongo_uri, api.db.name, tmp_path)
    async with receiving() as rx:
        hook = (await create(api, rx.url, ["*"]))["webhook"]
        await happened(api.db, contact_updated(), contact_updated())
        proc = await asyncio.create_subprocess_exec(
            LEADGRAPH,
            "webhooks",
            "deliver",
            "--until-idle",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _, errs = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, errs.decode()
    assert "attempted 2 webhook deliveries" in errs.decode()
    assert len(rx.got) == 2
    assert [d["status"] for d in await deliveries(api, hook["id"])] == ["DELIVERED"] * 2


async def _contact(api) -> str:
    out = await api.gql(
        'mutation { createContact(input: {email: "k9@example.com", jobTitle: "Intern"}) '
        "{ ... on ContactPayload { contact { id } } } }"
    )
    return out["createContact"]["contact"]["id"]


async def _edit(api, url: str, contact: str) -> None:
    query = (
        'mutation($id: ID!) { updateContact(input: {id: $id, jobTitle: "Director of IT"}) '
        "{ __typename } }"
    )
    headers = {"Authorization": f"Bearer {await api.key('admin')}"}
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            f"{url}/graphql", json={"query": query, "variables": {"id": contact}}, headers=headers
        )
    assert answer.json()["data"]["updateContact"]["__typename"] == "ContactPayload", answer.text


async def _got(rx, n):
    return len(rx.got) >= n


async def _status(api, hook_id, status):
    found = await deliveries(api, hook_id)
    return found if found and all(d["status"] == status for d in found) else None
