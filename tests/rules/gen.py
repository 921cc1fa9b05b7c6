"""Seeded generators of records and conditions for the differential tests."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from leadgraph.contracts import CONSENT_LEVELS
from leadgraph.rules.models import Segment

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
MISSING = object()

TITLES = ["Director of IT", "IT director", "Engineer", "CHIEF of staff", "", None, "Head of Sales"]
CONTACT_FIELDS: dict[str, list[Any]] = {
    "role": ["decisionMaker", "influencer", "user", "other", None, 3],
    "jobTitle": TITLES,
    "subscriptions": [["news"], ["news", "events"], [], ["events"], "news"],
    "preferences.allowBulkEmail": [True, False, None, 0, 1],
    "insights.total": [0, 1, 2.5, 10, 40, -1, "10", None],
    "createdAt": [NOW - timedelta(days=d) for d in (0, 1, 30, 365)] + [None],
    "marketingOnly": [True, False],
    # what the consent rules of segment purposes read
    "email": ["ann@example.com", "", None],
    "unsubscribed": [["newsletter"], [], ["events"], "newsletter"],
    "consent.level": [*CONSENT_LEVELS, None, "bogus"],
    "consent.isChild": [True, False, None],
    "consent.guardian": ["Pat Lee", "", None],
}
ACCOUNT_FIELDS: dict[str, list[Any]] = {
    "industry": ["retail", "software", "Software", None],
    "numberOfEmployees": [5, 50, 250, 1200, 250.0, None, "big"],
    "country": ["NL", "SE", "PT", "LT", "VN"],
}
LEAD_FIELDS: dict[str, list[Any]] = {
    "topic": ["Contoso Ltd Conference", "Spring webinar", "Whitepaper", None],
    "stage": ["inquiry", "automated_marketing_qualification", "sales_acceptance"],
    "salesReady": [True, False],
    "marketingContext.kind": ["product", "offer", "campaign", "event"],
}
INTERACTION_FIELDS: dict[str, list[Any]] = {
    "formId": ["spring-webinar", "whitepaper", None],
    "url": ["https://contoso.com/pricing", "https://contoso.com/blog/a", None],
}
TYPES = ["email_opened", "email_clicked", "form_submitted", "website_visited", "event_attended"]
CONTAINS = ["director", "IT", "chief", "head", "sales", "news", "soft", "pricing", "contoso"]


def _put(doc: dict[str, Any], path: str, value: Any) -> None:
    if value is MISSING:
        return
    *parents, last = path.split(".")
    for part in parents:
        doc = doc.setdefault(part, {})
    doc[last] = value


def _record(rng: random.Random, fields: dict[str, list[Any]]) -> dict[str, Any]:
    doc: dict[str, Any] = {"_id": ObjectId()}
    for path, pool in fields.items():
        _put(doc, path, rng.choice([*pool, MISSING]))
    return doc


def dataset(rng: random.Random) -> dict[str, list[dict[str, Any]]]:
    accounts = [_record(rng, ACCOUNT_FIELDS) for _ in range(12)]
    dangling = ObjectId()
    contacts = []
    for _ in range(40):
        doc = _record(rng, CONTACT_FIELDS)
        doc["accountId"] = rng.choice([*[a["_id"] for a in accounts], None, dangling])
        contacts.append(doc)
    leads = []
    for _ in range(60):
        doc = _record(rng, LEAD_FIELDS)
        doc["parentContactId"] = rng.choice([*[c["_id"] for c in contacts], None])
        leads.append(doc)
    interactions = []
    for _ in range(200):
        doc = _record(rng, INTERACTION_FIELDS)
        doc["contactId"] = rng.choice(contacts)["_id"]
        doc["type"] = rng.choice(TYPES)
        doc["occurredAt"] = NOW - timedelta(minutes=rng.randint(0, 120 * 24 * 60))
        interactions.append(doc)
    return {
        "accounts": accounts,
        "contacts": contacts,
        "leads": leads,
        "interactions": interactions,
    }


def _value(rng: random.Random, op: str, pool: list[Any]) -> Any:
    if op in ("in", "not_in"):
        return rng.sample(pool, k=min(len(pool), rng.randint(1, 3)))
    if op == "exists":
        return rng.choice([True, False])
    if op == "contains":
        return rng.choice(CONTAINS)
    if op in ("gt", "gte", "lt", "lte"):
        return rng.choice([v for v in pool if v is not None and not isinstance(v, bool | list)])
    return rng.choice(pool)


def compare(rng: random.Random, entity: str, fields: dict[str, list[Any]]) -> dict[str, Any]:
    path = rng.choice(list(fields))
    pool = fields[path]
    ops = ["eq", "ne", "in", "not_in", "exists", "contains"]
    if any(v is not None and not isinstance(v, bool | list) for v in pool):
        ops += ["gt", "gte", "lt", "lte"]
    op = rng.choice(ops)
    return {"fact": f"{entity}.{path}", "op": op, "value": _value(rng, op, pool)}


def event(rng: random.Random) -> dict[str, Any]:
    low = rng.choice([0, 1, 1, 2, 3])
    spec: dict[str, Any] = {"type": rng.sample(TYPES, k=rng.randint(1, 2)), "min": low}
    if rng.random() < 0.7:
        spec["within"] = rng.choice(["7d", "30d", "12h", "2w", "90d"])
    if rng.random() < 0.3:
        spec["max"] = low + rng.randint(0, 3)
    if rng.random() < 0.3:
        spec["where"] = compare(rng, "interaction", INTERACTION_FIELDS)
    return {"event": spec}


def condition(
    rng: random.Random, entities: dict[str, dict[str, list[Any]]], events: bool, depth: int = 0
) -> dict[str, Any]:
    roll = rng.random()
    if depth < 3 and roll < 0.35:
        key = rng.choice(["all", "any"])
        return {
            key: [condition(rng, entities, events, depth + 1) for _ in range(rng.randint(1, 3))]
        }
    if depth < 3 and roll < 0.45:
        return {"not": condition(rng, entities, events, depth + 1)}
    if events and roll < 0.6:
        return event(rng)
    entity = rng.choice(list(entities))
    return compare(rng, entity, entities[entity])


#: Stored values that are not names a condition may compare with (the records hold them, a
#: segment given through the API may not name them: leadgraph.rules.vocabulary).
UNNAMEABLE: dict[str, tuple[Any, ...]] = {"contact.role": (3,), "contact.consent.level": ("bogus",)}
LISTS = ["news", "events", "newsletter"]  # the subscription lists the records name


def nameable(cond: Any) -> Any:
    """``cond`` with every :data:`UNNAMEABLE` value replaced by null (still a valid shape)."""
    if isinstance(cond, list):
        return [nameable(c) for c in cond]
    if not isinstance(cond, dict):
        return cond
    if "fact" in cond and cond["fact"] in UNNAMEABLE:
        bad = UNNAMEABLE[cond["fact"]]
        value = cond.get("value")
        if isinstance(value, list):
            return {**cond, "value": [None if v in bad else v for v in value]}
        return {**cond, "value": None} if value in bad else cond
    return {k: nameable(v) for k, v in cond.items()}


def segment(where: dict[str, Any]) -> Segment:
    return Segment.model_validate({"name": "generated", "where": where})
