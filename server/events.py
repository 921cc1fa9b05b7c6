"""Events plugins react to (contact created, lead scored, stage changed, ...).

An event ``name`` calls the hook ``leadgraph_<name>`` with the payload as keyword arguments,
after the write it reports has been committed.  A plugin that raises is logged with its name
and never undoes or corrupts the write.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

log = logging.getLogger("leadgraph.events")


async def emit(pm: Any, event: str, payload: dict[str, Any]) -> None:
    if pm is None:
        return
    caller = getattr(pm.hook, f"leadgraph_{event}", None)
    if caller is None:
        return
    for impl in caller.get_hookimpls():
        plugin_name = pm.get_name(impl.plugin) or repr(impl.plugin)
        try:
            result = impl.function(**{k: payload.get(k) for k in impl.argnames})
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("plugin %s failed handling event %s", plugin_name, event)
