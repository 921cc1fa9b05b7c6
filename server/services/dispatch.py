"""Handing the record of what changed to plugins: after the commit, and again by the sweep.

A service appends its typed events (:mod:`leadgraph.events`) in the transaction of the change
(:func:`append`), then, after the commit, hands them to plugins (:func:`deliver`): each event
calls its hook through pluggy itself, ``pm.hook.leadgraph_<type>(event=..., event_id=...)``,
then the catch-all ``pm.hook.leadgraph_event(...)``, so ``tryfirst``, ``trylast`` and
hookwrappers mean what pluggy says.  An event some handler must hear is stored ``pending``
until the handlers heard it; a process killed between the commit and the dispatch leaves it
pending and :func:`sweep` (every ``LEADGRAPH_EVENT_SWEEP_SECONDS``, one process at a time)
delivers it: handlers get every event at least once, with its id to deduplicate.

A handler that raises does not stop the others: before calling a hook, every plain
implementation of it is guarded (its ``HookImpl.function`` is wrapped once, keeping its
arguments), so pluggy's own loop goes on to the next one; the failure is logged with the
plugin's name, kept on the event (``failures``) and returned to the caller, which names it
(a mutation's ``pluginErrors``).  An ``async def`` handler is awaited after the hook call, in
the order pluggy called it, and isolated the same way.  Hookwrappers are not guarded: one that
raises fails the whole call (named as the hook's failure).
"""

from __future__ import annotations

import contextvars
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from pymongo.asynchronous.database import AsyncDatabase

from ..contracts import PluginFailure
from ..db import in_transaction
from ..events import Event, from_doc, hook_name
from ..store import events as store
from ..store.clock import now
from ..store.writes import Writes
from ..types import PluginManager, Session
from . import webhooks

log = logging.getLogger("leadgraph.events")

#: The hook every event also calls (after its own): for plugins that hear everything.
EVERY_EVENT = "leadgraph_event"
_GUARDED = "__leadgraph_guarded__"
_sink: contextvars.ContextVar[list[PluginFailure] | None] = contextvars.ContextVar(
    "leadgraph_event_failures", default=None
)


@dataclass
class _Later:
    """An ``async def`` handler's coroutine, to await after the hook call."""

    plugin: str
    hook: str
    awaitable: Awaitable[Any]


def _failure(plugin: str, hook: str, exc: BaseException) -> PluginFailure:
    log.error("plugin %s failed handling %s: %s", plugin, hook, exc, exc_info=exc)
    return PluginFailure(plugin, hook, f"{type(exc).__name__}: {exc}")


def _guard(impl: Any, hook: str) -> None:
    """Wrap one plain implementation so that, during a dispatch, an exception is recorded
    instead of ending pluggy's loop (outside a dispatch it raises as usual)."""
    fn: Callable[..., Any] = impl.function
    if getattr(fn, _GUARDED, False) or impl.hookwrapper or getattr(impl, "wrapper", False):
        return
    plugin = impl.plugin_name

    def guarded(*args: Any, **kwargs: Any) -> Any:
        sink = _sink.get()
        if sink is None:
            return fn(*args, **kwargs)
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:
            sink.append(_failure(plugin, hook, exc))
            return None
        return _Later(plugin, hook, result) if inspect.isawaitable(result) else result

    setattr(guarded, _GUARDED, True)
    impl.function = guarded


def _caller(pm: PluginManager | None, name: str) -> Any:
    return getattr(pm.hook, name, None) if pm is not None else None


def wants(pm: PluginManager | None, event: Event) -> bool:
    """Whether some plugin handles ``event`` (else it is stored already dispatched)."""
    return any(
        caller is not None and caller.get_hookimpls()
        for caller in (_caller(pm, hook_name(event.type)), _caller(pm, EVERY_EVENT))
    )


async def _call(caller: Any, event: Event) -> list[PluginFailure]:
    for impl in caller.get_hookimpls():
        _guard(impl, caller.name)
    failures: list[PluginFailure] = []
    token = _sink.set(failures)
    try:
        results = caller(event=event, event_id=str(event.id))
    except Exception as exc:  # a hookwrapper raised
        return [*failures, _failure("hookwrapper", caller.name, exc)]
    finally:
        _sink.reset(token)
    for result in results or ():
        if isinstance(result, _Later):
            try:
                await result.awaitable
            except Exception as exc:
                failures.append(_failure(result.plugin, result.hook, exc))
    return failures


async def hand_to_plugins(pm: PluginManager | None, event: Event) -> list[PluginFailure]:
    """Call ``event``'s hook, then :data:`EVERY_EVENT`; the handlers that raised."""
    failures: list[PluginFailure] = []
    for name in (hook_name(event.type), EVERY_EVENT):
        caller = _caller(pm, name)
        if caller is not None and caller.get_hookimpls():
            failures += await _call(caller, event)
    return failures


async def append(
    db: AsyncDatabase,
    pm: PluginManager | None,
    events: Sequence[Event],
    session: Session | None,
    writes: Writes | None = None,
) -> None:
    """Store ``events`` in the caller's transaction (one ``insert_many``, or gathered in
    ``writes`` with its other writes); those a plugin handles or a webhook takes are stored
    pending."""
    if events:
        await store.append(db, events, session, pending=await hearing(db, pm), writes=writes)


async def hearing(db: AsyncDatabase, pm: PluginManager | None) -> Callable[[Event], bool]:
    """Whether an event must be stored pending: a plugin handles it or an active webhook
    takes its type (the sweep delivers it should the process die before the dispatch).  The
    one rule for every road that stores events (:func:`append`, the funnel's persist
    point)."""
    hooks = await webhooks.listening(db)

    def must_hear(event: Event) -> bool:
        return wants(pm, event) or webhooks.taken(hooks, event.type)

    return must_hear


T = TypeVar("T")
#: A write in a transaction: given its session, its result and the events it appends.
Writing = Callable[[Session], Awaitable[tuple[T, Sequence[Event]]]]


async def written(
    db: AsyncDatabase,
    pm: PluginManager | None,
    work: Writing[T],
    *,
    committed: Callable[[], None] | None = None,
) -> T:
    """Run ``work`` in a transaction, appending the events it answers in it; after the commit
    (and ``committed``, when given), deliver them.  A write that fails appends nothing; a
    handler's failure is kept on its event."""

    async def run(session: Session) -> tuple[T, Sequence[Event]]:
        result, events = await work(session)
        await append(db, pm, events, session)
        return result, events

    result, events = await in_transaction(db, run)
    if committed is not None:
        committed()
    await deliver(db, pm, events)
    return result


async def record(
    db: AsyncDatabase, pm: PluginManager | None, events: Sequence[Event]
) -> list[PluginFailure]:
    """Store ``events`` in a transaction of their own, then deliver them: for a change that
    is one write (atomic without a transaction)."""
    if not events:
        return []
    await in_transaction(db, lambda session: append(db, pm, events, session))
    return await deliver(db, pm, events)


async def deliver(
    db: AsyncDatabase, pm: PluginManager | None, events: Iterable[Event]
) -> list[PluginFailure]:
    """After the commit: queue ``events``' webhook deliveries, hand them to plugins, record
    who failed on each, clear their ``pending``.  The failures, each named once."""
    events = list(events)
    try:
        queued = await webhooks.enqueue(db, events)
    except Exception:  # left pending: the sweep queues them
        log.exception("could not queue the webhook deliveries of %d events", len(events))
        queued = set()
    heard = [e for e in events if wants(pm, e)]
    if not heard:
        if queued:
            await store.mark_dispatched(db, list(queued))
        return []
    failures: dict[Any, list[PluginFailure]] = {}
    for event in heard:
        failed = await hand_to_plugins(pm, event)
        if failed:
            failures[event.id] = failed
    await store.mark_dispatched(
        db,
        list(dict.fromkeys([*(e.id for e in heard), *queued])),
        {oid: [_as_doc(f) for f in fs] for oid, fs in failures.items()},
    )
    return list(dict.fromkeys(f for fs in failures.values() for f in fs))


def _as_doc(failure: PluginFailure) -> dict[str, str]:
    return {"plugin": failure.plugin, "hook": failure.hook, "error": failure.message}


async def sweep(
    db: AsyncDatabase, pm: PluginManager | None, older_than: float, limit: int = 500
) -> int:
    """Deliver the events still pending ``older_than`` seconds after they were written (the
    process that wrote them died before delivering them); how many.  Run by one process at a
    time (:func:`leadgraph.web.runtime.sweep_events` holds the lease)."""
    done = 0
    while True:
        docs = await store.pending(db, now() - timedelta(seconds=older_than), limit)
        if not docs:
            return done
        found = [from_doc(d) for d in docs]
        await deliver(db, pm, found)
        # an event no plugin handles any more (it was unregistered) is not pending either
        await store.mark_dispatched(db, [e.id for e in found if not wants(pm, e)], {})
        done += len(docs)
        if len(docs) < limit:
            return done
