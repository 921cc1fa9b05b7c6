"""Built-in plugins, registered with the plugin manager exactly like third-party ones.
May import what a third-party plugin may: the core (contracts, hookspecs, ...) and rules.

``leadgraph.plugins`` also re-exports the plugin manager API of
:mod:`leadgraph.plugin_manager` (``get_plugin_manager``, ``PluginError``, ``DEFAULT_PLUGINS``).
"""

from leadgraph.plugin_manager import DEFAULT_PLUGINS, PluginError, get_plugin_manager

__all__ = ["DEFAULT_PLUGINS", "PluginError", "get_plugin_manager"]
