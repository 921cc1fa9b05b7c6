"""Scoring after capture: the captured lead is scored with the live rules and follows the
lifecycle's automatic transitions (``funnel.evaluate``), from the documents capture already
holds plus the contact's interactions: three round trips instead of a full fact gathering."""

from __future__ import annotations

import logging
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from .strategies import ruleset

log = logging.getLogger("leadgraph.capture")


async def score_after_capture(
    db: AsyncDatabase,
    rules: Any,
    pm: Any,
    contact: dict[str, Any],
    lead: dict[str, Any] | None,
) -> dict[str, Any] | None:
    """Score ``lead`` (of ``contact``) and apply automatic transitions; returns it as stored."""
    rs = ruleset(rules)
    if lead is None or rs is None or not hasattr(rs, "registry"):
        return None  # rules not loaded: the lead keeps its stage until the next rescore
    from .funnel import announce, evaluate

    try:
        account_id = lead.get("parentAccountId") or contact.get("accountId")
        account = await db["accounts"].find_one({"_id": account_id}) if account_id else None
        cursor = db["interactions"].find({"contactId": contact["_id"]}).sort("occurredAt", 1)
        facts = {
            "lead": lead,
            "contact": contact,
            "account": account,
            "contacts": [contact],
            "interactions": await cursor.to_list(),
        }
        result = evaluate(rs, facts, "scored")
        if result.update is None:
            return lead
        # update_one (SecantusDB's find_one_and_update is slower), the result applied in memory
        await db["leads"].update_one({"_id": lead["_id"]}, result.update)
        after = applied(lead, result.update)
        await announce(pm, lead, after, result, rs)
        return after
    except Exception:  # scoring must never lose a capture already committed
        log.exception("scoring after capture failed for lead %s", lead.get("_id"))
        return None


def applied(doc: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``doc`` after ``update`` ($set of top-level or dotted paths, $push with or without $each)."""
    out = dict(doc)
    for path, value in (update.get("$set") or {}).items():
        target = out
        *parents, last = path.split(".")
        for part in parents:
            target[part] = dict(target.get(part) or {})
            target = target[part]
        target[last] = value
    for path, value in (update.get("$push") or {}).items():
        items = value["$each"] if isinstance(value, dict) and "$each" in value else [value]
        out[path] = [*(out.get(path) or []), *items]
    return out
