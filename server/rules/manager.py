"""The live rules: load a directory, swap a new version in atomically, keep the last good one.

A reload that fails (a bad edit, a failing plugin) leaves the running rules untouched and
records the errors for ``rulesStatus``; :meth:`RulesManager.watch` reloads on every change of
the directory.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path

import pluggy

from ..plugin_manager import PluginError, get_plugin_manager
from .loader import RuleError, RulesInvalid
from .ruleset import RuleSet, load_rules

log = logging.getLogger("leadgraph.rules")


class RulesManager:
    """Holds the current :class:`RuleSet` of a rules directory."""

    def __init__(self, directory: Path | str, pm: pluggy.PluginManager | None = None) -> None:
        self.directory = Path(directory)
        self.pm = pm or get_plugin_manager()
        self.current: RuleSet | None = None
        self.loaded_at: datetime | None = None
        self.errors: list[RuleError] = []
        self._lock = asyncio.Lock()

    @property
    def version(self) -> str | None:
        return self.current.version if self.current else None

    def reload(self) -> bool:
        """Load the directory; on success swap the new rules in, else keep the old ones.

        Returns whether the new rules are live.
        """
        try:
            ruleset = load_rules(self.directory, self.pm)
        except RulesInvalid as exc:
            self.errors = exc.errors
        except PluginError as exc:
            self.errors = [RuleError(str(self.directory), 1, 1, str(exc))]
        else:
            changed = self.current is None or ruleset.version != self.current.version
            self.current = ruleset  # one reference assignment: readers see old or new, whole
            self.loaded_at = datetime.now(UTC)
            self.errors = []
            if changed:
                log.info("rules %s loaded from %s", ruleset.version, self.directory)
            return True
        kept = f"; keeping rules {self.version}" if self.current else ""
        for error in self.errors:
            log.error("rules not loaded%s: %s", kept, error)
        return False

    async def areload(self) -> bool:
        async with self._lock:
            return await asyncio.to_thread(self.reload)

    async def watch(self, stop: asyncio.Event | None = None, *, debounce_ms: int = 200) -> None:
        """Reload whenever a file of the directory changes, until ``stop`` is set."""
        from watchfiles import awatch

        async for _changes in awatch(
            self.directory, stop_event=stop, debounce=debounce_ms, recursive=False
        ):
            await self.areload()
