"""Sending webhook deliveries: signed, leased, retried until a 2xx (docs/events.md).

A :class:`Worker` claims a due delivery (:func:`leadgraph.store.webhook_deliveries.claim`:
a lease, so no two workers of any process send it at once), reads its event and webhook,
and POSTs the Standard Webhooks message:

- headers ``webhook-id`` (the event's id, the same on every attempt), ``webhook-timestamp``
  (the attempt's time, in seconds) and ``webhook-signature`` (``v1,`` + base64 of the
  HMAC-SHA256, keyed by the webhook's secret, of ``id.timestamp.body``);
- body ``{"type", "timestamp", "data"}``, the event as JSON (:func:`payload`).

A 2xx delivers it.  410 Gone disables the webhook.  Any other answer, a timeout or a refused
connection is retried after an exponential, jittered backoff until ``webhook_retry_hours``
after the first attempt; a long run of failed attempts on one endpoint disables it with the
reason shown.  A worker killed mid-attempt leaves its lease to run out: the delivery is then
sent again (at least once; the same ``webhook-id`` lets the receiver drop the duplicate).

The worker runs in ``leadgraph serve`` (:mod:`leadgraph.web.runtime`) and alone as
``leadgraph webhooks deliver``; any number of them may run against one database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

import httpx
import orjson
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase
from standardwebhooks import Webhook

from .. import __version__
from ..config import Settings
from ..events import Change, Event, WebhookUpdated
from ..store import events as event_store
from ..store import webhook_deliveries as deliveries
from ..store import webhooks
from ..store.clock import now
from ..types import PluginManager, Session
from . import addresses, dispatch
from .active_webhooks import ACTIVE
from .delivery_wake import WAKERS

log = logging.getLogger("leadgraph.webhooks")


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: the answer's status code, or why there was none."""

    status: int | None = None
    error: str | None = None
    response: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def describe(self) -> str:
        return f"HTTP {self.status}" if self.status is not None else str(self.error)


def _default(value: Any) -> Any:
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_default, option=orjson.OPT_UTC_Z)


def payload(event: dict[str, Any], max_bytes: int) -> bytes:
    """The message body of a stored event.  One over ``max_bytes`` is sent thin: its
    ``fields`` and change values left out, ``truncated: true`` (read the record instead)."""
    record = event.get("record") or {}
    data: dict[str, Any] = {
        "id": event["_id"],
        "version": event.get("v", 1),
        "at": event["at"],
        "actor": event.get("actor"),
        "record": {"type": record.get("type"), "id": record.get("id")},
        "subject": event.get("subject"),
        "changes": event.get("changes") or [],
        "fields": event.get("data") or {},
    }
    if event.get("redacted"):
        data["redacted"] = True
    body = _dumps({"type": event["type"], "timestamp": event["at"], "data": data})
    if len(body) <= max_bytes:
        return body
    data["fields"] = {}
    data["changes"] = [{"field": c.get("field"), "old": None, "new": None} for c in data["changes"]]
    data["truncated"] = True
    return _dumps({"type": event["type"], "timestamp": event["at"], "data": data})


def signed_headers(secret: str, msg_id: str, at: datetime, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt (signed by the reference library)."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, at, body),
        "content-type": "application/json",
        "user-agent": f"leadgraph-webhooks/{__version__}",
    }


def backoff(attempts: int, settings: Settings) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones: doubling from
    ``webhook_retry_base``, up to ``webhook_retry_max``, each within ±25 % (jitter, so that
    the deliveries of one outage do not all come back at once)."""
    delay = min(settings.webhook_retry_base * 2 ** max(attempts - 1, 0), settings.webhook_retry_max)
    return min(delay * random.uniform(0.75, 1.25), settings.webhook_retry_max)


class Worker:
    """Delivers what is due in one database; ``async with`` it, then :meth:`run` or
    :meth:`drain`."""

    def __init__(
        self, db: AsyncDatabase, settings: Settings, pm: PluginManager | None = None
    ) -> None:
        self.db = db
        self.settings = settings
        self.pm = pm  # hears the webhook.updated of an endpoint this worker disables
        # An attempt ends within the timeout; the lease outlasts it, so no other worker sends
        # a delivery whose attempt is still running.
        self.lease = timedelta(
            seconds=max(settings.webhook_lease_seconds, settings.webhook_timeout + 2)
        )
        self._client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> Worker:
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.settings.webhook_timeout),
            # one connection per attempt: a connection made to one checked address for one
            # name is never reused for another
            limits=httpx.Limits(max_keepalive_connections=0),
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment: it would skip the address check
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set: up to ``webhook_concurrency`` attempts at once."""
        waker = asyncio.Event()
        WAKERS.add(waker)
        slots = asyncio.Semaphore(max(self.settings.webhook_concurrency, 1))
        running: set[asyncio.Task[None]] = set()

        def done(task: asyncio.Task[None]) -> None:
            running.discard(task)
            slots.release()

        try:
            while not stop.is_set():
                await slots.acquire()
                waker.clear()
                doc = await self._claim(now())
                if doc is None:
                    slots.release()
                    await _first_of(stop, waker, self.settings.webhook_poll_seconds)
                    continue
                task = asyncio.create_task(self._attempt_logged(doc))
                running.add(task)
                task.add_done_callback(done)
        finally:
            WAKERS.discard(waker)
            for task in list(running):
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def drain(self) -> int:
        """Attempt every delivery due now, one after another; how many were attempted (a
        failed one is left to its next attempt)."""
        started, done = now(), 0
        while (doc := await self._claim(started)) is not None:
            await self._attempt_logged(doc)
            done += 1
        return done

    async def _claim(self, at: datetime) -> dict[str, Any] | None:
        try:
            return await deliveries.claim(self.db, at, now() + self.lease)
        except Exception:  # the database is unreachable: try again at the next poll
            log.exception("could not claim webhook deliveries")
            return None

    async def _attempt_logged(self, doc: dict[str, Any]) -> None:
        try:
            await self.attempt(doc)
        except Exception:  # its lease runs out and it is tried again
            log.exception("webhook delivery %s failed unexpectedly", doc["_id"])

    async def attempt(self, doc: dict[str, Any]) -> None:
        """Send one claimed delivery and record the outcome."""
        hook = await webhooks.get(self.db, doc["webhook"])
        if hook is None or not hook.get("active"):
            reason = "the webhook was disabled" if hook else "the webhook was deleted"
            await self._finish(doc, {"status": "cancelled", "lastError": reason})
            return
        event = await event_store.get(self.db, doc["event"])
        if event is None:
            await self._finish(doc, {"status": "cancelled", "lastError": "the event expired"})
            return
        at = now()
        body = payload(event, self.settings.webhook_max_payload_bytes)
        headers = signed_headers(hook["secret"], str(event["_id"]), at, body)
        outcome = await self._send(hook["url"], headers, body)
        await self._settle(doc, hook, outcome, at)

    async def _send(self, url: str, headers: dict[str, str], body: bytes) -> Outcome:
        assert self._client is not None, "use the worker as `async with Worker(...)`"
        limit = self.settings.webhook_max_response_bytes
        try:
            async with asyncio.timeout(self.settings.webhook_timeout):
                target = await addresses.target(
                    url,
                    allow_private=self.settings.webhook_allow_private,
                    timeout=self.settings.webhook_timeout,
                )
                request_url, extensions = _pinned(target, headers)
                async with self._client.stream(
                    "POST", request_url, content=body, headers=headers, extensions=extensions
                ) as response:
                    kept = await _read_at_most(response, limit)
                    return Outcome(status=response.status_code, response=kept)
        except addresses.Refused as exc:
            return Outcome(error=f"refused: {exc}")
        except TimeoutError:
            return Outcome(error=f"timed out after {self.settings.webhook_timeout:g} s")
        except httpx.HTTPError as exc:
            return Outcome(error=f"{type(exc).__name__}: {exc}"[:500])

    async def _finish(self, doc: dict[str, Any], changes: dict[str, Any]) -> bool:
        return await deliveries.settle(self.db, doc["_id"], doc["claim"], changes)

    async def _settle(
        self, doc: dict[str, Any], hook: dict[str, Any], outcome: Outcome, at: datetime
    ) -> None:
        retry_until = doc.get("retryUntil") or at + timedelta(
            hours=self.settings.webhook_retry_hours
        )
        changes: dict[str, Any] = {
            "attempts": doc.get("attempts", 0) + 1,
            "lastAttemptAt": at,
            "lastStatus": outcome.status,
            "lastError": outcome.error,
            "lastResponse": outcome.response,
            "retryUntil": retry_until,
        }
        if outcome.ok:
            changes |= {"status": "delivered", "deliveredAt": now()}
        elif outcome.status == 410:
            changes |= {"status": "failed", "lastError": "410 Gone: the webhook was disabled"}
        else:
            next_at = at + timedelta(seconds=backoff(changes["attempts"], self.settings))
            gave_up = next_at > retry_until
            changes |= {"status": "failed"} if gave_up else {"status": "pending"}
            changes["nextAttemptAt"] = None if gave_up else next_at
        if outcome.status == 410:
            # disabled before the delivery is settled: whoever sees the delivery failed also
            # sees the endpoint off, so no event after it is fanned out to a gone endpoint
            reason = f"the endpoint answered 410 Gone at {at.isoformat()}"
            await self._disable(hook["_id"], reason)
        if not await self._finish(doc, changes):
            return  # the lease ran out: another worker owns the delivery now
        if outcome.ok:
            await webhooks.succeeded(self.db, hook["_id"])
        elif outcome.status != 410:
            await self._count_failure(hook["_id"], outcome, at)

    async def _disable(self, webhook: ObjectId, reason: str) -> bool:
        """Turn an active endpoint off, saying why, with its ``webhook.updated`` event in the
        same transaction (a change the server makes is recorded like a caller's)."""

        async def work(session: Session) -> tuple[bool, list[Event]]:
            before = await webhooks.disable(self.db, webhook, reason, session)
            if before is None:
                return False, []  # already off
            changes = (
                Change("active", True, False),
                Change("disabledReason", before.get("disabledReason"), reason),
            )
            return True, [WebhookUpdated(webhook_id=webhook, changes=changes)]

        return await dispatch.written(
            self.db, self.pm, work, committed=lambda: ACTIVE.forget(self.db)
        )

    async def _count_failure(self, webhook: ObjectId, outcome: Outcome, at: datetime) -> None:
        """One more failure in the endpoint's run; a run long enough in number and in time
        disables it (a short outage under many events does not)."""
        doc = await webhooks.failed(self.db, webhook, at)
        if doc is None:
            return
        count, since = doc.get("failureCount", 0), doc.get("failingSince") or at
        long_enough = at - since >= timedelta(hours=self.settings.webhook_disable_hours)
        if count >= self.settings.webhook_disable_failures and long_enough:
            reason = (
                f"{count} failed attempts in a row since {since.isoformat()} "
                f"(the last: {outcome.describe()})"
            )
            if await self._disable(webhook, reason):
                log.warning("webhook %s disabled: %s", webhook, reason)


def _pinned(target: addresses.Target, headers: dict[str, str]) -> tuple[Any, dict[str, Any]]:
    """The URL to connect to: the checked address in place of the host (``Host`` and TLS SNI
    keep the name), or the URL as given when addresses are not checked."""
    url = httpx.URL(target.url)
    if target.address is None or target.address == target.host:
        return url, {}
    headers["host"] = url.netloc.decode("ascii")
    extensions = {"sni_hostname": target.host} if url.scheme == "https" else {}
    return url.copy_with(host=target.address), extensions


async def _read_at_most(response: httpx.Response, limit: int) -> str | None:
    """The first ``limit`` bytes of an answer's body, as text (the rest is never read)."""
    kept = b""
    async for chunk in response.aiter_raw():
        kept += chunk[: limit - len(kept)]
        if len(kept) >= limit:
            break
    return kept.decode("utf-8", "replace") if kept else None


async def _first_of(stop: asyncio.Event, waker: asyncio.Event, timeout: float) -> None:
    """Wait until ``stop`` or ``waker`` is set, or ``timeout`` seconds."""
    waits = [asyncio.create_task(stop.wait()), asyncio.create_task(waker.wait())]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waits:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*waits, return_exceptions=True)
