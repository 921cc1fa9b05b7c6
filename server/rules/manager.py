"""The live rules: load a directory, swap a new version in atomically, keep the last good one.

A reload that fails (a bad edit, a failing plugin, a file the loader refuses, a stage removed
while leads are still in it) leaves the running rules untouched and records the errors for
``rulesStatus``; :meth:`RulesManager.watch` reloads on every change of the directory and
survives anything a file can hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from ..plugin_manager import PluginError, get_plugin_manager, refresh_entry_points
from ..types import PluginManager
from .fields import removal_errors, removed_by_entity, undeclared_held
from .lifecycle import stage_errors, stage_moves
from .limits import DEFAULT_LIMITS, RuleLimits
from .loader import RuleError, RulesInvalid
from .ruleset import RuleSet, load_rules
from .ruletests import failing_tests

log = logging.getLogger("leadgraph.rules")


class LeadStages(Protocol):
    """Where the leads are: what :class:`RulesManager` asks (``leadgraph.services.stages``
    has the database's)."""

    async def counts(self) -> Mapping[str, int]:
        """The number of leads in each stage."""
        ...

    async def move(
        self, moves: Mapping[str, str], ruleset: RuleSet, pm: PluginManager | None
    ) -> Mapping[str, int]:
        """Move the leads of each ``old`` stage to ``new`` (through the funnel, announced to
        the plugins of ``pm``); how many moved per old stage."""
        ...

    async def custom_values(self, removed: Mapping[str, list[str]]) -> Mapping[str, int]:
        """How many records hold a value of each removed custom field (``{record type:
        [name, ...]}``), by ``<type>.custom.<name>``."""
        ...

    async def held_custom(self) -> Mapping[str, int]:
        """How many records hold a value of each custom field the database holds, declared
        or not, by ``<type>.custom.<name>`` (the start-up check: no rules were live yet)."""
        ...

    async def prepare(self, ruleset: RuleSet) -> None:
        """Make the database ready for ``ruleset`` before it goes live: the indexes its scoring
        models need (leads by each model's score and grade)."""
        ...


class RulesManager:
    """Holds the current :class:`RuleSet` of a rules directory.

    ``stages`` (the server passes one bound to its database) lets :meth:`areload` refuse rules
    that drop a stage still holding leads, and move the leads of ``lifecycle.retired_stages``.
    """

    def __init__(
        self,
        directory: Path | str,
        pm: PluginManager | None = None,
        *,
        limits: RuleLimits = DEFAULT_LIMITS,
        stages: LeadStages | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.pm = pm or get_plugin_manager()
        self.limits = limits
        self.stages = stages
        self.current: RuleSet | None = None
        self.loaded_at: datetime | None = None
        self.errors: list[RuleError] = []
        #: called with each new version once it is live (the server wakes its rescore)
        self.on_live: Callable[[RuleSet], None] | None = None
        #: also called with each new version once it is live (the server's schema follows
        #: the custom fields); one that raises is logged and the others still run
        self.listeners: list[Callable[[RuleSet], None]] = []
        self._lock = asyncio.Lock()

    @property
    def version(self) -> str | None:
        return self.current.version if self.current else None

    def _fail(self, message: str) -> None:
        self.errors = [RuleError(str(self.directory), 1, 1, message)]

    def _load(self) -> RuleSet | None:
        """The directory's rules, or None with :attr:`errors` saying why. Never raises."""
        try:
            for name in refresh_entry_points(self.pm):
                log.info("plugin %s installed since the last load: loaded", name)
            ruleset = load_rules(self.directory, self.pm, self.limits)
            failing = failing_tests(ruleset)  # rules whose own tests fail stay out
            if failing:
                raise RulesInvalid(failing)
            return ruleset
        except RulesInvalid as exc:
            self.errors = exc.errors
        except PluginError as exc:
            self._fail(str(exc))
        except Exception as exc:  # whatever a file holds, the watcher and the API carry on
            log.exception("loading the rules of %s failed", self.directory)
            self._fail(f"cannot load the rules: {type(exc).__name__}: {exc}")
        return None

    def _rejected(self) -> bool:
        kept = f"; keeping rules {self.version}" if self.current else ""
        for error in self.errors:
            log.error("rules not loaded%s: %s", kept, error)
        return False

    def _go_live(self, ruleset: RuleSet) -> bool:
        changed = self.current is None or ruleset.version != self.current.version
        self.current = ruleset  # one reference assignment: readers see old or new, whole
        self.loaded_at = datetime.now(UTC)
        self.errors = []
        if changed:
            log.info("rules %s loaded from %s", ruleset.version, self.directory)
            if self.on_live is not None:
                self.on_live(ruleset)
            for listener in self.listeners:
                try:
                    listener(ruleset)
                except Exception:
                    log.exception("a listener of rules %s failed", ruleset.version)
        return True

    def reload(self) -> bool:
        """Load the directory; on success swap the new rules in, else keep the old ones.

        Returns whether the new rules are live.  Without a database: a manager given
        ``stages`` reloads with :meth:`areload`, which also checks the leads' stages.
        """
        if self.stages is not None:
            raise RuntimeError("a manager with a stages store reloads with areload()")
        ruleset = self._load()
        return self._go_live(ruleset) if ruleset is not None else self._rejected()

    async def areload(self) -> bool:
        """:meth:`reload` off the event loop, then the stage check (and moves) when the
        manager has a ``stages`` store.  Never raises: failures are recorded in ``errors``."""
        async with self._lock:
            ruleset = await asyncio.to_thread(self._load)
            if ruleset is None:
                return self._rejected()
            if self.stages is not None and not await self._settle_stages(ruleset):
                return self._rejected()
            return self._go_live(ruleset)

    async def _settle_stages(self, ruleset: RuleSet) -> bool:
        """Refuse ``ruleset`` if it drops an occupied stage; move retired stages' leads;
        create the indexes its scoring models need."""
        assert self.stages is not None
        try:
            counts = await self.stages.counts()
            errors = stage_errors(ruleset, counts) + await self._field_errors(ruleset)
            if errors:
                self.errors = errors
                return False
            moves = stage_moves(ruleset, counts)
            if moves:
                moved = await self.stages.move(moves, ruleset, self.pm)
                for old, n in moved.items():
                    log.info("moved %d lead(s) from retired stage %r to %r", n, old, moves[old])
            await self.stages.prepare(ruleset)
        except Exception as exc:
            log.exception("checking the leads' stages for rules %s failed", ruleset.version)
            self._fail(f"cannot check the leads' stages: {type(exc).__name__}: {exc}")
            return False
        return True

    async def _field_errors(self, ruleset: RuleSet) -> list[RuleError]:
        """Errors for each custom field of the live rules (at start-up, before any is live:
        of the database's records) that ``ruleset`` drops without retiring it while records
        hold values of it."""
        assert self.stages is not None
        if self.current is None:
            held = undeclared_held(ruleset.custom_fields, await self.stages.held_custom())
        else:
            gone = removed_by_entity(self.current.custom_fields, ruleset.custom_fields)
            held = dict(await self.stages.custom_values(gone)) if gone else {}
        if not held:
            return []
        where = ruleset.fields_source or (ruleset.directory, 1, 1)
        return [RuleError(*e) for e in removal_errors(held, where)]

    async def watch(
        self,
        stop: asyncio.Event | None = None,
        *,
        debounce_ms: int = 200,
        retry_seconds: float = 1.0,
    ) -> None:
        """Reload whenever a file of the directory changes, until ``stop`` is set.

        A failing reload is recorded, never fatal.  If the file watcher itself fails (the
        directory vanished, the OS ran out of watches) it is logged and restarted after
        ``retry_seconds`` (doubling up to a minute while it keeps failing), and the directory
        is reloaded to catch changes made meanwhile.
        """
        from watchfiles import awatch

        stop = stop or asyncio.Event()
        delay = retry_seconds
        while not stop.is_set():
            try:
                async for _changes in awatch(
                    self.directory, stop_event=stop, debounce=debounce_ms, recursive=False
                ):
                    delay = retry_seconds
                    await self.areload()
                    if not self.directory.is_dir():
                        # replaced or removed: its watch is gone; watch the new one when it exists
                        log.warning("rules directory %s vanished; watching for it", self.directory)
                        break
            except FileNotFoundError:
                log.warning(
                    "rules directory %s not found; retrying in %.0f s", self.directory, delay
                )
            except Exception:
                log.exception(
                    "the rules watcher of %s failed; restarting it in %.0f s", self.directory, delay
                )
            if stop.is_set():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 60.0)  # a directory that stays gone is not retried in a loop
            if not stop.is_set():
                await self.areload()
