"""Scoring after capture: the contact's open leads are scored with the live rules and follow
the lifecycle's automatic transitions (``funnel.evaluate``, as ``funnel.after_interaction``
does for recorded interactions), from the documents capture already holds plus one find for
the other leads and one for the contact's interactions."""

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
    """Score the contact's open leads (the captured ``lead`` first) and apply automatic
    transitions; returns the captured lead as stored afterwards."""
    rs = ruleset(rules)
    if rs is None or not hasattr(rs, "registry"):
        return None  # rules not loaded: leads keep their stage until the next rescore
    from .funnel import announce, evaluate

    try:
        query: dict[str, Any] = {
            "parentContactId": contact["_id"],
            "status": {"$in": ["open", None]},
        }
        if lead is not None:
            query["_id"] = {"$ne": lead["_id"]}
        leads = [lead] if lead is not None else []
        leads += await db["leads"].find(query).to_list()
        if not leads:
            return None
        account_ids = {
            a for x in leads if (a := x.get("parentAccountId") or contact.get("accountId"))
        }
        accounts = (
            {a["_id"]: a async for a in db["accounts"].find({"_id": {"$in": list(account_ids)}})}
            if account_ids
            else {}
        )
        cursor = db["interactions"].find({"contactId": contact["_id"]}).sort("occurredAt", 1)
        interactions = await cursor.to_list()
        out = None
        for current in leads:
            account_id = current.get("parentAccountId") or contact.get("accountId")
            facts = {
                "lead": current,
                "contact": contact,
                "account": accounts.get(account_id),
                "contacts": [contact],
                "interactions": interactions,
            }
            result = evaluate(rs, facts, "scored")
            after = current
            if result.update is not None:
                # update_one (SecantusDB's find_one_and_update is slower); applied in memory
                await db["leads"].update_one({"_id": current["_id"]}, result.update)
                after = applied(current, result.update)
                await announce(pm, current, after, result, rs)
            if lead is not None and current["_id"] == lead["_id"]:
                out = after
        return out
    except Exception:  # scoring must never lose a capture already committed
        log.exception("scoring after capture failed for contact %s", contact.get("_id"))
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
