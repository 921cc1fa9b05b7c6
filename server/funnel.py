"""The lead funnel applied to stored leads: gather facts, score, move stages, persist.

Facts for many leads are gathered with one batched ``$in`` find per collection (leads'
parent contacts, accounts, the contacts of account-based leads, and their interactions), so
rescoring the whole database costs a constant number of round trips per batch of leads.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from .events import emit
from .rules import lifecycle, scoring
from .rules.ruleset import RuleSet
from .store._base import find_by_ids

Facts = dict[str, Any]


async def gather_facts(db: AsyncDatabase, leads: Iterable[dict[str, Any]]) -> dict[ObjectId, Facts]:
    """``{lead id: {"lead", "contact", "account", "contacts", "interactions"}}`` for scoring.

    Interactions belong to contacts: a lead's are those of its parent contact or, for an
    account-based lead without one, those of the account's contacts.
    """
    leads = list(leads)
    contact_ids = [lead["parentContactId"] for lead in leads if lead.get("parentContactId")]
    contacts = await find_by_ids(db["contacts"], contact_ids)
    account_ids = [lead["parentAccountId"] for lead in leads if lead.get("parentAccountId")]
    account_ids += [c["accountId"] for c in contacts.values() if c.get("accountId")]
    accounts = await find_by_ids(db["accounts"], account_ids)
    account_based = [
        lead["parentAccountId"]
        for lead in leads
        if lead.get("parentAccountId") and not lead.get("parentContactId")
    ]
    members: dict[ObjectId, list[dict[str, Any]]] = defaultdict(list)
    if account_based:
        async for doc in db["contacts"].find({"accountId": {"$in": list(set(account_based))}}):
            members[doc["accountId"]].append(doc)
            contacts.setdefault(doc["_id"], doc)
    wanted = list(contacts)
    interactions: dict[ObjectId, list[dict[str, Any]]] = defaultdict(list)
    if wanted:
        cursor = db["interactions"].find({"contactId": {"$in": wanted}}).sort("occurredAt", 1)
        async for doc in cursor.batch_size(10_000):
            interactions[doc["contactId"]].append(doc)
    return assemble_facts(leads, contacts, accounts, members, interactions)


def assemble_facts(
    leads: Iterable[dict[str, Any]],
    contacts: Mapping[ObjectId, dict[str, Any]],
    accounts: Mapping[ObjectId, dict[str, Any]],
    members: Mapping[ObjectId, list[dict[str, Any]]],
    interactions: Mapping[ObjectId, list[dict[str, Any]]],
) -> dict[ObjectId, Facts]:
    """The facts of each lead from documents already loaded: contacts and accounts by id,
    an account's contacts (``members``) and a contact's interactions, each by their id."""
    out: dict[ObjectId, Facts] = {}
    for lead in leads:
        contact = contacts.get(lead.get("parentContactId"))
        account = accounts.get(lead.get("parentAccountId")) or (
            accounts.get(contact.get("accountId")) if contact else None
        )
        people = [contact] if contact else members.get(lead.get("parentAccountId"), [])
        events = sorted(
            (i for person in people for i in interactions.get(person["_id"], [])),
            key=lambda i: i["occurredAt"],
        )
        out[lead["_id"]] = {
            "lead": lead,
            "contact": contact,
            "account": account,
            "contacts": people,
            "interactions": events,
        }
    return out


@dataclass
class Evaluation:
    """What the rules say about one lead: its scores and the stage moves they trigger."""

    update: dict[str, Any] | None
    results: list[scoring.ScoreResult] = field(default_factory=list)
    transitions: list[Any] = field(default_factory=list)


def evaluate(
    ruleset: RuleSet, facts: Facts, trigger: str = "scored", now: datetime | None = None
) -> Evaluation:
    """Score the lead of ``facts`` and follow the automatic transitions ``trigger`` fires.

    Returns the single MongoDB update that stores both (None when nothing changes).
    """
    now = now or datetime.now(UTC)
    lead = facts["lead"]
    results = scoring.score_lead(ruleset, facts, now) if trigger == "scored" else []
    fields: dict[str, Any] = {}
    if results:
        fields = scoring.lead_update(results, now)
        trigger_facts = {**facts, "lead": {**lead, **fields}}
    else:
        trigger_facts = facts
        if trigger == "scored" and not scoring.scorable(facts):
            return Evaluation(update=None)
    transitions = lifecycle.advance(ruleset, trigger_facts, trigger, now)
    move = lifecycle.transition_update(ruleset, trigger_facts["lead"], transitions, now=now)
    update: dict[str, Any] = {}
    if fields:
        update["$set"] = {**fields, "updatedAt": now}
    if move:
        update.setdefault("$set", {}).update(move["$set"])
        update["$push"] = move["$push"]
    return Evaluation(update=update or None, results=results, transitions=transitions)


def apply_in_memory(doc: dict[str, Any], update: dict[str, Any] | None) -> dict[str, Any]:
    """Apply an update made by :func:`evaluate` to a document not yet written."""
    if update:
        doc.update(update.get("$set", {}))
        for key, push in update.get("$push", {}).items():
            doc.setdefault(key, []).extend(push["$each"])
    return doc


async def apply(
    db: AsyncDatabase,
    ruleset: RuleSet,
    query: dict[str, Any],
    *,
    trigger: str = "scored",
    pm: Any = None,
) -> list[dict[str, Any]]:
    """Score and advance the stored leads matching ``query`` (a handful: one lead, or the leads
    of one contact); returns them after the write.  Plugins hear about it afterwards."""
    leads = await db["leads"].find(query).to_list()
    if not leads:
        return []
    facts = await gather_facts(db, leads)
    out = []
    for lead in leads:
        result = evaluate(ruleset, facts[lead["_id"]], trigger)
        if result.update is None:
            out.append(lead)
            continue
        after = await db["leads"].find_one_and_update(
            {"_id": lead["_id"]}, result.update, return_document=ReturnDocument.AFTER
        )
        await announce(pm, lead, after, result, ruleset)
        out.append(after or lead)
    return out


async def announce(
    pm: Any,
    before: dict[str, Any],
    after: dict[str, Any] | None,
    result: Evaluation,
    ruleset: RuleSet,
) -> None:
    """Tell plugins about the scores and stage moves just stored."""
    if after is None:
        return
    if result.results:
        await emit(pm, "lead_scored", {"lead": after, "results": result.results})
    stage = before.get("stage")
    for t in result.transitions:
        await emit(
            pm,
            "stage_changed",
            {
                "lead": after,
                "from_stage": stage,
                "to_stage": t.to,
                "transition": t.name,
                "rules_version": ruleset.version,
            },
        )
        stage = t.to


async def rescore_leads(
    db: AsyncDatabase,
    ruleset: RuleSet,
    query: dict[str, Any] | None = None,
    *,
    batch: int = 500,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Rescore every lead matching ``query`` in batches (facts gathered per batch, updates
    written with one ``bulk_write``). Returns how many leads changed."""
    changed = 0
    now = datetime.now(UTC)
    cursor = db["leads"].find(query or {}).sort("_id", 1).batch_size(batch)
    chunk: list[dict[str, Any]] = []

    async def flush() -> None:
        nonlocal changed
        facts = await gather_facts(db, chunk)
        ops = []
        for lead in chunk:
            update = evaluate(ruleset, facts[lead["_id"]], "scored", now).update
            if update:
                ops.append(UpdateOne({"_id": lead["_id"]}, update))
        if ops:
            await db["leads"].bulk_write(ops, ordered=False)
            changed += len(ops)
        if progress:
            progress(len(chunk))
        chunk.clear()

    async for lead in cursor:
        chunk.append(lead)
        if len(chunk) >= batch:
            await flush()
    if chunk:
        await flush()
    return changed


async def after_interaction(
    db: AsyncDatabase, rules: Any, contact_id: ObjectId | None, pm: Any = None
) -> list[dict[str, Any]]:
    """A contact engaged: rescore its open leads (and move them on) with the live rules.

    ``rules`` is the :class:`~leadgraph.rules.manager.RulesManager`; without valid rules
    nothing is scored (the interaction itself is already stored).
    """
    ruleset = getattr(rules, "current", None)
    if ruleset is None or contact_id is None:
        return []
    query = {"parentContactId": contact_id, "status": {"$in": ["open", None]}}
    return await apply(db, ruleset, query, trigger="scored", pm=pm)
