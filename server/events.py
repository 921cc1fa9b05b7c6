"""Events plugins react to (contact created, lead scored, stage changed, ...).

An event ``name`` calls the hook ``leadgraph_<name>`` with the payload as keyword arguments,
after the write it reports has been committed.  A plugin that raises is logged with its name,
never undoes or corrupts the write, and is returned to the caller, who names it to its own
caller (a mutation's ``pluginErrors``, the summary of a bulk command).
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

from .contracts import PluginFailure

log = logging.getLogger("leadgraph.events")


async def emit(pm: Any, event: str, payload: dict[str, Any]) -> list[PluginFailure]:
    """Call every implementation of ``leadgraph_<event>``; returns the ones that failed."""
    failures: list[PluginFailure] = []
    if pm is None:
        return failures
    hook = f"leadgraph_{event}"
    caller = getattr(pm.hook, hook, None)
    if caller is None:
        raise ValueError(f"no hookspec for event {event!r}")
    for impl in caller.get_hookimpls():
        plugin_name = pm.get_name(impl.plugin) or repr(impl.plugin)
        try:
            result = impl.function(**{k: payload.get(k) for k in impl.argnames})
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            log.exception("plugin %s failed handling event %s", plugin_name, event)
            failures.append(PluginFailure(plugin_name, hook, f"{type(exc).__name__}: {exc}"))
    return failures


async def emit_each(pm: Any, event: str, payloads: list[dict[str, Any]]) -> list[PluginFailure]:
    """One event per payload (bulk work announces after its batch is written)."""
    failures: list[PluginFailure] = []
    for payload in payloads:
        failures += await emit(pm, event, payload)
    return list(dict.fromkeys(failures))
