"""GraphQL for segments: rule-file and API segments side by side, their members (paged),
consent exclusions, explanations, previews, evaluations and diffs."""

from __future__ import annotations

import bisect
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

import strawberry
from bson import ObjectId
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from ..errors import (
    ConflictError,
    ForbiddenError,
    InvalidInput,
    NotFoundError,
    SegmentCycleError,
    SegmentError,
    ValidationError,
    errors_as_data,
)
from ..services.segments import SegmentInvalid, SegmentRecord
from ..store import contacts as contacts_store
from ..store.pagination import Order, Page, decode_cursor
from ..web import live
from .contacts import Contact
from .relay import Connection, check_page_args, connection, global_id, known_count, object_id
from .segment_reads import member_ids, request_catalog, segments_service
from .segment_types import (
    SegmentChanges,
    SegmentConditionResult,
    SegmentConsentCheck,
    SegmentDefinition,
    SegmentDiff,
    SegmentEvaluation,
    SegmentExclusion,
    SegmentInput,
    SegmentKind,
    SegmentMembership,
    SegmentPreview,
    SegmentSource,
    SegmentStatus,
    _fields,
)

EVALUATIONS = live.SEGMENT_EVALUATIONS


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
    docs = await contacts_store.by_ids(info.context.db, chunk)
    page = Page(
        docs=[docs[i] for i in chunk if i in docs],
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
    name: str
    description: str
    kind: SegmentKind
    status: SegmentStatus
    source: SegmentSource
    purpose: str | None = strawberry.field(
        description="What the segment is for (e.g. commercial_email): contacts its consent "
        "rules exclude are not members (see `exclusions`)."
    )
    subscription_list: str | None = strawberry.field(
        description="Contacts who unsubscribed from this list are excluded (email purposes)."
    )
    definition: SegmentDefinition
    created_at: datetime | None
    updated_at: datetime | None
    published_at: datetime | None
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
            error=problem.to_graphql() if problem is not None else None,
            _record=record,
        )

    @strawberry.field(
        description="Contacts in the segment now, ordered by id (null, with a typed error, for "
        "a segment that cannot be evaluated: see `error`)."
    )
    async def members(
        self, info: Info, first: int | None = None, after: str | None = None
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
    segment: Segment


@strawberry.type(description="A static segment and how many contacts the change added or removed.")
class SegmentListPayload:
    segment: Segment
    changed: int


SegmentResult = Annotated[
    SegmentPayload
    | ValidationError
    | NotFoundError
    | ForbiddenError
    | ConflictError
    | SegmentCycleError
    | SegmentError,
    strawberry.union("SegmentResult"),
]
SegmentListResult = Annotated[
    SegmentListPayload | ValidationError | NotFoundError | ForbiddenError | ConflictError,
    strawberry.union("SegmentListResult"),
]
SegmentEvaluationResult = Annotated[
    SegmentEvaluation | NotFoundError | ForbiddenError | SegmentError,
    strawberry.union("SegmentEvaluationResult"),
]


def _contact_ids(ids: list[relay.GlobalID] | None) -> list[ObjectId]:
    return [object_id(g, "Contact", f"contacts.{i}") for i, g in enumerate(ids or [])]


@strawberry.type
class SegmentQuery:
    @strawberry.field(description="Every segment: the rule files' and those kept through the API.")
    async def segments(self, info: Info) -> list[Segment]:
        return [Segment.of(r) for r in (await request_catalog(info)).by_name.values()]

    @strawberry.field(description="One segment by name.")
    async def segment(self, info: Info, name: str) -> Segment | None:
        found = (await request_catalog(info)).get(name)
        return Segment.of(found) if found else None

    @strawberry.field(
        description="The members a definition would have now: how many and the first "
        "`sample` of them. Nothing is saved."
    )
    async def preview_segment(
        self, info: Info, definition: SegmentInput, sample: int = 10
    ) -> SegmentPreview:
        if not 0 <= sample <= 100:
            raise InvalidInput("sample", "must be between 0 and 100")
        service = segments_service(info)
        fields = {"name": definition.name, **_fields(definition)}
        segment = service.parse(fields, prefix="definition")
        ids = await service.preview(segment)
        docs = await contacts_store.by_ids(info.context.db, ids[:sample])
        return SegmentPreview(
            count=len(ids), sample=[Contact.from_doc(docs[i]) for i in ids[:sample] if i in docs]
        )

    @strawberry.field(
        description="Why a contact is in a segment or not: each part of the definition with "
        "true/false, and each consent rule of its purpose with whether it excludes the contact."
    )
    async def segment_membership(
        self, info: Info, contact: relay.GlobalID, segment: str
    ) -> SegmentMembership:
        service = segments_service(info)
        record = await service.get(segment, await request_catalog(info))
        found = await service.explain(record, object_id(contact, "Contact", "contact"))
        lead = found.lead
        return SegmentMembership(
            member=found.member,
            matched=found.matched,
            conditions=[
                SegmentConditionResult(path=c.path, condition=c.text, holds=c.holds)
                for c in found.conditions
            ],
            consent=[
                SegmentConsentCheck(reason=e.reason, description=e.description, excludes=e.applies)
                for e in found.exclusions
            ],
            excluded_by=found.excluded_by,
            lead=global_id("Lead", lead["_id"]) if lead is not None else None,
        )

    @strawberry.field(
        description="Contacts that joined or left a segment since the evaluation recorded at "
        "or before `since` (evaluations are recorded on publish and by `evaluateSegment`)."
    )
    async def segment_diff(self, info: Info, segment: str, since: datetime) -> SegmentDiff:
        then, members, added, removed = await segments_service(info).diff(segment, since)
        return SegmentDiff(
            segment=segment,
            since=then["at"],
            count=len(members),
            added=[global_id("Contact", i) for i in added],  # type: ignore[misc]
            removed=[global_id("Contact", i) for i in removed],  # type: ignore[misc]
        )


@strawberry.type
class SegmentMutation:
    @strawberry.mutation(description="Create a segment (a draft until `publishSegment`).")
    @errors_as_data
    async def create_segment(self, info: Info, input: SegmentInput) -> SegmentResult:
        info.context.require("segments:write")
        fields = {"name": input.name, **_fields(input)}
        return SegmentPayload(segment=Segment.of(await segments_service(info).create(fields)))

    @strawberry.mutation(
        description="Change a segment kept through the API; it becomes a draft again."
    )
    @errors_as_data
    async def update_segment(self, info: Info, name: str, input: SegmentChanges) -> SegmentResult:
        info.context.require("segments:write")
        record = await segments_service(info).update(name, _fields(input))
        return SegmentPayload(segment=Segment.of(record))

    @strawberry.mutation(description="Delete a segment that no other segment names.")
    @errors_as_data
    async def delete_segment(self, info: Info, name: str) -> SegmentResult:
        info.context.require("segments:write")
        return SegmentPayload(segment=Segment.of(await segments_service(info).delete(name)))

    @strawberry.mutation(description="Make a draft segment live and record its members.")
    @errors_as_data
    async def publish_segment(self, info: Info, name: str) -> SegmentResult:
        info.context.require("segments:write")
        return SegmentPayload(segment=Segment.of(await segments_service(info).publish(name)))

    @strawberry.mutation(
        description="Add contacts to a static segment: by id and/or every contact meeting "
        "`where` now (a snapshot; later changes do not follow)."
    )
    @errors_as_data
    async def add_to_segment(
        self,
        info: Info,
        segment: str,
        contacts: list[relay.GlobalID] | None = None,
        where: JSON | None = None,
    ) -> SegmentListResult:
        return await _change_list(info, segment, True, contacts, where)

    @strawberry.mutation(
        description="Remove contacts from a static segment: by id and/or every contact "
        "meeting `where` now."
    )
    @errors_as_data
    async def remove_from_segment(
        self,
        info: Info,
        segment: str,
        contacts: list[relay.GlobalID] | None = None,
        where: JSON | None = None,
    ) -> SegmentListResult:
        return await _change_list(info, segment, False, contacts, where)

    @strawberry.mutation(
        description="Compute a segment's members now and record them (with who joined and "
        "left since the last evaluation); `segmentMembershipChanged` subscribers are told."
    )
    @errors_as_data
    async def evaluate_segment(self, info: Info, segment: str) -> SegmentEvaluationResult:
        info.context.require("segments:write")
        return SegmentEvaluation.from_doc(await segments_service(info).evaluate(segment))


async def _change_list(
    info: Info, segment: str, add: bool, contacts: list[relay.GlobalID] | None, where: Any
) -> SegmentListPayload:
    info.context.require("segments:write")
    service = segments_service(info)
    ids = _contact_ids(contacts)
    cond = service.parse_condition(where, "where") if where is not None else None
    if not ids and cond is None:
        raise InvalidInput("contacts", "give contacts, where, or both")
    record, changed = await service.change_list(segment, add, ids, cond)
    return SegmentListPayload(segment=Segment.of(record), changed=changed)


@strawberry.type
class SegmentSubscription:
    @strawberry.subscription(
        description="Each recorded evaluation of the segment in which members joined or left "
        "(from a MongoDB change stream of evaluations)."
    )
    async def segment_membership_changed(
        self, info: Info, segment: str
    ) -> AsyncIterator[SegmentEvaluation]:
        await segments_service(info).get(segment)
        return await info.context.subscribe(
            EVALUATIONS,
            matches=lambda doc: (
                doc.get("segment") == segment and bool(doc.get("added") or doc.get("removed"))
            ),
            convert=SegmentEvaluation.from_doc,
        )
