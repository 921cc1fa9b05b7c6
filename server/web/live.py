"""Live feeds for subscriptions: one change stream of the record of what changed (the
``events`` collection, see :mod:`leadgraph.store.events`) per database per process, fanned out.

Every ``interactionRecorded``, ``leadChanged``, ``leadQualified`` or
``segmentMembershipChanged`` subscription of this process reads the same stream of new
events.  A :class:`Feed` names the event types that concern its subscriptions and how such an
event becomes the document they see (the interaction, the lead as stored now, the opportunity,
the evaluation: read once per event, whatever the number of subscribers).  The :class:`Hub`
opens the stream when the first subscriber arrives, closes it when the last one leaves, and
copies each document into the bounded queue of every subscriber of that feed whose filter it
matches (filters run here, in memory).  So N subscriptions cost one pooled database
connection, not N, and every change a subscriber hears was recorded with its transaction.

- **Limits**: at most ``max_subscriptions_per_key`` open subscriptions per API key and
  ``max_subscriptions`` in all (per process).  One more is refused with a
  :class:`TooManySubscriptions` error (code ``TOO_MANY_SUBSCRIPTIONS``), which
  graphql-transport-ws sends as an ``error`` message for that operation id only: the socket and
  its other subscriptions go on.
- **Slow subscribers**: a subscriber whose queue (``subscription_queue`` events) is full when
  the next event arrives is dropped: it ends with a ``SUBSCRIBER_TOO_SLOW`` error; the others
  never wait for it.
- **Failures**: after a transient database error the stream is reopened after the last event
  seen (its resume token), with a growing pause (up to 5 s); when the database no longer has
  that point, it starts from now and says so in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure, PyMongoError

from ..errors import UserError
from ..store import events as events_store
from ..store import interactions as interactions_store
from ..store import leads as leads_store
from ..store import opportunities as opportunities_store
from ..store import segment_evaluations

if TYPE_CHECKING:
    from ..config import Settings

log = logging.getLogger("leadgraph.web.live")

T = TypeVar("T")
Document = dict[str, Any]
Loader = Callable[[AsyncDatabase, Document], Awaitable[Document | None]]

RETRY_FIRST = 0.2  # seconds before reopening a failed stream; doubles up to RETRY_MAX
RETRY_MAX = 5.0
# InvalidResumeToken, ChangeStreamFatalError, ChangeStreamHistoryLost: the resume point is gone
UNRESUMABLE = frozenset({260, 280, 286})


@dataclass(frozen=True)
class Feed:
    """What one kind of subscription hears: the event types that concern it and how one such
    event (its stored document) becomes the document its subscribers see (None: gone)."""

    name: str
    types: frozenset[str]
    load: Loader


def _by_record(get: Callable[..., Awaitable[Mapping[str, Any] | None]]) -> Loader:
    async def load(db: AsyncDatabase, event: Document) -> Document | None:
        doc = await get(db, event["record"]["id"])
        return dict(doc) if doc is not None else None

    return load


def _by_data(get: Callable[..., Awaitable[Document | None]], name: str) -> Loader:
    async def load(db: AsyncDatabase, event: Document) -> Document | None:
        oid = (event.get("data") or {}).get(name)
        return await get(db, oid) if oid is not None else None

    return load


INTERACTIONS = Feed(
    "interactions", frozenset({"interaction.recorded"}), _by_record(interactions_store.get)
)
LEADS = Feed(
    "leads",
    frozenset(
        {
            "lead.created",
            "lead.updated",
            "lead.scored",
            "lead.stage_changed",
            "lead.assigned",
            "lead.qualified",
            "lead.disqualified",
        }
    ),
    _by_record(leads_store.get),
)
OPPORTUNITIES = Feed(
    "opportunities",
    frozenset({"lead.qualified"}),
    _by_data(opportunities_store.get, "opportunityId"),
)
SEGMENT_EVALUATIONS = Feed(
    "segment_evaluations",
    frozenset({"segment.membership_changed"}),
    _by_data(segment_evaluations.get, "evaluationId"),
)


class TooManySubscriptions(UserError):
    """The API key, or this server, already has as many open subscriptions as allowed."""

    code = "TOO_MANY_SUBSCRIPTIONS"


class SubscriberTooSlow(UserError):
    """The subscriber did not read its events fast enough and was dropped."""

    code = "SUBSCRIBER_TOO_SLOW"


class Subscription(Generic[T]):
    """One subscriber: an async iterator over the matching documents of a feed, converted.

    Closing it (``aclose``, or dropping the last reference) frees its place in the limits.
    """

    def __init__(
        self,
        pump: _Pump,
        feed: Feed,
        matches: Callable[[Document], bool],
        convert: Callable[[Document], T],
        queue_size: int,
        release: Callable[[], None],
    ) -> None:
        self._queue: asyncio.Queue[Document] = asyncio.Queue(queue_size)
        self._matches = matches
        self._convert = convert
        self._pump = pump
        self.feed = feed
        self.dropped = False
        self._told = False
        # runs once: on close, or when the subscription is garbage collected unclosed
        self._release = weakref.finalize(self, release)
        pump.subscribers.add(self)

    def offer(self, doc: Document) -> None:
        """Queue ``doc`` if it matches; a full queue drops this subscriber (never waits)."""
        if self.dropped or not self._matches(doc):
            return
        try:
            self._queue.put_nowait(doc)
        except asyncio.QueueFull:
            # free its place and its queue now; the reader gets SubscriberTooSlow next
            self.dropped = True
            self.close()
            while not self._queue.empty():
                self._queue.get_nowait()
            log.warning("dropped a subscriber of %s: its queue is full", self.feed.name)

    def __aiter__(self) -> Subscription[T]:
        return self

    async def __anext__(self) -> T:
        if self.dropped and not self._told:
            self._told = True
            raise SubscriberTooSlow(
                f"subscription dropped: more than {self._queue.maxsize} events were waiting "
                "to be read; subscribe again"
            )
        if not self._release.alive:
            raise StopAsyncIteration
        return self._convert(await self._queue.get())

    def close(self) -> None:
        """Leave the feed (idempotent)."""
        self._pump.subscribers.discard(self)
        self._release()

    async def aclose(self) -> None:
        self.close()


class _Pump:
    """The one change stream of a database's new events, copying the documents they concern
    to the subscribers of each feed."""

    name = events_store.NAME

    def __init__(self, db: AsyncDatabase) -> None:
        self.db = db
        self.subscribers: weakref.WeakSet[Subscription[Any]] = weakref.WeakSet()
        self.count = 0
        self.token: Mapping[str, Any] | None = None
        self.events = 0  # delivered since the stream was last (re)opened
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.task = asyncio.create_task(self._run(), name=f"leadgraph-live-{db.name}")

    async def _run(self) -> None:
        delay = RETRY_FIRST / 2
        while True:
            self.events = 0
            try:
                await self._stream()
            except PyMongoError as exc:
                if not self.ready.done():
                    self.ready.set_exception(exc)  # the first subscribers get the error
                    return
                if isinstance(exc, OperationFailure) and exc.code in UNRESUMABLE:
                    log.warning(
                        "cannot resume the %s change stream (%s): starting from now; "
                        "events in between are not delivered",
                        self.name,
                        exc,
                    )
                    self.token = None
                else:
                    log.warning("the %s change stream failed (%s); resuming", self.name, exc)
            delay = RETRY_FIRST if self.events else min(delay * 2, RETRY_MAX)
            await asyncio.sleep(delay)

    async def _stream(self) -> None:
        """Open the stream (after the last token seen) and fan its events out until it ends."""
        stream = await events_store.watch_inserts(self.db, self.token)
        async with stream:
            if not self.ready.done():
                self.ready.set_result(None)
            async for change in stream:
                self.token = stream.resume_token
                self.events += 1
                event = change.get("fullDocument")
                if event is not None:
                    await self._fan_out(event)
                    # let the subscribers read before the next event of a burst (one getMore
                    # batch can hold many): only those that really fall behind fill up
                    await asyncio.sleep(0)
        # the stream ended (e.g. invalidated by a dropped collection): it cannot be resumed
        self.token = None

    async def _fan_out(self, event: Document) -> None:
        """The document ``event`` concerns, read once per feed that hears it, to that feed's
        subscribers."""
        by_feed: dict[Feed, list[Subscription[Any]]] = {}
        for subscriber in list(self.subscribers):
            if event.get("type") in subscriber.feed.types:
                by_feed.setdefault(subscriber.feed, []).append(subscriber)
        for feed, subscribers in by_feed.items():
            doc = await feed.load(self.db, event)
            if doc is not None:
                for subscriber in subscribers:
                    subscriber.offer(doc)

    def stop(self) -> None:
        self.task.cancel()


class Hub:
    """The live feeds of one process, with its subscription limits."""

    def __init__(self) -> None:
        self._pumps: dict[str, _Pump] = {}
        self._per_key: dict[str, int] = {}
        self._total = 0

    async def subscribe(
        self,
        db: AsyncDatabase,
        feed: Feed,
        key_id: str,
        settings: Settings,
        *,
        matches: Callable[[Document], bool],
        convert: Callable[[Document], T],
    ) -> Subscription[T]:
        """A new subscriber of ``feed`` for the API key ``key_id``, once the stream is open.

        Raises :class:`TooManySubscriptions` when the key or this process is at its limit.
        """
        if self._per_key.get(key_id, 0) >= settings.max_subscriptions_per_key:
            raise TooManySubscriptions(
                f"this API key already has {settings.max_subscriptions_per_key} open "
                "subscriptions (the limit); complete one first"
            )
        if self._total >= settings.max_subscriptions:
            raise TooManySubscriptions(
                f"this server already serves {settings.max_subscriptions} subscriptions "
                "(the limit); try again later"
            )
        pump = self._pumps.get(db.name)
        if pump is None or pump.task.done():
            pump = self._pumps[db.name] = _Pump(db)
        pump.count += 1
        self._per_key[key_id] = self._per_key.get(key_id, 0) + 1
        self._total += 1
        subscription = Subscription(
            pump,
            feed,
            matches,
            convert,
            settings.subscription_queue,
            self._releaser(pump, key_id),
        )
        try:
            await asyncio.shield(pump.ready)
        except BaseException:
            subscription.close()
            raise
        return subscription

    def _releaser(self, pump: _Pump, key_id: str) -> Callable[[], None]:
        # a closure over the pump and key only: it must not keep the subscription alive
        def release() -> None:
            self._total -= 1
            left = self._per_key.get(key_id, 1) - 1
            if left:
                self._per_key[key_id] = left
            else:
                self._per_key.pop(key_id, None)
            pump.count -= 1
            if pump.count == 0:
                pump.stop()
                if self._pumps.get(pump.db.name) is pump:
                    del self._pumps[pump.db.name]

        return release

    async def close(self) -> None:
        """Stop every stream (server shutdown)."""
        pumps = list(self._pumps.values())
        self._pumps.clear()
        for pump in pumps:
            pump.stop()
        for pump in pumps:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump.task
