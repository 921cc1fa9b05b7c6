"""The condition language run over MongoDB, for set work (segments, dry runs).

A condition on one record kind compiles to one query filter
(:meth:`~leadgraph.store.condition_filters.MongoCompiler.filter`).  A condition mixing records
(contact fields, its account, its leads, its interactions) compiles to a small plan: one plain
``find`` per single-record subtree, one ``aggregate`` with ``$match``/``$group`` per event
condition, combined as sets of ids in Python.  It never uses a correlated ``$lookup`` (or
``$unionWith``), which some MongoDB-compatible servers answer with a full scan per row.

:class:`SegmentQuery` and :func:`member_ids` run a segment's condition (with its purpose's
consent exclusions) this way.

The plan chooses its join order as a query planner would: the parts of an ``all`` run from
the most selective to the least (estimated by counting their filters on indexed fields), and
each part after the first reads only the records linked to the ids found so far (``$in``), so
a narrow criterion on any collection keeps every later read narrow.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from ..rules.conditions import entities, walk
from ..rules.models import (
    AllOf,
    AnyOf,
    Compare,
    Condition,
    Event,
    EventSpec,
    NotOf,
    Segment,
)
from ..rules.ruleset import RuleSet
from ..rules.segments import base_of, consent_filter, get_segment, with_consent
from . import clock
from . import segment_plans as reads
from .condition_filters import (
    MongoCompiler,
    by_record,
    compiler_of,
    is_plain,
    merge_filters,
    pushed_down,
)

#: A base id: a contact's, or for the lead (opportunity) base a lead's (the lead of a parent
#: contact) or a ``(lead, contact)`` pair (an account-based lead reaches each contact of its
#: account); likewise an opportunity's.
Id = Any

INFINITE = float("inf")
UNKNOWN = 1e18  # no index counts it: after the counted ones, before a `not`
#: Operators whose filter on an indexed field the database counts from the index.
_COUNTABLE = frozenset({"eq", "in", "gt", "gte", "lt", "lte"})
_INDEXED: dict[str, set[str]] = {}


def _indexed(entity: str) -> set[str]:
    if not _INDEXED:
        _INDEXED.update(reads.indexed_fields())
    return _INDEXED.get(entity, set())


class Plan:
    """Runs one condition over a base record kind (``contact``, or ``lead`` / ``opportunity``
    = the leads / opportunities of contacts), answering with the set of base ids that satisfy it.

    Every read records the links it saw (lead -> parent contact, contact -> account), so later
    parts of the plan restrict their reads to the records linked to what was found before."""

    def __init__(self, compiler: MongoCompiler, db: AsyncDatabase, base: str, now: datetime):
        self.compiler = compiler
        self.db = db
        self.base = base
        self.now = now
        self.parent: dict[Id, ObjectId] = {}  # lead (or lead-contact pair) -> its contact
        self.account: dict[ObjectId, Any] = {}  # contact (seen, so existing) -> account id
        self._universe: set[Id] | None = None
        self._all_contacts = False

    # ------------------------------------------------------------ entry points

    async def contact_ids(
        self, cond: Condition, within: set[Id] | None = None, last: Condition | None = None
    ) -> list[ObjectId]:
        """The ids of the existing contacts satisfying ``cond`` (for a lead base: having a
        lead that satisfies it) and then ``last`` (checked on what ``cond`` found, never
        counted to order it: a segment's consent exclusions only remove from its members),
        among ``within`` (contact ids) when given; sorted."""
        if within is not None and self.base != "contact":
            within = await self._reach_of(within)
        ids = await self.run(pushed_down(cond), within)
        if last is not None and ids:
            ids = await self.run(pushed_down(last), ids)
        contacts = {self.parent[i] for i in ids} if self.base != "contact" else ids
        unseen = [c for c in contacts if c not in self.account]
        if unseen:  # e.g. counted from interactions: keep only contacts that exist
            self.account.update(await reads.linked_ids(self.db, "contact", _among(unseen)))
        return sorted(c for c in contacts if c in self.account)

    async def base_ids(self) -> set[Id]:
        """Every base id (all contacts, or every lead that has a parent contact)."""
        if self._universe is None:
            if self.base == "contact":
                found = await reads.linked_ids(self.db, "contact", {})
                self.account.update(found)
                self._all_contacts = True
                self._universe = set(found)
            else:
                found = await reads.linked_ids(self.db, self.base, reads.with_contact(self.base))
                self.parent.update(found)
                based = await reads.account_records(self.db, self.base, {})
                self._universe = set(found) | await self._pairs(based)
        return self._universe

    async def run(self, cond: Condition, within: set[Id] | None = None) -> set[Id]:
        """The base ids satisfying ``cond``, among ``within`` when given."""
        if within is not None and not within:
            return set()
        kinds = entities(cond)
        if len(kinds) == 1 and "events" not in kinds:
            return await self._single(cond, kinds.pop(), within)
        if isinstance(cond, AllOf):
            children = await self._ordered(by_record(cond.all))
            out = within
            if self.base != "contact" and entities(children[0]) == {self.base}:
                out, children = await self._records_then_contacts(children, within)
            for child in children:
                out = await self.run(child, out)
                if not out:
                    return set()
            return out or set()
        if isinstance(cond, AnyOf):
            union: set[Id] = set()
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
        """``children`` from the most selective to the least (ties keep their order): those
        an index can count first (counted only when there are several), then the others,
        ``not`` last."""
        if len(children) < 2:
            return list(children)
        countable = [self._countable(c) for c in children]
        if sum(countable) < 2:
            rank = [
                0 if c else (2 if isinstance(x, NotOf) else 1)
                for c, x in zip(countable, children, strict=True)
            ]
            order = sorted(range(len(children)), key=lambda i: (rank[i], i))
            return [children[i] for i in order]
        estimates = await asyncio.gather(*(self.estimate(c) for c in children))
        order = sorted(range(len(children)), key=lambda i: (estimates[i], i))
        return [children[i] for i in order]

    def _countable(self, cond: Condition) -> bool:
        """Whether :meth:`estimate` counts ``cond`` with an index (else it is unknown)."""
        if isinstance(cond, AllOf):
            return any(self._countable(c) for c in cond.all)
        if isinstance(cond, AnyOf):
            return all(self._countable(c) for c in cond.any)
        if isinstance(cond, Event):
            return cond.event.min > 0
        if isinstance(cond, Compare):
            entity, _, path = cond.fact.partition(".")
            return cond.op in _COUNTABLE and path in _indexed(entity)
        return False

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
                return UNKNOWN
            match = self.compiler.event_pipeline(spec.model_copy(update={"where": None}), self.now)
            return await self._count("interaction", match[0]["$match"])
        if isinstance(cond, Compare):
            entity, _, path = cond.fact.partition(".")
            if cond.op in _COUNTABLE and path in _indexed(entity):
                return await self._count(entity, self.compiler.filter(cond, entity))
            return UNKNOWN
        return INFINITE  # pragma: no cover

    async def _count(self, entity: str, query: dict[str, Any]) -> float:
        return await reads.count(self.db, entity, query)  # reused a while: a plan cache

    # ------------------------------------------------------------ the reads

    def _true_when_missing(self, cond: Condition, entity: str) -> bool:
        return self.compiler.python.predicate(cond)({entity: None}, self.now)

    def _parents(self, leads: set[Id] | None) -> set[Id] | None:
        return None if leads is None else {self.parent[i] for i in leads}

    async def _single(self, cond: Condition, entity: str, within: set[Id] | None) -> set[Id]:
        if entity == self.base != "contact":
            return await self._records_where(cond, within)
        if entity == self.base:
            found = await self._select(cond, entity, within, {})
            self.account.update(found)
            return set(found)
        if entity in reads.REACH:
            raise ValueError(f"{entity} facts need the {entity} base")
        if self.base == "contact":
            return await self._by_contact(cond, entity, within)
        chosen = await self._by_contact(cond, entity, self._parents(within))
        return await self._leads_of(chosen, within)

    async def _select(
        self,
        cond: Condition,
        entity: str,
        within: set[Id] | None,
        extra: dict[str, Any],
    ) -> dict[ObjectId, Any]:
        """id -> link of the ``entity`` records meeting a condition on its fields (and
        ``extra``), among ``within``: as few plain field queries as the condition allows (an
        ``any`` is a union of queries, an uncomplementable ``not`` a difference), each
        narrowed by ``within``'s ids."""
        among = _among(within) if within is not None else {}
        query = merge_filters(among, extra, self.compiler.filter(cond, entity))
        if is_plain(query) or isinstance(cond, Compare):
            return await reads.linked_ids(self.db, entity, query)
        if isinstance(cond, AllOf):
            plain: list[dict[str, Any]] = []
            rest: list[Condition] = []
            for child in cond.all:
                part = self.compiler.filter(child, entity)
                if is_plain(part) and is_plain(merge_filters(among, extra, *plain, part)):
                    plain.append(part)
                else:
                    rest.append(child)
            narrowed = merge_filters(among, extra, *plain)
            if rest and (plain or within is not None):
                # what the indexes narrowed down, the rest checked here on just its fields
                return await self._checked(entity, narrowed, AllOf(all=rest))
            found = await reads.linked_ids(self.db, entity, narrowed)
            for child in rest:
                if not found:
                    break
                found = await self._select(child, entity, set(found), extra)
            return found
        if isinstance(cond, AnyOf):
            union: dict[ObjectId, Any] = {}
            for child in cond.any:
                union.update(await self._select(child, entity, within, extra))
            return union
        if isinstance(cond, NotOf):
            everyone = await reads.linked_ids(self.db, entity, merge_filters(among, extra))
            inner = await self._select(cond.not_, entity, within, extra)
            return {i: link for i, link in everyone.items() if i not in inner}
        return await reads.linked_ids(self.db, entity, query)  # pragma: no cover

    async def _checked(
        self, entity: str, query: dict[str, Any], cond: Condition
    ) -> dict[ObjectId, Any]:
        """id -> link of the records matching ``query`` that meet ``cond`` (on their fields,
        read with the query): one read instead of a query per ``any`` branch."""
        fields = sorted({n.fact.partition(".")[2] for n, _ in walk(cond) if isinstance(n, Compare)})
        test = self.compiler.python.predicate(cond)
        link = reads.LINKS.get(entity)
        return {
            d["_id"]: d.get(link) if link else None
            for d in await reads.docs_where(self.db, entity, query, fields)
            if test({entity: d}, self.now)
        }

    async def _by_contact(self, cond: Condition, entity: str, contacts: set[Id] | None) -> set[Id]:
        """The contacts (among ``contacts``) satisfying a condition on contact or account
        fields."""
        if entity == "contact":
            found = await self._select(cond, "contact", contacts, {})
            self.account.update(found)
            return set(found)
        missing_ok = self._true_when_missing(cond, "account")
        if contacts is None and not missing_ok:
            matched = list(await self._select(cond, "account", None, {}))
            found = await reads.linked_ids(self.db, "contact", {"accountId": {"$in": matched}})
            self.account.update(found)
            return set(found)
        if contacts is None:
            everyone = await self._every_contact()
            known = set(await reads.linked_ids(self.db, "account", {}))
            accounts = set(await self._select(cond, "account", None, {}))
        else:
            everyone = await self._accounts_of(contacts)
            ids = {a for a in everyone.values() if a is not None}
            accounts = set(await self._select(cond, "account", ids, {}))
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

    async def _accounts_of(self, contacts: set[Id]) -> dict[ObjectId, Any]:
        """contact -> account id, for those of ``contacts`` that exist."""
        unseen = [c for c in contacts if c not in self.account]
        if unseen and not self._all_contacts:
            self.account.update(await reads.linked_ids(self.db, "contact", _among(unseen)))
        return {c: self.account[c] for c in contacts if c in self.account}

    async def _leads_of(self, contacts: set[Id], within: set[Id] | None) -> set[Id]:
        if within is not None:
            return {i for i in within if self.parent[i] in contacts}
        return await self._reach_of(contacts)

    # ------------------------------------------------------------ account-based records

    async def _records_where(
        self, cond: Condition, within: set[Id] | None, part: Condition | None = None
    ) -> set[Id]:
        """The base ids (among ``within``) whose lead (or opportunity) meets a condition on its
        fields: the records of a contact, and each (record, contact) pair of an account-based
        one (only with contacts meeting ``part``, see :meth:`_pairs`, when given)."""
        base = self.base
        ones = None if within is None else {i[0] if isinstance(i, tuple) else i for i in within}
        query = merge_filters(
            _among(ones) if ones is not None else {}, self.compiler.filter(cond, base)
        )
        if is_plain(query) or isinstance(cond, Compare):  # one read: contact and account along
            reached = await reads.reaching(self.db, base, query)
            matched = {i: c for i, (c, _) in reached.items()}
            based = {i: a for i, (c, a) in reached.items() if c is None and a is not None}
        else:  # the records meeting it, then those without a contact: their accounts
            matched = await self._select(cond, base, ones, {})
            none = [i for i, c in matched.items() if c is None]
            based = await reads.account_records(self.db, base, _among(none)) if none else {}
        found = {i: c for i, c in matched.items() if c is not None}
        self.parent.update(found)
        out = set(found) | await self._pairs(based, part)
        return out if within is None else out & within

    async def _records_then_contacts(
        self, children: list[Condition], within: set[Id] | None
    ) -> tuple[set[Id], list[Condition]]:
        """The first part of an ``all`` (on the base records) joined with its part on contact
        fields, as a person would write it: the records, then their own contacts meeting that
        part (``_id $in``), and the contacts of the account-based ones' accounts meeting it
        (``accountId $in`` with the part's filter: one read, never the whole account). Returns
        the base ids and the parts still to run."""
        rest = children[1:]
        part = next((c for c in rest if entities(c) == {"contact"}), None)
        found = await self._records_where(children[0], within, part)
        if part is None or not found:
            return found, rest
        own = {i for i in found if not isinstance(i, tuple)}
        kept = await self.run(part, own) if own else set()
        return kept | (found - own), [c for c in rest if c is not part]

    async def _pairs(
        self, based: dict[ObjectId, ObjectId], part: Condition | None = None
    ) -> set[Id]:
        """The (record, contact) pairs of account-based records (``record -> account``), with
        only the contacts meeting ``part`` (a condition on contact fields) when given."""
        if not based:
            return set()
        extra = self.compiler.filter(part, "contact") if part is not None else None
        members = await reads.members_of(self.db, list(set(based.values())), extra)
        out: set[Id] = set()
        for lead, account in based.items():
            for contact in members.get(account, ()):
                self.account[contact] = account  # read, so it exists
                self.parent[(lead, contact)] = contact
                out.add((lead, contact))
        return out

    async def _reach_of(self, contacts: set[Id]) -> set[Id]:
        """The base ids of these contacts: their leads (opportunities), and a pair with each
        account-based one of their accounts."""
        found = await reads.records_of(self.db, self.base, list(contacts))
        self.parent.update(found)
        of_account: dict[Any, list[ObjectId]] = {}
        for contact, account in (await self._accounts_of(contacts)).items():
            if account is not None:
                of_account.setdefault(account, []).append(contact)
        out: set[Id] = set(found)
        if of_account:
            query = {reads.REACH[self.base][1]: {"$in": list(of_account)}}
            for lead, account in (await reads.account_records(self.db, self.base, query)).items():
                for contact in of_account[account]:
                    self.parent[(lead, contact)] = contact
                    out.add((lead, contact))
        return out

    async def _event(self, spec: EventSpec, within: set[Id] | None) -> set[Id]:
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


@dataclass(frozen=True)
class SegmentQuery:
    """The database work answering "which contacts meet this dynamic segment at ``now``"
    (its purpose's exclusions included), among ``within`` (contact ids) when given."""

    ruleset: RuleSet
    segment: Segment
    now: datetime

    @property
    def condition(self) -> Condition:
        """The whole condition: the segment's with its purpose's exclusions."""
        return with_consent(self.segment)

    @property
    def base(self) -> str:
        return base_of(self.segment.where)

    def plan(self, db: AsyncDatabase) -> Plan:
        return Plan(compiler_of(self.ruleset), db, self.base, self.now)

    async def contact_ids(self, db: AsyncDatabase, within: set[Id] | None = None) -> list[ObjectId]:
        """The members' ids, sorted (so pages of members are stable)."""
        assert self.segment.where is not None
        keep = consent_filter(self.segment)
        return await self.plan(db).contact_ids(self.segment.where, within, last=keep)


async def contacts_where(
    ruleset: RuleSet,
    db: AsyncDatabase,
    cond: Condition,
    now: datetime,
    within: set[Id] | None = None,
) -> list[ObjectId]:
    """The contacts (among ``within``) meeting ``cond`` — with a lead (an opportunity) meeting
    it when it mentions leads (opportunities) — sorted."""
    return await Plan(compiler_of(ruleset), db, base_of(cond), now).contact_ids(cond, within)


def segment_members_query(ruleset: RuleSet, name: str, now: datetime | None = None) -> SegmentQuery:
    """The database work of the rule files' dynamic segment ``name``."""
    return SegmentQuery(ruleset, get_segment(ruleset, name), now or clock.now())


async def member_ids(
    db: AsyncDatabase, ruleset: RuleSet, name: str, now: datetime | None = None
) -> list[ObjectId]:
    """The members of the rule files' dynamic segment ``name`` (sorted ids)."""
    return await segment_members_query(ruleset, name, now).contact_ids(db)
