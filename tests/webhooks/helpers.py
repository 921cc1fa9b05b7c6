"""A receiving endpoint, a delivery worker and events for the webhook tests."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from leadgraph.config import Settings
from leadgraph.events import ContactUpdated, Event, LeadCreated
from leadgraph.services import dispatch
from leadgraph.services.delivery import Worker
from serving import free_port, served
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

#: What the tests' workers use: loopback allowed, retries in tenths of a second.
FAST = Settings(
    webhook_allow_private=True,
    webhook_retry_base=0.05,
    webhook_retry_max=0.2,
    webhook_timeout=2.0,
    webhook_poll_seconds=0.05,
)

E = TypeVar("E", bound=Event)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """An endpoint answering ``answers`` in turn (then 200); ``hold``: the first request
    waits for it before answering."""

    answers: list[int] = field(default_factory=list)
    got: list[Received] = field(default_factory=list)
    hold: asyncio.Event | None = None
    body: bytes = b"ok"
    url: str = ""

    async def handle(self, request: Request) -> Response:
        self.got.append(Received(dict(request.headers), await request.body()))
        if self.hold is not None and len(self.got) == 1:
            await self.hold.wait()
        status = self.answers.pop(0) if self.answers else 200
        return Response(self.body, status_code=status)


@contextlib.asynccontextmanager
async def receiving(**kwargs: Any) -> AsyncIterator[Receiver]:
    receiver = Receiver(**kwargs)
    app = Starlette(routes=[Route("/hook", receiver.handle, methods=["POST"])])
    async with served(app, Settings(port=free_port())) as base:
        receiver.url = f"{base}/hook"
        yield receiver
        if receiver.hold is not None:
            receiver.hold.set()


@contextlib.asynccontextmanager
async def delivering(db: Any, settings: Settings = FAST, **changes: Any) -> AsyncIterator[Worker]:
    """A delivery worker running on ``db`` (as ``leadgraph serve`` runs one)."""
    async with Worker(db, replace(settings, **changes)) as worker:
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        try:
            yield worker
        finally:
            stop.set()
            await task


async def until(check: Callable[[], Awaitable[Any]], timeout: float = 30.0) -> Any:
    """Poll ``check`` until it returns something truthy (a failure after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        found = await check()
        if found:
            return found
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.02)


async def happened(db: Any, *evts: E) -> list[E]:
    """Record events as a service does (stored in a transaction, then dispatched)."""
    await dispatch.record(db, None, list(evts))
    return list(evts)


def contact_updated(**kwargs: Any) -> ContactUpdated:
    from bson import ObjectId
    from leadgraph.events import Change

    return ContactUpdated(
        contact_id=kwargs.get("contact_id", ObjectId()),
        changes=(Change("jobTitle", "Intern", "Director of IT"),),
    )


def lead_created() -> LeadCreated:
    from bson import ObjectId

    return LeadCreated(lead_id=ObjectId(), source="api", stage="new", topic="Demo")


CREATE = """
mutation($input: CreateWebhookInput!) {
  createWebhook(input: $input) {
    __typename
    ... on WebhookPayload { webhook { id url events secret active description disabledReason } }
    ... on ValidationError { field fields { field message } }
    ... on ForbiddenError { permission role }
    ... on ConflictError { message }
  }
}"""

DELIVERIES = """
query($id: ID!) {
  webhookDeliveries(webhook: $id, first: 50) {
    totalCount
    nodes { id status eventId eventType attempts lastResponseCode lastError nextAttemptAt
            deliveredAt }
  }
}"""

WEBHOOKS = "{ webhooks { id url events secret active description disabledReason } }"


async def create(api: Any, url: str, events: list[str], **more: Any) -> dict[str, Any]:
    out = await api.gql(CREATE, {"input": {"url": url, "events": events, **more}})
    return out["createWebhook"]


async def deliveries(api: Any, webhook_id: str) -> list[dict[str, Any]]:
    return (await api.gql(DELIVERIES, {"id": webhook_id}))["webhookDeliveries"]["nodes"]
