"""leadgraph: a marketing-CRM back end served as an async GraphQL API over MongoDB; holds the
pluggy markers (``hookimpl``, ``hookspec``) and the version.  May import pluggy only."""

import pluggy

__version__ = "0.1.0"

hookspec = pluggy.HookspecMarker("leadgraph")
hookimpl = pluggy.HookimplMarker("leadgraph")

__all__ = ["__version__", "hookimpl", "hookspec"]
