"""Names for the types that cross the layers: a stored document (``Doc``), a transaction's
session (``Session``) and the plugin manager (``PluginManager``).

Imports only typing and pluggy at run time (pymongo's session type only for the type checker,
so rules/ may name a Session without importing pymongo); every layer may import it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

import pluggy

if TYPE_CHECKING:
    from pymongo.asynchronous.client_session import AsyncClientSession

#: A document as MongoDB stores it (and as store/ reads and writes it).
Doc: TypeAlias = dict[str, Any]
#: The session of a multi-document transaction (``leadgraph.db.in_transaction``).
Session: TypeAlias = "AsyncClientSession"
#: leadgraph's plugin manager (``leadgraph.plugin_manager.get_plugin_manager``).
PluginManager: TypeAlias = pluggy.PluginManager
