"""Scoring a captured lead with the live rules (when the scoring engine is available)."""

from __future__ import annotations

import logging
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

log = logging.getLogger("leadgraph.capture")


async def score_after_capture(
    db: AsyncDatabase, rules: Any, lead: dict[str, Any] | None
) -> dict[str, Any] | None:
    """Re-score ``lead`` and apply automatic stage transitions; returns the stored lead."""
    return None
