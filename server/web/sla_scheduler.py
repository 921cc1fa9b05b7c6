"""The SLA scheduler of ``leadgraph serve``: breached stage SLAs acted on while the server runs.

At start-up (once the rules are loaded) and every ``sla_poll_seconds`` (``LEADGRAPH_SLA_POLL_
SECONDS``, 30), this process takes its turn (:func:`leadgraph.services.sla.breach_round`):
under the ``sla-breaches`` lease, so that one server process works at a time, it acts on every
breach due by now.  Each is acted on exactly once whatever the processes do (the claim, see
:mod:`leadgraph.services.sla`); one that fell due while no server ran is acted on by the first
round of the next start (``state.sla_start``, which a test may await).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ..services.sla import breach_round
from .capture_sweep import holder_of
from .state import AppState

log = logging.getLogger("leadgraph")


async def one_round(state: AppState) -> int | None:
    """This process's round with its live rules: how many breaches it acted on (None: the
    lease is another process's, or no valid rules are loaded)."""
    lc = state.rules.current.lifecycle if state.rules and state.rules.current else None
    if lc is None or not any(s.sla is not None for s in lc.stages):
        return None  # no stage has an SLA: nothing to read
    every = max(state.settings.sla_poll_seconds, 0.05)
    breaches = state.services.get(state.db, state.rules, state.pm).sla
    return await breach_round(
        breaches, holder_of(state), ttl=max(every * 3, 30.0), batch=max(state.settings.sla_batch, 1)
    )


async def _round(state: AppState) -> int | None:
    try:
        return await one_round(state)
    except Exception:  # the database is away: the next round tries again
        log.exception("acting on breached SLAs failed")
        return None


async def scheduling(state: AppState, stop: asyncio.Event) -> None:
    """Until ``stop``: the start-up round, then one every ``sla_poll_seconds``."""
    every = max(state.settings.sla_poll_seconds, 0.05)
    if state.sla_start is not None:
        await state.sla_start
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
        if not stop.is_set():
            await _round(state)


def start(state: AppState, stop: asyncio.Event) -> asyncio.Task[None]:
    """The start-up round (``state.sla_start``) and the scheduler's task."""
    state.sla_start = asyncio.create_task(_round(state), name="leadgraph-sla-start")
    return asyncio.create_task(scheduling(state, stop), name="leadgraph-sla")
