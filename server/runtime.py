"""What the server starts beside the database: plugins and the live rules (hot reloaded)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .app import AppState


async def start_runtime(state: AppState, stack: contextlib.AsyncExitStack) -> None:
    """Load plugins and rules; later stages of the runtime hook in here."""
    return None


async def after_seed(conn: object) -> None:
    """Hook for work that follows loading demo data (scoring the seeded leads)."""
    return None
