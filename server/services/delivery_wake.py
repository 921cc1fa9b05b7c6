"""The wake-up call between the services that store webhook deliveries and this process's
delivery workers; imports nothing of leadgraph, so both sides may import it."""

from __future__ import annotations

import asyncio

#: The events of the workers running in this process: set one to make it look at once.
WAKERS: set[asyncio.Event] = set()


def wake() -> None:
    """Tell this process's workers that deliveries were just stored (they also poll)."""
    for waker in list(WAKERS):
        waker.set()
