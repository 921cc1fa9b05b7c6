"""Segments as live objects: rule-file segments and segments kept through the API, side by
side, with their members computed in the database, consent exclusions, explanations and
recorded evaluations.

Rule-file segments (``source: rules``) are read-only here; API segments live in the
``segments`` collection, start as drafts and are published with :meth:`Segments.publish`.
Membership: a dynamic segment runs its condition with its purpose's exclusions as one plan
(:mod:`leadgraph.store.segment_query`); a static one reads its list; a compound one combines the
members of the segments it names; then its own purpose's exclusions apply.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from ..errors import Conflict, InvalidInput, NotFound
from ..events import (
    Event,
    SegmentCreated,
    SegmentDeleted,
    SegmentMembershipChanged,
    SegmentUpdated,
    diff,
)
from ..rules.models import AnyOf, Condition, NotOf, Segment
from ..rules.purposes import PURPOSES
from ..rules.ruleset import RuleSet, segment_cycle
from ..rules.segments import Explanation, Facts, exclusion_rules, explain
from ..store import clock, segment_evaluations, segment_members, segment_plans, subscription_lists
from ..store import segments as store
from ..store.segment_query import SegmentQuery, contacts_where
from ..types import PluginManager, Session
from . import dispatch
from .segment_records import (
    Catalog,
    SegmentCycle,
    SegmentEvaluationFailed,
    SegmentInvalid,
    SegmentRecord,
    SegmentUnusable,
    evaluating,
    problems_of,
    record_of,
)

T = TypeVar("T")


@dataclass
class Segments:
    """The segment service over one database and rule set."""

    db: AsyncDatabase
    ruleset: RuleSet | None
    pm: PluginManager | None = None  # who hears ``segment.membership_changed``

    # ------------------------------------------------------------ reading definitions

    def _rules(self) -> RuleSet:
        if self.ruleset is None:
            raise NotFound("Rules", "current")
        return self.ruleset

    async def catalog(self) -> Catalog:
        """Rule-file segments, then stored ones (a stored segment whose name a rule file took
        since is hidden behind it)."""
        ruleset = self._rules()
        out: dict[str, SegmentRecord] = {
            s.name: SegmentRecord(segment=s, source="rules", status="published")
            for s in ruleset.segments
        }
        digest = hashlib.sha256(ruleset.version.encode())
        for doc in await store.all_segments(self.db):
            digest.update(f"\0{doc['name']}:{doc.get('rev', 0)}".encode())
            if doc["name"] not in out:
                out[doc["name"]] = record_of(doc, ruleset)
        return Catalog(out, digest.hexdigest()[:16])

    async def get(self, name: str, catalog: Catalog | None = None) -> SegmentRecord:
        found = (catalog or await self.catalog()).get(name)
        if found is None:
            raise NotFound("Segment", name)
        return found

    # ------------------------------------------------------------ definitions from input

    async def parse(self, fields: dict[str, Any], prefix: str = "input") -> Segment:
        """A segment from API input (``where`` as the rule files write it), checked like a
        rule file's and against the subscription lists: raises :class:`InvalidInput` with each
        problem's path."""
        data = {k: v for k, v in fields.items() if v is not None}
        lists = await subscription_lists.names(self.db)
        segment, problems = problems_of(data, self._rules(), prefix, lists)
        if problems or segment is None:
            raise InvalidInput(problems)
        return segment

    async def parse_condition(self, where: Any, field: str) -> Condition:
        """A condition from API input (a bulk add/remove's snapshot); errors name ``field``."""
        try:
            segment = await self.parse({"name": "snapshot", "where": where}, prefix="@")
        except InvalidInput as exc:
            raise InvalidInput(
                [(f.replace("@.where", field, 1), m) for f, m in exc.errors]
            ) from exc
        assert segment.where is not None
        return segment.where

    def _check_references(self, segment: Segment, catalog: Catalog) -> None:
        errors = [
            (f"input.{key}.{i}", f"unknown segment {name!r}")
            for key in ("include", "exclude")
            for i, name in enumerate(getattr(segment, key))
            if catalog.get(name) is None and name != segment.name
        ]
        if errors:
            raise InvalidInput(errors)
        graph = catalog.graph()
        graph[segment.name] = [*segment.include, *segment.exclude]
        cycle = segment_cycle(segment.name, graph)
        if cycle is not None:
            raise SegmentCycle(cycle)

    # ------------------------------------------------------------ writes

    async def create(self, fields: dict[str, Any]) -> SegmentRecord:
        """A new draft segment; its name must be free (rule-file names included)."""
        segment = await self.parse(fields)
        catalog = await self.catalog()
        if catalog.get(segment.name) is not None:
            raise Conflict(f"a segment named {segment.name!r} already exists")
        self._check_references(segment, catalog)
        fields = {**self._stored(segment), "status": "draft"}

        async def work(session: Session | None) -> tuple[dict[str, Any], list[Event]]:
            doc = await store.create(self.db, fields, session)
            made = SegmentCreated(segment=segment.name, kind=segment.kind, purpose=segment.purpose)
            return doc, [made]

        try:
            doc = await self._write(work)
        except store.NameTaken as exc:
            raise Conflict(f"a segment named {segment.name!r} already exists") from exc
        return record_of(doc, self._rules())

    async def _write(self, work: dispatch.Writing[T]) -> T:
        """``work`` with its events (:func:`dispatch.written`)."""
        return await dispatch.written(self.db, self.pm, work)

    async def _revise(self, name: str, rev: int, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply ``changes`` to a segment still at ``rev``, with its ``segment.updated`` event
        (each stored field's old and new value), in one transaction."""

        async def work(session: Session | None) -> tuple[dict[str, Any], list[Event]]:
            before = await store.by_name(self.db, name, session)
            doc = await store.update(self.db, name, rev, changes, session)
            if before is None or doc is None:
                raise Conflict(f"segment {name!r} changed meanwhile; read it again and retry")
            found = diff(before, doc, skip=("publishedAt",))
            return doc, [SegmentUpdated(segment=name, changes=found)] if found else []

        return await self._write(work)

    @staticmethod
    def _stored(segment: Segment) -> dict[str, Any]:
        where = segment.model_dump(by_alias=True, mode="json")["where"]
        return {
            "name": segment.name,
            "description": segment.description,
            "kind": segment.kind,
            "where": json.dumps(where) if where is not None else None,
            "include": list(segment.include),
            "exclude": list(segment.exclude),
            "purpose": segment.purpose,
            "subscriptionList": segment.subscription_list,
        }

    async def _own(self, name: str) -> SegmentRecord:
        """An API segment (rule-file ones are read-only here)."""
        record = await self.get(name)
        if record.source != "api":
            raise Conflict(f"segment {name!r} is defined in the rule files; change it there")
        return record

    async def update(self, name: str, changes: dict[str, Any]) -> SegmentRecord:
        """Change a segment's definition; it becomes a draft again until published."""
        record = await self._own(name)
        current = record.segment.model_dump(by_alias=True)
        if record.problems:  # an invalid stored segment: its condition as stored, to be fixed
            current["where"] = record.stored_where
        merged = {**current, **changes}
        if changes.get("kind") not in (None, record.segment.kind):
            for key in ("where", "include", "exclude"):  # the old kind's definition goes
                if key not in changes or changes[key] is None:
                    merged[key] = None if key == "where" else []
        merged["name"] = name
        segment = await self.parse(merged)
        self._check_references(segment, await self.catalog())
        doc = await self._revise(name, record.rev, {**self._stored(segment), "status": "draft"})
        return record_of(doc, self._rules())

    async def delete(self, name: str) -> SegmentRecord:
        """Delete a segment no other segment names; its list and evaluations go with it."""
        record = await self._own(name)
        users = sorted(n for n, refs in (await self.catalog()).graph().items() if name in refs)
        if users:
            raise Conflict(f"segment {name!r} is used by {', '.join(users)}; change them first")

        async def work(session: Session | None) -> tuple[None, list[Event]]:
            doc = await store.delete(self.db, name, session)
            if doc is None:
                raise NotFound("Segment", name)
            await segment_members.drop_segment(self.db, doc["_id"], session)
            await segment_evaluations.drop_segment(self.db, name, session)
            return None, [SegmentDeleted(segment=name, kind=doc["kind"])]

        await self._write(work)
        return record

    async def publish(self, name: str) -> SegmentRecord:
        """Make a draft live and record its members (the first point ``segmentDiff`` and
        ``segmentMembershipChanged`` compare with)."""
        record = await self._own(name)
        record.usable()  # an invalid one is not published (nor evaluated)
        published = {"status": "published", "publishedAt": clock.now()}
        doc = await self._revise(name, record.rev, published)
        await self.evaluate(name, reason="published")
        return record_of(doc, self._rules())

    async def change_list(
        self,
        name: str,
        add: bool,
        contact_ids: list[ObjectId],
        where: Condition | None,
    ) -> tuple[SegmentRecord, int]:
        """Add contacts to (or remove them from) a static segment's list: by id, and/or all
        contacts meeting ``where`` now (a snapshot). Returns the segment and how many changed."""
        record = await self._own(name)
        if record.segment.kind != "static":
            raise Conflict(f"segment {name!r} is {record.segment.kind}, not static")
        ids = list(dict.fromkeys(contact_ids))
        if ids:
            known = await segment_plans.existing_contacts(self.db, ids)
            missing = [
                (f"contacts.{i}", "no such contact") for i, c in enumerate(ids) if c not in known
            ]
            if missing and add:
                raise InvalidInput(missing)
        if where is not None:
            ids += await contacts_where(self._rules(), self.db, where, clock.now())
        assert record.id is not None
        if add:
            changed = await segment_members.add(self.db, record.id, ids)
        else:
            changed = await segment_members.remove(self.db, record.id, ids)
        doc = await store.update(self.db, name, record.rev, {})  # a new version: caches renew
        if changed and record.status == "published":
            # the list is its membership: recorded as an evaluation, with its
            # segment.membership_changed event (who joined or left, by whom)
            await self.evaluate(name, reason="added" if add else "removed")
        return (record_of(doc, self._rules()) if doc else record), changed

    # ------------------------------------------------------------ members

    async def members(
        self, record: SegmentRecord, catalog: Catalog | None = None, now: datetime | None = None
    ) -> list[ObjectId]:
        """The segment's members now, sorted by id (:class:`SegmentInvalid` for a stored
        segment that is not valid now, :class:`SegmentEvaluationFailed` when it fails)."""
        segment = record.usable()
        catalog = catalog or await self.catalog()
        return await _Evaluation(self, catalog, now or clock.now()).members(segment)

    async def preview(self, segment: Segment) -> list[ObjectId]:
        """The members a definition would have now (nothing is stored)."""
        catalog = await self.catalog()
        self._check_references(segment, catalog)
        return await _Evaluation(self, catalog, clock.now()).members(segment)

    async def exclusions(self, record: SegmentRecord) -> list[tuple[str, str, int]]:
        """(reason, description, how many contacts it excludes) per consent rule of the
        segment's purpose; a contact excluded for several reasons counts under each."""
        rules = exclusion_rules(record.usable())
        if not rules:
            return []
        run = _Evaluation(self, await self.catalog(), clock.now())
        candidates = set(await run.candidates(record.segment))
        out = []
        with evaluating(record.name):
            for rule in rules:
                hit = await contacts_where(self._rules(), self.db, rule.when, run.now, candidates)
                out.append((rule.reason, rule.description, len(hit)))
        return out

    async def explain(self, record: SegmentRecord, contact_id: ObjectId) -> Explanation:
        """Why one contact is in the segment or not."""
        found = await segment_plans.contact_facts(self.db, contact_id)
        if found is None:
            raise NotFound("Contact", str(contact_id))
        catalog = await self.catalog()
        on = await segment_members.listed(self.db, contact_id)
        listed = {n for n, r in catalog.by_name.items() if r.id is not None and r.id in on}

        def resolve(name: str) -> Segment | None:
            ref = catalog.get(name)
            return ref.usable() if ref is not None else None

        with evaluating(record.name):
            return explain(
                self._rules(),
                record.usable(),
                Facts(**found),
                now=clock.now(),
                resolve=resolve,
                listed=lambda name: name in listed,
            )

    # ------------------------------------------------------------ evaluations

    async def evaluate(self, name: str, reason: str = "evaluated") -> dict[str, Any]:
        """Compute the members now and record them with what changed since the last
        evaluation (subscribers of ``segmentMembershipChanged`` are told)."""
        record = await self.get(name)
        members = await self.members(record)
        last = await segment_evaluations.latest(self.db, name)
        before = set(segment_evaluations.unpack(last["members"])) if last else set()
        now = set(members)
        joined, left = sorted(now - before), sorted(before - now)

        async def work(session: Session | None) -> tuple[dict[str, Any], list[Event]]:
            doc = await segment_evaluations.record(
                self.db, name, members, joined, left, reason, session
            )
            found: list[Event] = [
                SegmentMembershipChanged(
                    segment=name,
                    evaluation_id=doc["_id"],
                    joined=tuple(joined),
                    left=tuple(left),
                    reason=reason,
                )
            ]
            return doc, found if joined or left else []

        return await self._write(work)

    async def diff(
        self, name: str, since: datetime
    ) -> tuple[dict[str, Any], list[ObjectId], list[ObjectId], list[ObjectId]]:
        """The evaluation at or before ``since`` and, against the members now: (evaluation,
        members now, added, removed)."""
        record = await self.get(name)
        then = await segment_evaluations.latest(self.db, name, since)
        if then is None:
            raise NotFound("SegmentEvaluation", f"{name}@{since.isoformat()}")
        before = set(segment_evaluations.unpack(then["members"]))
        members = await self.members(record)
        now = set(members)
        return then, members, sorted(now - before), sorted(before - now)


class _Evaluation:
    """One computation of segments' members at one time (each segment computed once, so a
    compound naming a segment twice reads it once)."""

    def __init__(self, service: Segments, catalog: Catalog, now: datetime) -> None:
        self.service = service
        self.catalog = catalog
        self.now = now
        self._done: dict[str, list[ObjectId]] = {}
        self._busy: list[str] = []

    async def members(self, segment: Segment) -> list[ObjectId]:
        if segment.name in self._busy:  # a cycle stored by two concurrent updates
            raise SegmentCycle([*self._busy[self._busy.index(segment.name) :], segment.name])
        stored = self.catalog.get(segment.name)
        if stored is not None and segment is stored.segment:
            stored.usable()  # an invalid stored segment: SegmentInvalid, for it and its users
        if segment.name not in self._done or segment is not self.catalog.segment(segment.name):
            self._busy.append(segment.name)
            try:
                with evaluating(segment.name):
                    found = await self._compute(segment)
            finally:
                self._busy.pop()
            if segment is not self.catalog.segment(segment.name):
                return found  # a preview: not the stored segment of that name
            self._done[segment.name] = found
        return self._done[segment.name]

    async def _compute(self, segment: Segment) -> list[ObjectId]:
        ruleset = self.service._rules()
        db = self.service.db
        if segment.kind == "dynamic":
            return await SegmentQuery(ruleset, segment, self.now).contact_ids(db)
        candidates = await self.candidates(segment)
        rules = exclusion_rules(segment)
        if not rules or not candidates:
            return candidates
        keep = _none_of([r.when for r in rules])
        return await contacts_where(ruleset, db, keep, self.now, set(candidates))

    async def candidates(self, segment: Segment) -> list[ObjectId]:
        """The members before the segment's own purpose's exclusions."""
        ruleset = self.service._rules()
        db = self.service.db
        if segment.kind == "dynamic":
            assert segment.where is not None
            return await contacts_where(ruleset, db, segment.where, self.now)
        if segment.kind == "static":
            record = self.catalog.get(segment.name)
            if record is None or record.id is None:
                return []
            listed = await segment_members.ids(db, record.id)
            return sorted(await segment_plans.existing_contacts(db, list(listed)))
        found: set[ObjectId] = set()
        for name in segment.include:
            ref = self.catalog.segment(name)
            if ref is not None:
                found |= set(await self.members(ref))
        for name in segment.exclude:
            ref = self.catalog.segment(name)
            if ref is not None and found:
                found -= set(await self.members(ref))
        return sorted(found)


def _none_of(conditions: list[Condition]) -> Condition:
    return NotOf.model_validate({"not": AnyOf(any=conditions)})


__all__ = [
    "PURPOSES",
    "Catalog",
    "SegmentCycle",
    "SegmentEvaluationFailed",
    "SegmentInvalid",
    "SegmentRecord",
    "SegmentUnusable",
    "Segments",
]
