"""Segments: the contacts meeting a segment's condition.

A segment's condition reads the contact, its account (``contact.accountId``), its
interactions and — when it mentions ``lead.`` facts — its leads: then a contact is a member
when *one of its leads* satisfies the whole condition together with the contact (contacts
without leads are not members).  :func:`is_member` is the one-contact (Python) reading;
:func:`segment_members_query` runs the same condition over the database as plain finds and
``$group`` aggregations combined as id sets (see :mod:`leadgraph.rules.mongo`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from .conditions import entities
from .models import Segment
from .mongo import Plan
from .ruleset import RuleSet


class UnknownSegment(KeyError):
    pass


def get_segment(ruleset: RuleSet, name: str) -> Segment:
    segment = ruleset.segment(name)
    if segment is None:
        raise UnknownSegment(name)
    return segment


def mentions_leads(segment: Segment) -> bool:
    return "lead" in entities(segment.where)


def is_member(
    ruleset: RuleSet,
    segment: Segment,
    contact: Mapping[str, Any],
    *,
    account: Mapping[str, Any] | None = None,
    leads: Sequence[Mapping[str, Any]] = (),
    interactions: Sequence[Mapping[str, Any]] = (),
    now: datetime | None = None,
) -> bool:
    """Whether one contact (with its account, leads and interactions) is in the segment."""
    now = now or datetime.now(UTC)
    test = ruleset.compiler.predicate(segment.where)
    facts = {"contact": contact, "account": account, "interactions": list(interactions)}
    if mentions_leads(segment):
        return any(test({**facts, "lead": lead}, now) for lead in leads)
    return test({**facts, "lead": None}, now)


@dataclass(frozen=True)
class SegmentQuery:
    """The database work answering "which contacts are in this segment at ``now``"."""

    ruleset: RuleSet
    segment: Segment
    now: datetime

    @property
    def base(self) -> str:
        return "lead" if mentions_leads(self.segment) else "contact"

    async def contact_ids(self, db: AsyncDatabase) -> list[ObjectId]:
        """The members' ids, sorted (so pages of members are stable)."""
        plan = Plan(self.ruleset.mongo, db, self.base, self.now)
        ids = await plan.run(self.segment.where)
        if self.base == "lead":
            parents = await plan.universe.leads()
            ids = {parents[i] for i in ids} & set(await plan.universe.contacts())
        return sorted(ids)


def segment_members_query(ruleset: RuleSet, name: str, now: datetime | None = None) -> SegmentQuery:
    return SegmentQuery(ruleset, get_segment(ruleset, name), now or datetime.now(UTC))


async def member_ids(
    db: AsyncDatabase, ruleset: RuleSet, name: str, now: datetime | None = None
) -> list[ObjectId]:
    return await segment_members_query(ruleset, name, now).contact_ids(db)
