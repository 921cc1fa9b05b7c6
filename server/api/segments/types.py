"""Segments: rule-file and API segments side by side, their members (paged), consent
exclusions, explanations, previews, evaluations, diffs and the payloads of a change."""

from __future__ import annotations

import bisect
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from bson import ObjectId
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from ...cursors import Order, Page, decode_cursor
from ...rules.models import SEGMENT_KINDS
from ...services.segments import SegmentInvalid, SegmentRecord
from ..common import vocabulary_enum
from ..contacts.types import Contact
from ..errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    SegmentCycleError,
    SegmentError,
    ValidationError,
    segment_error,
)
from ..relay import After, Connection, First, check_page_args, connection, global_id, known_count
from .reads import member_ids, request_catalog, segments_service

if TYPE_CHECKING:  # built from the rule files' vocabulary at import time; statically, an Enum
    SegmentKind = Enum
else:
    SegmentKind = vocabulary_enum(
        "SegmentKind", SEGMENT_KINDS, "How a segment's members are defined."
    )


@strawberry.enum(description="A draft is not live yet: publish it to make it so.")
class SegmentStatus(Enum):
    DRAFT = strawberry.enum_value("draft", description="Saved, not live: publish it to use it.")
    PUBLISHED = strawberry.enum_value(
        "published", description="Live: evaluated and usable by journeys."
    )


@strawberry.enum(description="Where a segment is defined.")
class SegmentSource(Enum):
    RULES = strawberry.enum_value(
        "rules", description="Defined in the rule files (read-only through the API)."
    )
    API = strawberry.enum_value("api", description="Kept through the API, in the database.")


@strawberry.type(description="What defines a segment's members (by kind).")
class SegmentDefinition:
    where: JSON | None = strawberry.field(
        description="dynamic: the condition, as the rule files write it."
    )
    include: list[str] = strawberry.field(description="compound: segments whose members are in.")
    exclude: list[str] = strawberry.field(description="compound: segments whose members are out.")


@strawberry.type(description="How many contacts one consent rule of the purpose excludes.")
class SegmentExclusion:
    reason: str = strawberry.field(
        description="The consent rule's code, e.g. `no_email`, `bulk_email_not_allowed`, "
        "`unsubscribed`.",
    )
    description: str = strawberry.field(
        description="What the rule checks, in a sentence (e.g. the contact does not allow bulk "
        "email).",
    )
    count: int = strawberry.field(
        description="Contacts that meet the definition but this rule keeps out.",
    )


@strawberry.type(description="One part of a segment's definition and whether it holds.")
class SegmentConditionResult:
    path: str = strawberry.field(description="Where in the definition, e.g. `where.all.0`.")
    condition: str = strawberry.field(
        description="That part written out, e.g. `contact.role eq decisionMaker`.",
    )
    holds: bool = strawberry.field(description="Whether it holds for the contact.")


@strawberry.type(description="One consent rule of the segment's purpose for this contact.")
class SegmentConsentCheck:
    reason: str = strawberry.field(
        description="The consent rule's code, e.g. `bulk_email_not_allowed`.",
    )
    description: str = strawberry.field(description="What the rule checks, in a sentence.")
    excludes: bool = strawberry.field(description="The rule keeps this contact out of the segment.")


@strawberry.type(description="Why a contact is in a segment or not.")
class SegmentMembership:
    member: bool = strawberry.field(
        description="The contact is a member now: the definition holds and no consent rule "
        "excludes it.",
    )
    matched: bool = strawberry.field(
        description="The definition holds (condition, list, include/exclude), before consent."
    )
    conditions: list[SegmentConditionResult] = strawberry.field(
        description="Each part of the definition with whether it holds for the contact.",
    )
    consent: list[SegmentConsentCheck] = strawberry.field(
        description="Each consent rule of the segment's purpose for the contact (empty without a "
        "purpose).",
    )
    excluded_by: list[str] = strawberry.field(description="The consent rules that exclude it.")
    lead: relay.GlobalID | None = strawberry.field(
        description="The lead that satisfied the lead criteria, if any."
    )
    opportunity: relay.GlobalID | None = strawberry.field(
        description="The opportunity that satisfied the opportunity criteria, if any (its own "
        "or, when it has no contact, one of its account's).",
        default=None,
    )


@strawberry.type(description="What a definition would select now (nothing was saved).")
class SegmentPreview:
    count: int = strawberry.field(
        description="How many contacts the definition selects now (consent exclusions applied).",
    )
    sample: list[Contact] = strawberry.field(description="The first `sample` of them, by id.")


@strawberry.type(description="A recorded evaluation of a segment's members.")
class SegmentEvaluation:
    segment: str = strawberry.field(description="The segment's name.")
    at: datetime = strawberry.field(description="When the members were computed and recorded.")
    count: int = strawberry.field(description="Members at that time.")
    added: list[relay.GlobalID] = strawberry.field(description="Contacts in since the last one.")
    removed: list[relay.GlobalID] = strawberry.field(description="Contacts out since the last one.")
    reason: str = strawberry.field(
        description="What recorded it: `published` (on publishSegment) or `evaluated` "
        "(evaluateSegment).",
    )

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> SegmentEvaluation:
        return cls(
            segment=doc["segment"],
            at=doc["at"],
            count=doc["count"],
            added=[global_id("Contact", i) for i in doc.get("added") or []],  # type: ignore[misc]
            removed=[global_id("Contact", i) for i in doc.get("removed") or []],  # type: ignore[misc]
            reason=doc.get("reason", ""),
        )


@strawberry.type(description="How a segment's members changed since a recorded evaluation.")
class SegmentDiff:
    segment: str = strawberry.field(description="The segment's name.")
    since: datetime = strawberry.field(description="When the evaluation compared with was made.")
    count: int = strawberry.field(description="Members now.")
    added: list[relay.GlobalID] = strawberry.field(
        description="Contacts that are members now and were not then.",
    )
    removed: list[relay.GlobalID] = strawberry.field(
        description="Contacts that were members then and are not now.",
    )


# the scope of member-list cursors (a page of a segment's sorted member ids)
MEMBERS = "segment members"


def _page(info: Info, ids: list[ObjectId], first: int | None, after: str | None) -> Any:
    first, _ = check_page_args(info, first, None)
    start = 0
    if after is not None:
        _, last_id = decode_cursor("_id", after, "after", MEMBERS)
        start = bisect.bisect_right(ids, last_id)
    return start, ids[start : start + (first or 0)]


async def contact_page(
    info: Info, ids: list[ObjectId], first: int | None, after: str | None
) -> Connection[Contact]:
    """A page of contacts out of sorted ids, with cursors stable under changes of the set."""
    start, chunk = _page(info, ids, first, after)
    docs = await info.context.loaders.by_id(Contact.collection).load_many(chunk)
    page = Page(
        docs=[d for d in docs if d],
        has_next=start + len(chunk) < len(ids),
        has_previous=start > 0,
        order=Order("_id"),
        filter={},
        total=len(ids),
        scope=MEMBERS,
    )
    return connection(page, Contact.from_doc, known_count(len(ids)))


@strawberry.type(description="A named set of contacts: dynamic, static or compound.")
class Segment:
    name: str = strawberry.field(
        description="The segment's unique name; queries and mutations address it by name.",
    )
    description: str = strawberry.field(
        description="What the segment is for, in words (empty when none was given).",
    )
    kind: SegmentKind = strawberry.field(
        description="dynamic (a condition over contacts and their leads, accounts, ...), static "
        "(a list of contacts) or compound (other segments included and excluded).",
    )
    status: SegmentStatus = strawberry.field(
        description="draft or published; only published segments are live (evaluated, usable by "
        "journeys).",
    )
    source: SegmentSource = strawberry.field(
        description="Defined in the rule files (read-only here) or kept through the API.",
    )
    purpose: str | None = strawberry.field(
        description="What the segment is for (e.g. commercial_email): contacts its consent "
        "rules exclude are not members (see `exclusions`)."
    )
    subscription_list: str | None = strawberry.field(
        description="Contacts who unsubscribed from this list are excluded (email purposes)."
    )
    definition: SegmentDefinition = strawberry.field(
        description="What selects its members: the condition (dynamic) or the included and "
        "excluded segments (compound).",
    )
    created_at: datetime | None = strawberry.field(
        description="When it was created through the API; null for a rule-file segment.",
    )
    updated_at: datetime | None = strawberry.field(
        description="When it last changed through the API; null for a rule-file segment.",
    )
    published_at: datetime | None = strawberry.field(
        description="When it was last published; null for a draft (rule-file segments are live "
        "without it).",
    )
    error: SegmentError | None = strawberry.field(
        description="Why its stored definition cannot be evaluated now (null when it can): "
        "then `members`, `memberCount` and `exclusions` are null with a `SEGMENT_INVALID` "
        "error at their path, and the other segments answer as usual."
    )
    _record: strawberry.Private[SegmentRecord]

    @classmethod
    def of(cls, record: SegmentRecord) -> Segment:
        s = record.segment
        where = record.where
        problem = SegmentInvalid(s.name, record.problems) if record.problems else None
        return cls(
            name=s.name,
            description=s.description,
            kind=SegmentKind(s.kind),
            status=SegmentStatus(record.status),
            source=SegmentSource(record.source),
            purpose=s.purpose,
            subscription_list=s.subscription_list,
            definition=SegmentDefinition(
                where=JSON(where) if where is not None else None,
                include=list(s.include),
                exclude=list(s.exclude),
            ),
            created_at=record.created_at,
            updated_at=record.updated_at,
            published_at=record.published_at,
            error=segment_error(problem) if problem is not None else None,
            _record=record,
        )

    @strawberry.field(
        description="Contacts in the segment now, ordered by id (null, with a typed error, for "
        "a segment that cannot be evaluated: see `error`)."
    )
    async def members(
        self, info: Info, first: First = None, after: After = None
    ) -> Connection[Contact] | None:
        return await contact_page(info, await member_ids(info, self._record), first, after)

    @strawberry.field(
        description="How many contacts are in the segment (computed at most once per "
        "`segment_count_ttl` seconds, 60 by default, per version of the segments; null, with "
        "a typed error, for a segment that cannot be evaluated: see `error`)."
    )
    async def member_count(self, info: Info) -> int | None:
        counts = info.context.segment_counts
        assert counts is not None
        catalog = await request_catalog(info)

        async def compute() -> int:
            return len(await member_ids(info, self._record))

        key = (info.context.db.name, catalog.version, self.name)
        return await counts.get(key, compute)

    @strawberry.field(
        description="Contacts the purpose's consent rules keep out, per reason (a contact "
        "excluded for several reasons counts under each; null, with a typed error, for a "
        "segment that cannot be evaluated)."
    )
    async def exclusions(self, info: Info) -> list[SegmentExclusion] | None:
        found = await segments_service(info).exclusions(self._record)
        return [SegmentExclusion(reason=r, description=d, count=n) for r, d, n in found]


@strawberry.type(description="A segment, as changed.")
class SegmentPayload:
    segment: Segment = strawberry.field(
        description="The segment as saved (a deleted one: as it was).",
    )


@strawberry.type(description="A static segment and how many contacts the change added or removed.")
class SegmentListPayload:
    segment: Segment = strawberry.field(description="The static segment after the change.")
    changed: int = strawberry.field(
        description="Contacts actually added or removed (ones already in, or already out, are not "
        "counted).",
    )


SegmentResult = Annotated[
    SegmentPayload
    | ValidationError
    | NotFoundError
    | ForbiddenError
    | ConflictError
    | SegmentCycleError
    | SegmentError,
    strawberry.union(
        "SegmentResult",
        description="What a segment write answers: the segment as saved, or a typed error (a bad "
        "definition, a cycle, a conflict).",
    ),
]
SegmentListResult = Annotated[
    SegmentListPayload | ValidationError | NotFoundError | ForbiddenError | ConflictError,
    strawberry.union(
        "SegmentListResult",
        description="What adding contacts to or removing them from a static segment answers: the "
        "segment and how many changed, or a typed error.",
    ),
]
SegmentEvaluationResult = Annotated[
    SegmentEvaluation | NotFoundError | ForbiddenError | SegmentError,
    strawberry.union(
        "SegmentEvaluationResult",
        description="What evaluating a segment answers: the recorded evaluation (members added "
        "and removed), or a typed error.",
    ),
]
