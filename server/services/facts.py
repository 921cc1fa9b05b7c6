"""Gathering the facts the funnel evaluates: what the rules see of each lead, read from the
database with a few batched reads, and no more of a contact's interactions than the rules can
see (:func:`leadgraph.rules.reads.ruleset_reads`).

Rules only ever *count* interactions (``event`` conditions, ``per_event`` rules), so the
database counts them (``$group``, windows included) and the counts travel in
``Facts["counts"]`` instead of the interactions themselves: scoring a contact with 10,000
interactions reads a handful of numbers.  A plugin that does not say what it reads is given
every interaction, as before.  One road for every caller: live scoring after an interaction,
``leadgraph rescore`` (which counts once for the whole database, :func:`count_all`), dry runs
and rule previews.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from ..contracts import Facts
from ..db import in_transaction
from ..rules.conditions import as_utc, spec_key
from ..rules.models import EventSpec, duration
from ..rules.reads import ruleset_reads
from ..rules.ruleset import RuleSet
from ..store import accounts, contacts, interaction_days, interactions
from ..store.clock import now as db_now
from ..store.condition_filters import compiler_of
from ..types import Session

Counts = dict[ObjectId, dict[str, int]]  # contact id -> spec key -> how many


@dataclass(frozen=True)
class EventCounts:
    """The counts of every contact of the database at ``now`` (a contact missing has none)."""

    now: datetime
    by_contact: Counts


async def count_events(
    db: AsyncDatabase,
    ruleset: RuleSet,
    specs: Iterable[EventSpec],
    now: datetime,
    contact_ids: list[ObjectId] | None,
    until: datetime | None = None,
) -> Counts:
    """How many interactions of each contact (``None``: of every contact) match each spec,
    counted by the database: one ``$group`` by contact and type for the specs without
    ``where`` (one sum per window), one ``$group`` by contact per spec with a ``where``.
    ``until``: only interactions that occurred at or before it (a replay)."""
    specs = list(specs)
    out: Counts = {}
    upto = {"occurredAt": {"$lte": until}} if until is not None else None
    plain = [s for s in specs if s.where is None]
    if plain:
        windows = sorted({s.within or "" for s in plain})
        names = {w: f"n{i}" for i, w in enumerate(windows)}
        since = {names[w]: (as_utc(now) - duration(w) if w else None) for w in windows}
        query: dict[str, Any] = {"type": {"$in": sorted({t for s in plain for t in s.type})}}
        if "" not in windows:
            query["occurredAt"] = {"$gte": min(t for t in since.values() if t is not None)}
        if upto is not None:
            query = {"$and": [query, upto]}
        rows = await interactions.count_by_contact_and_type(db, query, since, contact_ids)
        for (contact, kind), sums in rows.items():
            mine = out.setdefault(contact, {})
            for s in plain:
                if kind in s.type:
                    key = spec_key(s)
                    mine[key] = mine.get(key, 0) + sums[names[s.within or ""]]
    for s in specs:
        if s.where is None:
            continue
        match = compiler_of(ruleset).event_pipeline(s, now)[0]["$match"]
        if upto is not None:
            match = {"$and": [match, upto]}
        key = spec_key(s)
        for contact, n in (await interactions.count_by_contact(db, match, contact_ids)).items():
            out.setdefault(contact, {})[key] = n
    return out


async def count_live(
    db: AsyncDatabase,
    ruleset: RuleSet,
    specs: Iterable[EventSpec],
    now: datetime,
    people: dict[ObjectId, dict[str, Any]],
    until: datetime | None = None,
) -> Counts:
    """:func:`count_events` for the contacts ``people`` (by id), the specs without ``where``
    read from the counted days of the contacts that have them (:func:`count_days`: at most one
    document per day of the longest window, whatever the number of interactions); the rest
    (``where`` specs, contacts whose days are not counted, a replay) counted from the
    interactions."""
    specs = list(specs)
    days = [c for c, p in people.items() if p.get(interaction_days.MARKER)] if until is None else []
    rest = [c for c in people if c not in set(days)]
    out: Counts = {}
    if rest:
        out.update(await count_events(db, ruleset, specs, now, rest, until))
    filtered = [s for s in specs if s.where is not None]
    if days and filtered:
        out.update(await count_events(db, ruleset, filtered, now, days))
    if days:
        plain = [s for s in specs if s.where is None]
        for contact, mine in (await count_days(db, plain, now, days)).items():
            out.setdefault(contact, {}).update(mine)
    return out


async def count_days(
    db: AsyncDatabase, specs: list[EventSpec], now: datetime, contact_ids: list[ObjectId]
) -> Counts:
    """How many interactions of each contact match each spec (none with ``where``), from the
    contacts' counted days (:mod:`leadgraph.store.interaction_days`, one read): a spec without
    a window is the every-day document; with one, the days after the window's first day plus,
    for that first day, the interactions from the window's start to its end (one indexed read
    of that part of one day per window).  The same counts as :func:`count_events`: the
    interactions of the spec's types that occurred at or after ``now - within``."""
    t = as_utc(now)
    windows = sorted({s.within for s in specs if s.within})
    since = {w: t - duration(w) for w in windows}
    edge = {w: interaction_days.day_of(since[w]) for w in windows}
    names = {w: f"w{i}" for i, w in enumerate(windows)}
    first = interaction_days.next_day(min(edge.values())) if windows else None
    stored = await interaction_days.of_contacts(db, contact_ids, first)
    ranges = {names[w]: (since[w], interaction_days.next_day(edge[w])) for w in windows}
    edges = await interaction_days.edge_counts(db, contact_ids, ranges)
    out: Counts = {}
    for contact in contact_ids:
        mine = stored.get(contact) or {}
        full = {as_utc(d): n for d, n in mine.items() if d is not None}
        counted = out.setdefault(contact, {})
        for s in specs:
            kinds = set(s.type)
            if s.within is None:
                n = sum((mine.get(None) or {}).get(k, 0) for k in kinds)
            else:
                after = edge[s.within]
                n = sum(by[k] for d, by in full.items() if d > after for k in kinds if k in by)
                n += sum((edges.get((contact, k)) or {}).get(names[s.within], 0) for k in kinds)
            counted[spec_key(s)] = n
    return out


async def count_uncounted_days(db: AsyncDatabase, batch: int = 200) -> int:
    """Count the days of every contact whose days are not counted yet (stored before
    ``interaction_days`` existed, or its interactions inserted in bulk; they are counted from
    their interactions meanwhile, never from stale days): ``batch`` contacts per transaction.
    How many contacts were counted."""
    done = 0
    while ids := await interaction_days.uncounted(db, batch):

        async def work(session: Session | None, ids: list[ObjectId] = ids) -> None:
            await interaction_days.rebuild(db, ids, session=session)

        await in_transaction(db, work)
        done += len(ids)
    return done


async def count_all(db: AsyncDatabase, ruleset: RuleSet, now: datetime) -> EventCounts | None:
    """The counts the rules need for every contact at ``now`` (for a run over the whole
    database); None when some plugin needs the interactions themselves."""
    reads = ruleset_reads(ruleset)
    if reads.everything:
        return None
    return EventCounts(now, await count_events(db, ruleset, reads.counts, now, None))


def counts_of_first(
    ruleset: RuleSet, interaction: dict[str, Any], now: datetime
) -> EventCounts | None:
    """The counts at ``now`` of a contact whose only interaction is ``interaction`` (a capture
    that just created the contact), made without reading; None when the rules need more than
    plain counts (a ``where`` on occurrences, or the interactions themselves)."""
    reads = ruleset_reads(ruleset)
    if reads.everything or reads.documents or any(s.where is not None for s in reads.counts):
        return None
    at = as_utc(interaction["occurredAt"])
    mine: dict[str, int] = {}
    for s in reads.counts:
        recent = s.within is None or at >= as_utc(now) - duration(s.within)
        mine[spec_key(s)] = int(interaction["type"] in s.type and recent)
    return EventCounts(now, {interaction["contactId"]: mine})


async def gather(
    db: AsyncDatabase,
    docs: Iterable[dict[str, Any]],
    ruleset: RuleSet | None,
    now: datetime,
    counted: EventCounts | None = None,
    *,
    until: datetime | None = None,
    known: dict[ObjectId, dict[str, Any]] | None = None,
) -> dict[ObjectId, Facts]:
    """``{lead id: facts}`` for many leads with one batched read per collection.

    Interactions belong to contacts: a lead's are those of its parent contact or, for an
    account-based lead without one, those of every contact of its account.  ``counted``:
    counts already made for the whole database at ``now`` (:func:`count_all`); ``until``:
    only the interactions that occurred at or before it (a replay); ``known``: contacts in hand
    as stored now, by id (not read again).  Without a rule set every interaction is read.
    """
    docs = list(docs)
    parents = [d["parentContactId"] for d in docs if d.get("parentContactId")]
    people = {p: known[p] for p in parents if known and p in known}
    people.update(await contacts.by_ids(db, [p for p in parents if p not in people]))
    account_ids = [d["parentAccountId"] for d in docs if d.get("parentAccountId")]
    account_ids += [c["accountId"] for c in people.values() if c.get("accountId")]
    by_id = await accounts.by_ids(db, account_ids)
    account_based = [
        d["parentAccountId"]
        for d in docs
        if d.get("parentAccountId") and not d.get("parentContactId")
    ]
    members = await contacts.of_accounts(db, account_based)
    for group in members.values():
        for person in group:
            people.setdefault(person["_id"], person)
    if ruleset is None or (reads := ruleset_reads(ruleset)).everything:
        events = await interactions.of_contacts(db, list(people), until=until)
        return assemble_facts(docs, people, by_id, members, events)
    events = {}
    if reads.documents:
        mongo = compiler_of(ruleset)
        matches = [mongo.event_pipeline(s, now)[0]["$match"] for s in reads.documents]
        query: dict[str, Any] = {"$or": matches}
        if until is not None:
            query = {"$and": [query, {"occurredAt": {"$lte": until}}]}
        events = await interactions.matching_of_contacts(db, list(people), query)
    if counted is not None and counted.now == now and until is None:
        counts = counted.by_contact
    else:
        counts = await count_live(db, ruleset, reads.counts, now, people, until)
    keys = [spec_key(s) for s in reads.counts]
    return assemble_facts(docs, people, by_id, members, events, counts=(keys, counts))


def assemble_facts(
    docs: Iterable[dict[str, Any]],
    people: dict[ObjectId, dict[str, Any]],
    by_id: dict[ObjectId, dict[str, Any]],
    members: dict[ObjectId, list[dict[str, Any]]],
    events: dict[ObjectId, list[dict[str, Any]]],
    *,
    counts: tuple[list[str], Counts] | None = None,
) -> dict[ObjectId, Facts]:
    """The facts of each lead from documents already loaded: contacts and accounts by id,
    an account's contacts (``members``) and a contact's interactions, each by their id;
    ``counts``: the spec keys the rules count and the counts of each contact."""
    out: dict[ObjectId, Facts] = {}
    for lead in docs:
        contact = people.get(lead.get("parentContactId"))  # type: ignore[arg-type]
        account = by_id.get(lead.get("parentAccountId")) or (  # type: ignore[arg-type]
            by_id.get(contact.get("accountId")) if contact else None  # type: ignore[arg-type]
        )
        who = [contact] if contact else members.get(lead.get("parentAccountId"), [])  # type: ignore[arg-type]
        seen = sorted(
            (i for person in who for i in events.get(person["_id"], [])),
            key=lambda i: i["occurredAt"],
        )
        facts = Facts(lead=lead, contact=contact, account=account, contacts=who, interactions=seen)
        if counts is not None:
            keys, by_contact = counts
            facts["counts"] = {
                key: sum((by_contact.get(p["_id"]) or {}).get(key, 0) for p in who) for key in keys
            }
        out[lead["_id"]] = facts
    return out


async def gather_facts(
    db: AsyncDatabase, docs: Iterable[dict[str, Any]], *, until: datetime | None = None
) -> dict[ObjectId, Facts]:
    """``{lead id: facts}`` with every interaction of the leads' contacts (those that occurred
    at or before ``until``, when given: a replay), whatever the rules read; the one gathering
    road of :mod:`leadgraph.services.facts` without a rule set to bound it."""
    return await gather(db, docs, None, until or db_now(), until=until)
