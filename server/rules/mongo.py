"""The condition language compiled to MongoDB, for set work (segments, dry runs).

A condition on one record kind compiles to one query filter (:meth:`MongoCompiler.filter`).
A condition mixing records (contact fields, its account, its leads, its interactions) compiles
to a small plan: one plain ``find`` per single-record subtree, one ``aggregate`` with
``$match``/``$group`` per event condition, combined as sets of ids in Python.  It never uses a
correlated ``$lookup`` (or ``$unionWith``), which some MongoDB-compatible servers answer with a
full scan per row.

The plan chooses its join order as a query planner would: the parts of an ``all`` run from
the most selective to the least (estimated by counting their filters on indexed fields), and
each part after the first reads only the records linked to the ids found so far (``$in``), so
a narrow criterion on any collection keeps every later read narrow.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from ..store import segment_plans as reads
from .conditions import Compiler, as_utc, entities
from .models import AllOf, AnyOf, Compare, Condition, Event, EventSpec, NotOf, duration


class MongoCompiler:
    def __init__(self, operators: Mapping[str, Any]) -> None:
        self.operators = dict(operators)
        self.python = Compiler(operators)

    def filter(self, cond: Condition, entity: str) -> dict[str, Any]:
        """The query filter on ``entity``'s collection equivalent to ``cond``, which may only
        compare fields of that entity (no events)."""
        if isinstance(cond, AllOf):
            return {"$and": [self.filter(c, entity) for c in cond.all]}
        if isinstance(cond, AnyOf):
            return {"$or": [self.filter(c, entity) for c in cond.any]}
        if isinstance(cond, NotOf):
            return {"$nor": [self.filter(cond.not_, entity)]}
        if isinstance(cond, Compare):
            owner, _, path = cond.fact.partition(".")
            if owner != entity:
                raise ValueError(f"{cond.fact} is not a field of {entity}")
            return dict(self.operators[cond.op].mongo(path, cond.value))
        raise ValueError(f"an event condition cannot filter the {entity} collection")

    def event_pipeline(
        self, spec: EventSpec, now: datetime, contacts: Collection[ObjectId] | None = None
    ) -> list[dict[str, Any]]:
        """``aggregate`` stages on ``interactions`` giving ``{_id: contactId, n: count}``
        (only for ``contacts`` when given)."""
        match: dict[str, Any] = {"type": {"$in": list(spec.type)}}
        if spec.within:
            match["occurredAt"] = {"$gte": as_utc(now) - duration(spec.within)}
        if contacts is not None:
            match["contactId"] = {"$in": list(contacts)}
        if spec.where is not None:
            match = {"$and": [match, self.filter(spec.where, "interaction")]}
        return [{"$match": match}, {"$group": {"_id": "$contactId", "n": {"$sum": 1}}}]


INFINITE = float("inf")
#: Operators whose filter on an indexed field the database counts from the index.
_COUNTABLE = frozenset({"eq", "in", "gt", "gte", "lt", "lte"})
_INDEXED: dict[str, set[str]] = {}


def _indexed(entity: str) -> set[str]:
    if not _INDEXED:
        _INDEXED.update(reads.indexed_fields())
    return _INDEXED.get(entity, set())


class Plan:
    """Runs one condition over a base record kind (``contact``, or ``lead`` = the leads of
    contacts), answering with the set of base ids that satisfy it.

    Every read records the links it saw (lead -> parent contact, contact -> account), so later
    parts of the plan restrict their reads to the records linked to what was found before."""

    def __init__(self, compiler: MongoCompiler, db: AsyncDatabase, base: str, now: datetime):
        self.compiler = compiler
        self.db = db
        self.base = base
        self.now = now
        self.parent: dict[ObjectId, ObjectId] = {}  # lead -> parent contact
        self.account: dict[ObjectId, Any] = {}  # contact (seen, so existing) -> account id
        self._universe: set[ObjectId] | None = None
        self._all_contacts = False
        self._estimates: dict[str, float] = {}

    # ------------------------------------------------------------ entry points

    async def contact_ids(
        self, cond: Condition, within: set[ObjectId] | None = None
    ) -> list[ObjectId]:
        """The ids of the existing contacts satisfying ``cond`` (for a lead base: having a
        lead that satisfies it), among ``within`` (contact ids) when given; sorted."""
        if within is not None and self.base == "lead":
            found = await reads.leads_of(self.db, list(within))
            self.parent.update(found)
            within = set(found)
        ids = await self.run(cond, within)
        contacts = {self.parent[i] for i in ids} if self.base == "lead" else ids
        unseen = [c for c in contacts if c not in self.account]
        if unseen:  # e.g. counted from interactions: keep only contacts that exist
            self.account.update(await reads.linked_ids(self.db, "contact", _among(unseen)))
        return sorted(c for c in contacts if c in self.account)

    async def base_ids(self) -> set[ObjectId]:
        """Every base id (all contacts, or every lead that has a parent contact)."""
        if self._universe is None:
            if self.base == "contact":
                found = await reads.linked_ids(self.db, "contact", {})
                self.account.update(found)
                self._all_contacts = True
            else:
                found = await reads.linked_ids(self.db, "lead", {"parentContactId": {"$ne": None}})
                self.parent.update(found)
            self._universe = set(found)
        return self._universe

    async def run(self, cond: Condition, within: set[ObjectId] | None = None) -> set[ObjectId]:
        """The base ids satisfying ``cond``, among ``within`` when given."""
        if within is not None and not within:
            return set()
        kinds = entities(cond)
        if len(kinds) == 1 and "events" not in kinds:
            return await self._single(cond, kinds.pop(), within)
        if isinstance(cond, AllOf):
            out = within
            for child in await self._ordered(cond.all):
                out = await self.run(child, out)
                if not out:
                    return set()
            return out or set()
        if isinstance(cond, AnyOf):
            union: set[ObjectId] = set()
            for child in cond.any:
                union |= await self.run(child, within)
            return union
        if isinstance(cond, NotOf):
            everyone = within if within is not None else await self.base_ids()
            return everyone - await self.run(cond.not_, within)
        if isinstance(cond, Event):
            return await self._event(cond.event, within)
        raise ValueError(f"cannot plan condition {cond!r}")  # pragma: no cover

    # ------------------------------------------------------------ join order

    async def _ordered(self, children: list[Condition]) -> list[Condition]:
        """``children`` from the most selective to the least (ties keep their order)."""
        if len(children) < 2:
            return list(children)
        estimates = await asyncio.gather(*(self.estimate(c) for c in children))
        order = sorted(range(len(children)), key=lambda i: (estimates[i], i))
        return [children[i] for i in order]

    async def estimate(self, cond: Condition) -> float:
        """About how many records satisfy ``cond``: counts of its filters on indexed fields
        (the database answers them from the index), the collection's size otherwise."""
        if isinstance(cond, NotOf):
            return INFINITE  # last: it removes from what the others found
        if isinstance(cond, AllOf):
            return min(await asyncio.gather(*(self.estimate(c) for c in cond.all)))
        if isinstance(cond, AnyOf):
            return sum(await asyncio.gather(*(self.estimate(c) for c in cond.any)))
        if isinstance(cond, Event):
            spec = cond.event
            if spec.min == 0:
                return await self._total("contact")
            match = self.compiler.event_pipeline(spec, self.now)[0]["$match"]
            if spec.where is not None:
                match = match["$and"][0]  # type and window: the index's fields
            return await self._count("interaction", match)
        if isinstance(cond, Compare):
            entity, _, path = cond.fact.partition(".")
            if cond.op in _COUNTABLE and path in _indexed(entity):
                return await self._count(entity, self.compiler.filter(cond, entity))
            return await self._total(entity)
        return INFINITE  # pragma: no cover

    async def _count(self, entity: str, query: dict[str, Any]) -> float:
        key = f"{entity}:{query!r}"
        if key not in self._estimates:
            self._estimates[key] = await reads.count(self.db, entity, query)
        return self._estimates[key]

    async def _total(self, entity: str) -> float:
        key = f"{entity}:*"
        if key not in self._estimates:
            self._estimates[key] = await reads.total(self.db, entity)
        return self._estimates[key]

    # ------------------------------------------------------------ the reads

    def _true_when_missing(self, cond: Condition, entity: str) -> bool:
        return self.compiler.python.predicate(cond)({entity: None}, self.now)

    def _parents(self, leads: set[ObjectId] | None) -> set[ObjectId] | None:
        return None if leads is None else {self.parent[i] for i in leads}

    async def _single(
        self, cond: Condition, entity: str, within: set[ObjectId] | None
    ) -> set[ObjectId]:
        if entity == self.base:
            query = self.compiler.filter(cond, entity)
            if entity == "lead":
                query = {"$and": [{"parentContactId": {"$ne": None}}, query]}
            if within is not None:
                query = {"$and": [_among(within), query]}
            found = await reads.linked_ids(self.db, entity, query)
            (self.parent if entity == "lead" else self.account).update(found)
            return set(found)
        if entity == "lead":
            raise ValueError("lead facts need the lead base")
        if self.base == "contact":
            return await self._by_contact(cond, entity, within)
        chosen = await self._by_contact(cond, entity, self._parents(within))
        return await self._leads_of(chosen, within)

    async def _by_contact(
        self, cond: Condition, entity: str, contacts: set[ObjectId] | None
    ) -> set[ObjectId]:
        """The contacts (among ``contacts``) satisfying a condition on contact or account
        fields."""
        if entity == "contact":
            query = self.compiler.filter(cond, "contact")
            if contacts is not None:
                query = {"$and": [_among(contacts), query]}
            found = await reads.linked_ids(self.db, "contact", query)
            self.account.update(found)
            return set(found)
        missing_ok = self._true_when_missing(cond, "account")
        query = self.compiler.filter(cond, "account")
        if contacts is None and not missing_ok:
            matched = list(await reads.linked_ids(self.db, "account", query))
            found = await reads.linked_ids(self.db, "contact", {"accountId": {"$in": matched}})
            self.account.update(found)
            return set(found)
        if contacts is None:
            everyone = await self._every_contact()
            known = set(await reads.linked_ids(self.db, "account", {}))
            accounts = set(await reads.linked_ids(self.db, "account", query))
        else:
            everyone = await self._accounts_of(contacts)
            ids = list({a for a in everyone.values() if a is not None})
            accounts = set(await reads.linked_ids(self.db, "account", _and(_among(ids), query)))
            known = (
                set(await reads.linked_ids(self.db, "account", _among(ids)))
                if missing_ok
                else set()
            )
        return {
            c
            for c, a in everyone.items()
            if a in accounts or (missing_ok and (a is None or a not in known))
        }

    async def _every_contact(self) -> dict[ObjectId, Any]:
        if not self._all_contacts:
            self.account.update(await reads.linked_ids(self.db, "contact", {}))
            self._all_contacts = True
        return self.account

    async def _accounts_of(self, contacts: set[ObjectId]) -> dict[ObjectId, Any]:
        """contact -> account id, for those of ``contacts`` that exist."""
        unseen = [c for c in contacts if c not in self.account]
        if unseen and not self._all_contacts:
            self.account.update(await reads.linked_ids(self.db, "contact", _among(unseen)))
        return {c: self.account[c] for c in contacts if c in self.account}

    async def _leads_of(
        self, contacts: set[ObjectId], within: set[ObjectId] | None
    ) -> set[ObjectId]:
        if within is not None:
            return {i for i in within if self.parent[i] in contacts}
        found = await reads.leads_of(self.db, list(contacts))
        self.parent.update(found)
        return set(found)

    async def _event(self, spec: EventSpec, within: set[ObjectId] | None) -> set[ObjectId]:
        contacts = within if self.base == "contact" else self._parents(within)
        pipeline = self.compiler.event_pipeline(spec, self.now, contacts)
        counts = await reads.event_counts(self.db, pipeline)

        def ok(n: int) -> bool:
            return spec.min <= n and (spec.max is None or n <= spec.max)

        if ok(0):
            everyone = contacts
            if everyone is None:
                universe = await self.base_ids()
                everyone = universe if self.base == "contact" else self._parents(universe)
            assert everyone is not None
            chosen = {c for c in everyone if ok(counts.get(c, 0))}
        else:
            chosen = {c for c, n in counts.items() if ok(n)}
        if self.base == "contact":
            return chosen if within is None else chosen & within
        return await self._leads_of(chosen, within)


def _among(ids: Any) -> dict[str, Any]:
    return {"_id": {"$in": list(ids)}}


def _and(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"$and": list(parts)}
