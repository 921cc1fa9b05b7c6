"""What the server runs beside the database: the plugins and the live, hot-reloaded rules."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from .plugin_manager import get_plugin_manager
from .rules.manager import RulesManager
from .rules.occupied import DatabaseStages
from .store import match_keys

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
            stages=DatabaseStages(lambda: state.db),
        )
        await state.rules.areload()
        if state.rules.current is None:
            log.error(
                "no valid rules in %s: scoring, stages and matching use built-in defaults "
                "until the files are fixed",
                state.settings.rules_dir,
            )
    return state.rules


# A match key this old without its record was left by a process killed mid-capture.
CLAIM_GRACE = timedelta(seconds=60)


async def repair(state: AppState) -> None:
    """Undo what a process killed mid-write left behind (see :mod:`leadgraph.store.match_keys`)."""
    released = await match_keys.release_dangling(state.db, datetime.now(UTC) - CLAIM_GRACE)
    if released:
        log.warning("released %d match keys whose records were never written", released)


async def start_runtime(state: AppState, stack: contextlib.AsyncExitStack) -> None:
    """Repair interrupted writes, load plugins and rules, watch the rules directory."""
    await repair(state)
    rules = await load_rules(state)
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
