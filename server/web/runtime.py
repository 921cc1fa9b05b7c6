"""What the server runs beside the database: the plugins and the live, hot-reloaded rules."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from ..errors import UserError
from ..plugin_manager import get_plugin_manager
from ..rules.manager import RulesManager
from ..services import dispatch
from ..services.stages import DatabaseStages
from ..store import leases, match_keys, pending_captures

if TYPE_CHECKING:
    from .app import AppState

log = logging.getLogger("leadgraph")


async def load_rules(state: AppState) -> RulesManager:
    """Plugins first (they provide the kinds rule files use), then the rules directory, checked
    against the stages the database's leads are in."""
    if state.pm is None:
        state.pm = get_plugin_manager()
    if state.rules is None:
        state.rules = RulesManager(
            state.settings.rules_dir,
            state.pm,
            limits=state.settings.rule_limits,
            stages=DatabaseStages(lambda: state.db, lambda: state.pm),
        )
        await state.rules.areload()
        if state.rules.current is None:
            log.error(
                "no valid rules in %s: scoring, stages and matching use built-in defaults "
                "until the files are fixed",
                state.settings.rules_dir,
            )
    return state.rules


# Older than this, a capture still pending or a match key without its record was left by a
# process killed mid-capture (younger ones may belong to a capture running elsewhere now).
GRACE = timedelta(seconds=60)
# Leads changed this recently get the history entries of their last change checked at start-up.
HISTORY_REPAIR = timedelta(hours=1)


async def repair(state: AppState) -> None:
    """Finish what a process killed mid-capture left half done (after the rules are loaded).

    Each capture still pending is run again (matching finds what the first run created; the
    interaction is recorded once); then match keys whose record was never written are released,
    and score history entries that a killed write left in their lead's outbox are stored.
    """
    db = state.db
    cutoff = datetime.now(UTC) - GRACE
    capture = state.services.get(db, state.rules, state.pm).capture
    for doc in await pending_captures.started_before(db, cutoff):
        request = doc["request"]
        try:
            await capture.submit(
                form_id=request["formId"],
                fields=json.loads(request["fields"]),
                interaction_type=request["interactionType"],
                event_id=request.get("eventId"),
                marketing_context=request.get("marketingContext"),
                idempotency_key=request.get("idempotencyKey"),
                occurred_at=request.get("occurredAt"),
                source=request.get("source", "form"),
                pending=doc,
            )
        except UserError as exc:  # refused now (the rules changed): logged, then dropped
            log.error("interrupted capture %s cannot be completed: %s", request, exc)
        except Exception:
            log.exception("interrupted capture %s: will retry at the next start", doc["_id"])
            continue
        await pending_captures.finish(db, doc["_id"])
        log.warning(
            "completed the capture of form %s interrupted at %s",
            request["formId"],
            doc["createdAt"].isoformat(),
        )
    released = await match_keys.release_dangling(db, cutoff)
    if released:
        log.warning("released %d match keys whose records were never written", released)
    history = state.services.get(db, state.rules, state.pm).history
    missing = await history.repair(datetime.now(UTC) - HISTORY_REPAIR)
    if missing:
        log.warning("stored %d score history entries an interrupted write left out", missing)


SWEEP_LEASE = "events-sweep"


async def sweep_events(state: AppState, stop: asyncio.Event) -> None:
    """Every ``event_sweep_seconds``, hand plugins the events a killed process left pending
    (:func:`leadgraph.services.dispatch.sweep`), in whichever one server process holds the
    ``events-sweep`` lease."""
    every = max(state.settings.event_sweep_seconds, 0.1)
    holder = f"{socket.gethostname()}:{os.getpid()}:{id(state)}"
    while not stop.is_set():
        try:
            await sweep_round(state, holder)
        except Exception:  # the database is away: the next round tries again
            log.exception("sweeping pending events failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


async def sweep_round(state: AppState, holder: str) -> int | None:
    """One round of the sweep as ``holder``: how many events it delivered, or None when
    another process holds the lease."""
    every = max(state.settings.event_sweep_seconds, 0.1)
    if await leases.acquire(state.db, SWEEP_LEASE, holder, every * 3) is None:
        return None
    return await dispatch.sweep(state.db, state.pm, older_than=every)


async def start_runtime(state: AppState, stack: contextlib.AsyncExitStack) -> None:
    """Load plugins and rules, repair interrupted captures, sweep pending events, watch the
    rules directory."""
    rules = await load_rules(state)
    await repair(state)
    stopping = asyncio.Event()
    sweeper = asyncio.create_task(sweep_events(state, stopping), name="leadgraph-events-sweep")

    async def stop_sweeping() -> None:
        stopping.set()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sweeper

    stack.push_async_callback(stop_sweeping)
    if not rules.directory.is_dir():
        return
    stop = asyncio.Event()
    task = asyncio.create_task(rules.watch(stop), name="leadgraph-rules-watch")

    async def shutdown() -> None:
        stop.set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task

    stack.push_async_callback(shutdown)
