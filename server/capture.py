"""Capture: a form submission or event registration becomes a contact, a lead and an
interaction, without duplicates.

For each record the form's strategy (see :mod:`leadgraph.strategies`) computes a match key.
The key is claimed in ``match_keys`` (an upsert on ``_id``), which the database serialises: all
concurrent submissions with the same email, in any process, get the same record id.  The record
itself is then upserted by that id (``$setOnInsert`` for a new one, ``$set`` for the submitted
values), so a claim left behind by a crash is completed by the next submission.  The interaction,
the contact's insights and the idempotency record are written in one transaction: a retried
submission (same idempotency key) records nothing twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from . import normalize
from .contracts import CONSENT_LEVELS, CONTACT_ROLES
from .db import in_transaction
from .errors import Conflict, InvalidInput
from .store import contacts, interactions, leads, match_keys, submissions
from .store._base import now
from .strategies import (
    Kinds,
    contact_strategy,
    creates,
    fields_of,
    lead_strategy,
    match_key,
    matcher,
    ruleset,
    signature_of_key,
)

CONTACT_FIELDS = ("firstName", "lastName", "email", "phone", "jobTitle", "role", "marketingSource")
PREFERENCE_FIELDS = ("allowBulkEmail", "allowEmail", "allowPrefill", "trackEmail")
LEAD_FIELDS = ("topic", "companyName", "jobTitle", "firstName", "lastName", "email")
MAX_DETAILS = 16_384
# Stored normalised fields a legacy record (created before it had match keys) is found by.
STORED_AS = {
    "contacts": {"email": "emailNormalized"},
    "leads": {"email": "emailNormalized"},
    "accounts": {"domain": "domain", "name": "nameNormalized"},
}


@dataclass
class Parsed:
    """A submission's ``fields`` split by destination."""

    contact: dict[str, Any] = field(default_factory=dict)
    lead: dict[str, Any] = field(default_factory=dict)
    subscriptions: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


def parse_fields(raw: Any, prefix: str = "input.fields") -> Parsed:
    """Validate submitted form fields; raises InvalidInput naming each bad field."""
    if not isinstance(raw, dict):
        raise InvalidInput(prefix, "must be a JSON object of field name to value")
    errors: list[tuple[str, str]] = []
    out = Parsed()
    for name, value in raw.items():
        path = f"{prefix}.{name}"
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if name in PREFERENCE_FIELDS:
            if not isinstance(value, bool):
                errors.append((path, "must be true or false"))
                continue
            out.contact.setdefault("preferences", {})[name] = value
        elif name == "consent":
            consent = {"level": value} if isinstance(value, str) else value
            if not isinstance(consent, dict):
                errors.append((path, "must be a consent level or an object"))
                continue
            level = consent.get("level")
            if level is not None and level not in CONSENT_LEVELS:
                errors.append((f"{path}.level", f"must be one of {', '.join(CONSENT_LEVELS)}"))
                continue
            picked = {k: consent[k] for k in ("level", "isChild", "guardian") if k in consent}
            out.contact["consent"] = picked
        elif name == "subscriptions":
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                errors.append((path, "must be a list of subscription list names"))
                continue
            out.subscriptions = [i.strip() for i in items if i.strip()]
        elif name in CONTACT_FIELDS or name in LEAD_FIELDS:
            if not isinstance(value, str):
                errors.append((path, "must be a string"))
                continue
            value = value.strip()
            if name == "email":
                try:
                    normalize.email(value)
                except normalize.InvalidValue as exc:
                    errors.append((path, str(exc)))
                    continue
            if name == "role" and value not in CONTACT_ROLES:
                errors.append((path, f"must be one of {', '.join(CONTACT_ROLES)}"))
                continue
            if name in CONTACT_FIELDS:
                out.contact[name] = value
            if name in LEAD_FIELDS:
                out.lead[name] = value
        else:
            out.details[name] = value
    if out.details and len(json.dumps(out.details, default=str)) > MAX_DETAILS:
        errors.append((prefix, "the fields kept as interaction details must be at most 16 KiB"))
    if errors:
        raise InvalidInput(errors)
    return out


@dataclass
class Match:
    """How one record was found: the strategy, its fields and normalised values."""

    strategy: str
    kind: str
    fields: list[str]
    values: dict[str, str] | None
    matched: bool
    created: bool
    rules_version: str | None = None  # the rules that chose the strategy

    def to_doc(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Outcome:
    contact: dict[str, Any]
    lead: dict[str, Any] | None
    interaction: dict[str, Any]
    contact_match: Match
    lead_match: Match
    replayed: bool = False


def _conflicts(path: str, changes: dict[str, Any]) -> bool:
    return any(c == path or c.startswith(path + ".") or path.startswith(c + ".") for c in changes)


def set_on_insert(doc: dict[str, Any], changes: dict[str, Any], skip: tuple[str, ...] = ()):
    """The parts of a new document not already set by ``changes`` (no conflicting paths)."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key == "_id" or key in skip or key in changes:
            continue
        if isinstance(value, dict) and any(c.startswith(key + ".") for c in changes):
            for sub, subvalue in value.items():
                if not _conflicts(f"{key}.{sub}", changes):
                    out[f"{key}.{sub}"] = subvalue
        elif not _conflicts(key, changes):
            out[key] = value
    return out


async def upsert_record(
    db: AsyncDatabase,
    collection: str,
    rid: ObjectId,
    new_doc: dict[str, Any],
    changes: dict[str, Any],
    *,
    add_to_set: dict[str, list[Any]] | None = None,
    upsert: bool = True,
) -> dict[str, Any] | None:
    """Create record ``rid`` from ``new_doc`` or apply ``changes`` to it, in one operation."""
    t = now()
    sets = {**changes, "updatedAt": t}
    update: dict[str, Any] = {"$set": sets}
    skip = tuple(add_to_set or ())
    if upsert:
        update["$setOnInsert"] = set_on_insert(new_doc, sets, skip)
    if add_to_set:
        update["$addToSet"] = {k: {"$each": v} for k, v in add_to_set.items()}
    for _ in range(5):
        try:
            doc = await db[collection].find_one_and_update(
                {"_id": rid}, update, upsert=upsert, return_document=ReturnDocument.AFTER
            )
        except DuplicateKeyError:  # two upserts of the same new id raced: now it is an update
            continue
        if doc is not None or not upsert:
            return doc
        # SecantusDB may answer a lost upsert race with no document: try again as an update.
    raise Conflict(f"could not write {collection} {rid}")


async def insert_fresh(
    db: AsyncDatabase,
    collection: str,
    rid: ObjectId,
    new_doc: dict[str, Any],
    add_to_set: dict[str, list[Any]] | None,
) -> dict[str, Any] | None:
    """Insert the record of a key this call just claimed (None: a racer upserted it first)."""
    doc = {**new_doc, "_id": rid}
    for name, items in (add_to_set or {}).items():
        doc[name] = list(dict.fromkeys([*(doc.get(name) or []), *items]))
    try:
        await db[collection].insert_one(doc)
    except DuplicateKeyError:  # a concurrent submission read our claim and upserted first
        return None
    return doc


async def legacy_record(
    db: AsyncDatabase, pm: Any, collection: str, strategy: Any, values: dict[str, str]
) -> dict[str, Any] | None:
    """A record created without match keys (manual entry, seed data) holding ``values``."""
    stored = STORED_AS.get(collection, {})
    query = {stored.get(f, f): v for f, v in values.items()}
    if not query:
        return None
    m = matcher(pm, getattr(strategy, "kind", "exact"))
    async for doc in db[collection].find(query).sort("createdAt", 1).limit(20):
        if m.key(doc, strategy) == values:
            return doc
    return None


async def resolve(
    db: AsyncDatabase,
    pm: Any,
    collection: str,
    strategy: Any,
    record: dict[str, Any],
    new_doc: dict[str, Any],
    changes: dict[str, Any],
    *,
    add_to_set: dict[str, list[Any]] | None = None,
) -> tuple[dict[str, Any] | None, Match]:
    """Find the record ``strategy`` matches (claiming its key) and update it, or create it."""
    kind = getattr(strategy, "kind", "exact")
    m = matcher(pm, kind)
    kid, values = match_key(pm, collection, strategy, record)
    rid: ObjectId | None = None
    fresh = False  # this call claimed a new key: the record does not exist yet
    if kind != "exact" and hasattr(m, "find"):
        found = await m.find(db[collection], record, strategy)
        rid = found["_id"] if found else None
    if rid is None and kid is not None:
        rid = await match_keys.lookup(db, kid)
        if rid is None:
            legacy = await legacy_record(db, pm, collection, strategy, values or {})
            if legacy is None and not creates(strategy):
                return None, _match(strategy, values, matched=False, created=False)
            proposed = legacy["_id"] if legacy else ObjectId()
            rid = await match_keys.claim(
                db, kid, proposed, {"collection": collection, "strategy": strategy.name}
            )
            fresh = legacy is None and rid == proposed
    if rid is None:
        if not creates(strategy):
            return None, _match(strategy, values, matched=False, created=False)
        rid = ObjectId()
    if kid is not None:
        new_doc = {**new_doc, "matchKeyedOn": [signature_of_key(kid)]}
    if fresh:
        doc = await insert_fresh(db, collection, rid, new_doc, add_to_set)
        if doc is not None:
            return doc, _match(strategy, values, matched=False, created=True)
    token = ObjectId()
    via = {**new_doc.get("createdVia", {}), "token": token}
    new_doc = {**new_doc, "createdVia": via}
    doc = await upsert_record(
        db, collection, rid, new_doc, changes, add_to_set=add_to_set, upsert=creates(strategy)
    )
    if doc is None:
        return None, _match(strategy, values, matched=False, created=False)
    created = (doc.get("createdVia") or {}).get("token") == token
    return doc, _match(strategy, values, matched=not created, created=created)


def _match(strategy: Any, values: dict[str, str] | None, *, matched: bool, created: bool) -> Match:
    return Match(
        strategy=strategy.name,
        kind=getattr(strategy, "kind", "exact"),
        fields=list(fields_of(strategy)),
        values=values,
        matched=matched,
        created=created,
    )


def contact_changes(fields: dict[str, Any]) -> dict[str, Any]:
    """The ``$set`` map for submitted contact fields (derived fields recomputed)."""
    scratch: dict[str, Any] = {}
    changes = contacts.apply_fields(scratch, fields)
    if "sortName" in changes and not ("firstName" in fields and "lastName" in fields):
        changes.pop("sortName")  # needs the stored other half of the name: left as it was
    return changes


async def capture(
    db: AsyncDatabase,
    *,
    rules: Any,
    pm: Any,
    form_id: str,
    fields: Any,
    interaction_type: str = "form_submitted",
    event_id: str | None = None,
    marketing_context: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    occurred_at: datetime | None = None,
    source: str = "form",
    make_lead: Callable[[dict[str, Any]], dict[str, Any]],
) -> Outcome:
    """Run one submission through matching; see the module docstring.

    ``make_lead`` builds a new lead document (at the lifecycle's initial stage).
    """
    if not form_id or not form_id.strip():
        raise InvalidInput("input.formId", "must not be blank")
    if idempotency_key is not None and not idempotency_key.strip():
        raise InvalidInput("input.idempotencyKey", "must not be blank")
    parsed = parse_fields(fields)
    pm = Kinds(rules, pm)
    cstrat = contact_strategy(rules, form_id)
    if getattr(cstrat, "kind", "exact") == "exact" and match_key(
        pm, "contacts", cstrat, {**parsed.contact, "formId": form_id}
    ) == (None, None):
        # Without its fields the contact could never be matched again: a duplicate per submit.
        missing = [f for f in fields_of(cstrat) if f != "formId" and not parsed.contact.get(f)]
        raise InvalidInput(
            [
                (f"input.fields.{f}", f"is required by the contact matching strategy {cstrat.name}")
                for f in missing or fields_of(cstrat)
            ]
        )
    if occurred_at is not None and occurred_at.tzinfo is None:
        occurred_at = occurred_at.replace(tzinfo=UTC)  # a time without zone is taken as UTC
    if idempotency_key and (done := await submissions.get(db, idempotency_key)):
        return await replay(db, done)

    # Contact
    cfields = dict(parsed.contact)
    new_contact = contacts.new_document({"marketingSource": f"{source}:{form_id}", **cfields})
    new_contact["createdVia"] = {"source": source, "formId": form_id}
    contact, cmatch = await resolve(
        db,
        pm,
        "contacts",
        cstrat,
        {**cfields, "formId": form_id},
        new_contact,
        contact_changes({k: v for k, v in cfields.items() if k != "marketingSource"}),
        add_to_set={"subscriptions": parsed.subscriptions} if parsed.subscriptions else None,
    )
    assert contact is not None  # contact strategies always create
    sort_name = normalize.sort_name(contact.get("firstName"), contact.get("lastName"))
    if contact.get("sortName") != sort_name:  # one half of the name changed
        await db["contacts"].update_one({"_id": contact["_id"]}, {"$set": {"sortName": sort_name}})

    # Lead
    lstrat = lead_strategy(rules, form_id)
    lfields = {**parsed.lead, "formId": form_id}
    if marketing_context:
        lfields["marketingContext"] = marketing_context
    if not (lfields.get("topic") or lfields.get("marketingContext")):
        lfields["topic"] = form_id
    new_lead = make_lead({**lfields, "parentContactId": contact["_id"]})
    new_lead["createdVia"] = {"source": source, "formId": form_id}
    update = {k: v for k, v in lfields.items() if k not in ("topic", "marketingContext")}
    lead, lmatch = await resolve(
        db,
        pm,
        "leads",
        lstrat,
        {**lfields, "email": lfields.get("email") or contact.get("email")},
        new_lead,
        leads.apply_fields({}, update),
    )
    if lead is not None and lead.get("parentContactId") is None:
        # (update_one + find_one: SecantusDB's find_one_and_update scans unless on _id alone)
        await db["leads"].update_one(
            {"_id": lead["_id"], "parentContactId": None},
            {"$set": {"parentContactId": contact["_id"]}},
        )
        lead = await db["leads"].find_one({"_id": lead["_id"]}) or lead

    cmatch.rules_version = lmatch.rules_version = getattr(ruleset(rules), "version", None)
    # Interaction, insights and the idempotency record: all or nothing.
    ifields: dict[str, Any] = {
        "contactId": contact["_id"],
        "leadId": lead["_id"] if lead else None,
        "type": interaction_type,
        "formId": form_id,
        "eventId": event_id,
        "occurredAt": occurred_at,
        "details": parsed.details,
        "idempotencyKey": idempotency_key,
        # how this capture found its records, traceable to the rule text that decided it
        "match": {"contact": cmatch.to_doc(), "lead": lmatch.to_doc()},
    }

    async def work(session: Any) -> dict[str, Any]:
        doc = await interactions.record(db, ifields, session=session)
        if idempotency_key:
            await db[submissions.NAME].insert_one(
                {
                    "_id": idempotency_key,
                    "formId": form_id,
                    "contactId": contact["_id"],
                    "leadId": lead["_id"] if lead else None,
                    "interactionId": doc["_id"],
                    "contactMatch": cmatch.to_doc(),
                    "leadMatch": lmatch.to_doc(),
                    "createdAt": now(),
                },
                session=session,
            )
        return doc

    try:
        interaction = await in_transaction(db, work)
    except DuplicateKeyError:
        done = await submissions.get(db, idempotency_key or "")
        if done is None:
            raise Conflict(
                f"idempotency key {idempotency_key!r} was already used for another interaction"
            ) from None
        return await replay(db, done)
    return Outcome(with_insight(contact, interaction), lead, interaction, cmatch, lmatch)


def with_insight(contact: dict[str, Any], interaction: dict[str, Any]) -> dict[str, Any]:
    """``contact`` with ``interaction`` folded into its insights (as the transaction did)."""
    insights = dict(contact.get("insights") or {})
    counts = dict(insights.get("counts") or {})
    counts[interaction["type"]] = counts.get(interaction["type"], 0) + 1
    last = insights.get("lastActivityAt")
    when = interaction["occurredAt"]
    return {
        **contact,
        "insights": {
            "total": int(insights.get("total") or 0) + 1,
            "counts": counts,
            "lastActivityAt": when if last is None or when > last else last,
        },
    }


async def replay(db: AsyncDatabase, done: dict[str, Any]) -> Outcome:
    """The outcome of an already recorded submission (a retry)."""
    contact = await db["contacts"].find_one({"_id": done["contactId"]})
    lead = await db["leads"].find_one({"_id": done["leadId"]}) if done.get("leadId") else None
    interaction = await db["interactions"].find_one({"_id": done["interactionId"]})
    if contact is None or interaction is None:
        raise Conflict("the records of this submission were deleted or merged away")
    return Outcome(
        contact,
        lead,
        interaction,
        Match(**done["contactMatch"]),
        Match(**done["leadMatch"]),
        replayed=True,
    )
