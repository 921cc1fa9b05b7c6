"""The fast tier: tests of ``rules/`` (pure) and of ``services/`` and ``store/`` against the
embedded database, called directly, without an HTTP server.  Laid out like the packages
(``fast/rules``, ``fast/services``, ``fast/store``); ``./scripts/test --fast`` runs only these.

A test here may use the session's database (``db``, ``mongo_client``, ``mongo_uri``) but no
fixture that serves the app; ``tests/test_layers.py`` checks that nothing here imports the
HTTP side (httpx, the web package, the test servers)."""

from __future__ import annotations

import pytest

#: fixtures that start or talk to an HTTP server: they belong to the HTTP tier
HTTP_FIXTURES = frozenset({"server", "api", "partner", "orphans_stay"})


def pytest_runtest_setup(item: pytest.Item) -> None:
    served = sorted(HTTP_FIXTURES & set(getattr(item, "fixturenames", ())))
    if served:
        pytest.fail(f"{item.nodeid} is in the fast tier but uses {served}: not in tests/fast/")
