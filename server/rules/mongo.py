"""The condition language compiled to MongoDB, for set work (segments, dry runs).

A condition on one record kind compiles to one query filter (:meth:`MongoCompiler.filter`).
A condition mixing records (contact fields, its account, its leads, its interactions) compiles
to a small plan: one plain ``find`` per single-record subtree, one ``aggregate`` with
``$match``/``$group`` per event condition, combined as sets of ids in Python.  It never uses a
correlated ``$lookup`` (or ``$unionWith``), which some MongoDB-compatible servers answer with a
full scan per row.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from ..store import segments
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

    def event_pipeline(self, spec: EventSpec, now: datetime) -> list[dict[str, Any]]:
        """``aggregate`` stages on ``interactions`` giving ``{_id: contactId, n: count}``."""
        match: dict[str, Any] = {"type": {"$in": list(spec.type)}}
        if spec.within:
            match["occurredAt"] = {"$gte": as_utc(now) - duration(spec.within)}
        if spec.where is not None:
            match = {"$and": [match, self.filter(spec.where, "interaction")]}
        return [{"$match": match}, {"$group": {"_id": "$contactId", "n": {"$sum": 1}}}]


class _Universe:
    """The ids (and links) of the records a plan combines, read once per run."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.db = db
        self._cache: dict[str, Any] = {}

    async def contacts(self) -> dict[ObjectId, Any]:
        """contact id -> account id (or None)."""
        if "contacts" not in self._cache:
            self._cache["contacts"] = await segments.contact_accounts(self.db)
        return self._cache["contacts"]

    async def leads(self) -> dict[ObjectId, ObjectId]:
        """lead id -> parent contact id, for leads that have a parent contact."""
        if "leads" not in self._cache:
            self._cache["leads"] = await segments.lead_parents(self.db)
        return self._cache["leads"]

    async def accounts(self) -> set[ObjectId]:
        if "accounts" not in self._cache:
            self._cache["accounts"] = await segments.account_ids(self.db)
        return self._cache["accounts"]


class Plan:
    """Runs one condition over a base record kind (``contact``, or ``lead`` = the leads of
    contacts), answering with the set of base ids that satisfy it."""

    def __init__(self, compiler: MongoCompiler, db: AsyncDatabase, base: str, now: datetime):
        self.compiler = compiler
        self.db = db
        self.base = base
        self.now = now
        self.universe = _Universe(db)

    async def base_ids(self) -> set[ObjectId]:
        if self.base == "contact":
            return set(await self.universe.contacts())
        return set(await self.universe.leads())

    async def run(self, cond: Condition) -> set[ObjectId]:
        kinds = entities(cond)
        if len(kinds) == 1 and "events" not in kinds:
            return await self._single(cond, kinds.pop())
        if isinstance(cond, AllOf):
            out: set[ObjectId] | None = None
            for child in cond.all:
                ids = await self.run(child)
                out = ids if out is None else out & ids
                if not out:
                    return set()
            return out or set()
        if isinstance(cond, AnyOf):
            union: set[ObjectId] = set()
            for child in cond.any:
                union |= await self.run(child)
            return union
        if isinstance(cond, NotOf):
            return await self.base_ids() - await self.run(cond.not_)
        if isinstance(cond, Event):
            return await self._event(cond.event)
        raise ValueError(f"cannot plan condition {cond!r}")  # pragma: no cover

    async def _find(self, entity: str, cond: Condition, extra: dict[str, Any]) -> set[ObjectId]:
        query = (
            {"$and": [extra, self.compiler.filter(cond, entity)]}
            if extra
            else (self.compiler.filter(cond, entity))
        )
        return await segments.ids_where(self.db, entity, query)

    def _true_when_missing(self, cond: Condition, entity: str) -> bool:
        return self.compiler.python.predicate(cond)({entity: None}, self.now)

    async def _single(self, cond: Condition, entity: str) -> set[ObjectId]:
        if entity == self.base:
            extra = {"parentContactId": {"$ne": None}} if entity == "lead" else {}
            return await self._find(entity, cond, extra)
        if entity == "lead":
            raise ValueError("lead facts need the lead base")
        contacts = await self.universe.contacts()
        if entity == "contact":  # base is lead
            matched = await self._find("contact", cond, {})
            if self._true_when_missing(cond, "contact"):
                matched |= {
                    c for c in set((await self.universe.leads()).values()) if c not in contacts
                }
            return await self._contacts_to_base(matched)
        # account: through the contact's accountId
        accounts = await self._find("account", cond, {})
        missing_ok = self._true_when_missing(cond, "account")
        known = await self.universe.accounts() if missing_ok else set()
        chosen = {
            cid
            for cid, aid in contacts.items()
            if aid in accounts or (missing_ok and (aid is None or aid not in known))
        }
        return await self._contacts_to_base(chosen)

    async def _contacts_to_base(self, contact_ids: set[ObjectId]) -> set[ObjectId]:
        if self.base == "contact":
            return contact_ids & set(await self.universe.contacts())
        return {lid for lid, cid in (await self.universe.leads()).items() if cid in contact_ids}

    async def _event(self, spec: EventSpec) -> set[ObjectId]:
        pipeline = self.compiler.event_pipeline(spec, self.now)
        counts = await segments.event_counts(self.db, pipeline)

        def ok(n: int) -> bool:
            return spec.min <= n and (spec.max is None or n <= spec.max)

        if ok(0):
            if self.base == "contact":
                everyone = set(await self.universe.contacts())
            else:
                everyone = set((await self.universe.leads()).values())
            chosen = {c for c in everyone if ok(counts.get(c, 0))}
        else:
            chosen = {c for c, n in counts.items() if ok(n)}
        return await self._contacts_to_base(chosen)
