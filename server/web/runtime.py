"""What the server runs beside the database: the plugins and the live, hot-reloaded rules."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from datetime import timedelta

from ..defaults import rules_dir_of
from ..plugin_manager import get_plugin_manager
from ..rules.manager import RulesManager
from ..services import dispatch
from ..services.delivery import Worker
from ..services.stages import DatabaseStages
from ..store import clock, leases
from . import capture_sweep, orphan_link, rules_rescore, sla_scheduler
from .state import AppState

log = logging.getLogger("leadgraph")


async def load_rules(state: AppState) -> RulesManager:
    """Plugins first (they provide the kinds rule files use), then the rules directory, checked
    against the stages the database's leads are in."""
    if state.pm is None:
        state.pm = get_plugin_manager()
    if state.rules is None:
        state.rules = RulesManager(
            rules_dir_of(state.settings),
            state.pm,
            limits=state.settings.rule_limits,
            stages=DatabaseStages(
                lambda: state.db,
                lambda: state.pm,
                rescore=state.settings.rescore_on_rules_change,
            ),
        )
        await state.rules.areload()
        if state.rules.current is None:
            log.error(
                "no valid rules in %s: scoring, stages and matching use built-in defaults "
                "until the files are fixed",
                state.rules.directory,
            )
    return state.rules


# Leads changed this recently get the history entries of their last change checked at start-up.
HISTORY_REPAIR = timedelta(hours=1)


async def repair(state: AppState) -> None:
    """Finish what a process killed mid-capture left half done (after the rules are loaded).

    One round of the capture sweep (:mod:`leadgraph.web.capture_sweep`: each capture still
    pending is run again, then match keys whose record was never written are released), then
    score history entries that a killed write left in their lead's outbox are stored.
    """
    db = state.db
    await capture_sweep.start_up_round(state)
    history = state.services.get(db, state.rules, state.pm).history
    missing = await history.repair(clock.now() - HISTORY_REPAIR)
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
    """Load plugins and rules, repair interrupted captures, sweep pending events, rescore the
    leads when rules go live (:mod:`leadgraph.web.rules_rescore`), link the stored orphan leads
    (:mod:`leadgraph.web.orphan_link`), act on breached stage SLAs
    (:mod:`leadgraph.web.sla_scheduler`), deliver webhooks (unless
    ``LEADGRAPH_WEBHOOK_WORKER=0``), watch the rules directory."""
    rules = await load_rules(state)
    await repair(state)
    stopping = asyncio.Event()
    sweeper = asyncio.create_task(sweep_events(state, stopping), name="leadgraph-events-sweep")
    captures = asyncio.create_task(
        capture_sweep.sweep_captures(state, stopping), name="leadgraph-capture-sweep"
    )
    rescore = rules_rescore.start(state, stopping)
    orphans = orphan_link.start(state)
    slas = sla_scheduler.start(state, stopping)

    async def stop_sweeping() -> None:
        stopping.set()
        if rescore is not None:  # mid-run it stops at once: the next start resumes it
            rescore.cancel()
        orphans.cancel()  # what it linked stays linked; the next start links the rest
        for task in (sweeper, captures, rescore, orphans, state.sla_start, slas):
            if task is None:
                continue
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    stack.push_async_callback(stop_sweeping)
    if state.settings.webhook_worker:
        await start_webhook_worker(state, stack)
    if not rules.directory.is_dir():
        return
    stop = asyncio.Event()
    task = asyncio.create_task(rules.watch(stop), name="leadgraph-rules-watch")
    stack.push_async_callback(_stopping, stop, task)


async def _stopping(stop: asyncio.Event, task: asyncio.Task[None]) -> None:
    stop.set()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


async def start_webhook_worker(state: AppState, stack: contextlib.AsyncExitStack) -> None:
    """The webhook delivery worker, on the database the server opened, until shutdown."""
    worker = await stack.enter_async_context(Worker(state.db, state.settings, state.pm))
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop), name="leadgraph-webhooks")
    stack.push_async_callback(_stopping, stop, task)
