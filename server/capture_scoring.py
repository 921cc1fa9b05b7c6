"""Scoring after capture: the contact's leads are re-scored with the live rules and follow the
lifecycle's automatic transitions (:func:`leadgraph.funnel.apply`), since every lead of a
contact is scored on that contact's interactions."""

from __future__ import annotations

import logging
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from .strategies import ruleset

log = logging.getLogger("leadgraph.capture")


async def score_after_capture(
    db: AsyncDatabase,
    rules: Any,
    pm: Any,
    contact_id: ObjectId,
    lead_id: ObjectId | None,
) -> dict[str, Any] | None:
    """Re-score the contact's leads; returns the captured lead as stored afterwards."""
    rs = ruleset(rules)
    if rs is None or not hasattr(rs, "registry"):
        return None  # rules not loaded: leads keep their stage until the next rescore
    from .funnel import apply

    try:
        leads = await apply(db, rs, {"parentContactId": contact_id}, trigger="scored", pm=pm)
    except Exception:  # scoring must never lose a capture already committed
        log.exception("scoring after capture failed for contact %s", contact_id)
        return None
    return next((lead for lead in leads if lead["_id"] == lead_id), None)
