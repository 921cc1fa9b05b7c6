"""The shipped rules as the tests see them: the package's default rules
(``leadgraph.defaults.default_rules_dir()``, package data ``leadgraph/default_rules``), copied
once per test session into a temporary directory.

Every test server serves this copy (or a test's own copy of it) and every test reads it, so no
test reads or watches a directory an admin edits: not the data directory's ``rules/`` a server
makes on first start, not a project made by ``leadgraph init``.  A test that changes rules
copies this directory first (``tests/rules/helpers.copy_rules``)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from leadgraph.defaults import copy_defaults

SHIPPED = copy_defaults(Path(tempfile.mkdtemp(prefix="leadgraph-shipped-rules-")))
