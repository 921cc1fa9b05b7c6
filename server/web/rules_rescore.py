"""The server's part of the background rescore (:mod:`leadgraph.services.rescore_job`): a task
that takes its turn at the active run when the rules go live in this process, at start-up and
every ``rescore_poll_seconds`` (to resume a run whose holder died)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ..services.rescore_job import Round
from .capture_sweep import holder_of
from .state import AppState

log = logging.getLogger("leadgraph")


async def one_round(state: AppState) -> str | None:
    """This process's turn at the active run, with its live rules: the state the run ended
    in, or None (nothing to do here)."""
    if state.rules is None or state.rules.current is None:
        return None
    settings = state.settings
    funnel = state.services.get(state.db, state.rules, state.pm).funnel
    turn = Round(
        state.db,
        funnel,
        holder_of(state),
        batch=max(settings.rescore_batch, 1),
        ttl=max(settings.rescore_lease_seconds, 1.0),
    )
    return await turn.run()


async def rescoring(state: AppState, stop: asyncio.Event, wake: asyncio.Event) -> None:
    """Until ``stop``: a round at once, then whenever ``wake`` is set (new rules went live
    here) or ``rescore_poll_seconds`` passed."""
    every = max(state.settings.rescore_poll_seconds, 0.05)
    while not stop.is_set():
        wake.clear()
        try:
            await one_round(state)
        except Exception:  # the database is away: the next round tries again
            log.exception("the background rescore failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(_either(stop, wake), every)


async def _either(stop: asyncio.Event, wake: asyncio.Event) -> None:
    waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


def start(state: AppState, stop: asyncio.Event) -> asyncio.Task[None] | None:
    """The rescore task (None when ``LEADGRAPH_RESCORE_ON_RULES_CHANGE=0``); the rules manager
    wakes it when a version goes live."""
    if not state.settings.rescore_on_rules_change or state.rules is None:
        return None
    wake = asyncio.Event()
    state.rules.on_live = lambda _ruleset: wake.set()
    return asyncio.create_task(rescoring(state, stop, wake), name="leadgraph-rules-rescore")
