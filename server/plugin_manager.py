"""The plugin manager: hookspecs, third-party plugins (entry points) and the built-ins.

Its API is also importable from ``leadgraph.plugins``.

Built-in plugins are modules under ``leadgraph.plugins`` listed in :data:`DEFAULT_PLUGINS`;
they are registered exactly like a partner's pip-installed plugin, which is found through the
``leadgraph`` entry-point group.
"""

from __future__ import annotations

import difflib
import importlib
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import pluggy

from . import hookspecs

PROJECT = "leadgraph"

DEFAULT_PLUGINS: tuple[str, ...] = (
    "leadgraph.plugins.matching_exact",
    "leadgraph.plugins.scoring_points",
    "leadgraph.plugins.condition_operators",
    "leadgraph.plugins.stage_actions",
)


class PluginError(Exception):
    """A plugin failed: ``plugin`` names it, ``hook`` says what of it was called (a hook, or a
    kind, operator, action or guard it provides) and ``message`` what went wrong."""

    def __init__(self, plugin: str, message: str, hook: str = "") -> None:
        said = f"{hook} raised {message}" if hook else message
        super().__init__(f"plugin {plugin!r}: {said}")
        self.plugin = plugin
        self.message = message
        self.hook = hook


#: The managers that read the ``leadgraph`` entry points (and re-read them on a rules reload),
#: with the distribution (name, version) of each entry-point plugin as it was loaded.
_LOADED: weakref.WeakKeyDictionary[pluggy.PluginManager, dict[str, tuple[str, str]]] = (
    weakref.WeakKeyDictionary()
)


def _distributions(pm: pluggy.PluginManager) -> dict[str, tuple[str, str]]:
    """Each entry-point plugin's name -> its distribution's (name, version), read now."""
    return {
        plugin_name(pm, plugin): (str(dist.metadata["name"]), str(dist.version))
        for plugin, dist in pm.list_plugin_distinfo()
    }


def get_plugin_manager(*, entry_points: bool = True) -> pluggy.PluginManager:
    """A new manager with the hookspecs, entry-point plugins and the built-ins registered."""
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    if entry_points:
        pm.load_setuptools_entrypoints(PROJECT)
        _LOADED[pm] = _distributions(pm)
    for name in DEFAULT_PLUGINS:
        if pm.get_plugin(name) is None:
            pm.register(importlib.import_module(name), name=name)
    check_hooks(pm)
    return pm


def refresh_entry_points(pm: pluggy.PluginManager) -> list[str]:
    """Load the ``leadgraph`` entry-point plugins installed since ``pm`` read them (a partner's
    ``pip install`` while the server runs), so the next rules load sees their kinds; returns
    their names.  A plugin that is loaded but whose installed version changed cannot be swapped
    in a running process: :class:`PluginError` says to restart the server.  A manager made
    without entry points (tests, ``entry_points=False``) is left as it is."""
    loaded = _LOADED.get(pm)
    if loaded is None:
        return []
    importlib.invalidate_caches()  # a new package directory on sys.path is importable
    for plugin, (dist, version) in loaded.items():
        try:
            installed = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue  # uninstalled: the loaded code keeps running until a restart
        if installed != version:
            raise PluginError(
                plugin,
                f"{dist} {installed} is installed but {version} is running: "
                f"restart the server to load plugin {plugin!r}",
            )
    before = {name for name, _ in pm.list_name_plugin()}
    pm.load_setuptools_entrypoints(PROJECT)
    new = sorted({name for name, _ in pm.list_name_plugin()} - before)
    if new:
        loaded.update({k: v for k, v in _distributions(pm).items() if k in new})
        check_hooks(pm)
    return new


def check_hooks(pm: pluggy.PluginManager) -> None:
    """Refuse a plugin that implements a hook leadgraph does not have (a misspelled
    ``leadgraph_scoring_kind`` would otherwise be silently ignored): pluggy's
    ``check_pending``, as a :class:`PluginError` naming the plugin and the likely hook."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        known = [n for n in dir(hookspecs) if n.startswith(f"{PROJECT}_")]
        unknown = [
            n
            for n in dir(exc.plugin)
            if n.startswith(f"{PROJECT}_") and n not in known and callable(getattr(exc.plugin, n))
        ]
        hint = ""
        if unknown:
            close = difflib.get_close_matches(unknown[0], known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
        hook = unknown[0] if unknown else "?"
        raise PluginError(
            plugin_name(pm, exc.plugin), f"implements unknown hook {hook!r}{hint}"
        ) from exc


def plugin_name(pm: pluggy.PluginManager, plugin: object) -> str:
    return pm.get_name(plugin) or getattr(plugin, "__name__", None) or repr(plugin)


@dataclass(frozen=True)
class Provided:
    """One thing a plugin provides (a kind, an operator, ...) and which plugin provided it."""

    plugin: str
    value: Any


def _results(pm: pluggy.PluginManager, hook: str) -> Iterator[tuple[str, Any]]:
    caller = getattr(pm.hook, hook)
    # pluggy calls the last registered first; keep that order.
    for impl in reversed(caller.get_hookimpls()):
        name = plugin_name(pm, impl.plugin)
        try:
            result = impl.function()
        except Exception as exc:
            raise PluginError(name, f"{type(exc).__name__}: {exc}", hook) from exc
        if result is not None:
            yield name, result


def collect(pm: pluggy.PluginManager, hook: str) -> dict[str, Provided]:
    """Merge the ``{name: thing}`` mappings every plugin returns from provider ``hook``.

    Raises :class:`PluginError` naming the plugin when a hook raises, returns something that
    is not a mapping, or provides a name another plugin already provides.
    """
    out: dict[str, Provided] = {}
    for name, result in _results(pm, hook):
        if not hasattr(result, "items"):
            raise PluginError(name, f"{hook} must return a mapping, got {type(result).__name__}")
        for key, value in result.items():
            if key in out:
                raise PluginError(
                    name, f"{hook}: {key!r} is already provided by plugin {out[key].plugin!r}"
                )
            out[str(key)] = Provided(name, value)
    return out


def guarded(
    provided: Provided,
    what: str,
    fn: Any,
    *args: Any,
    expected: tuple[type[Exception], ...] = (),
    **kwargs: Any,
) -> Any:
    """Call ``fn`` (a plugin's code); an exception becomes a :class:`PluginError` naming the
    plugin, except the ``expected`` ones (a ``ValueError`` from a ``check`` is a rule error)."""
    passthrough: tuple[type[Exception], ...] = (PluginError, *expected)
    try:
        return fn(*args, **kwargs)
    except passthrough:
        raise
    except Exception as exc:
        raise PluginError(provided.plugin, f"{type(exc).__name__}: {exc}", what) from exc
