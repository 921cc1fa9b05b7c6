"""The segment queries, mutations and the evaluations subscription."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from ...errors import InvalidInput
from ...web import live
from ..contacts.types import Contact
from ..errors import errors_as_data
from ..relay import global_id, object_id
from .inputs import SegmentChanges, SegmentInput, _contact_ids, _fields
from .reads import request_catalog, segments_service
from .types import (
    Segment,
    SegmentConditionResult,
    SegmentConsentCheck,
    SegmentDiff,
    SegmentEvaluation,
    SegmentEvaluationResult,
    SegmentListPayload,
    SegmentListResult,
    SegmentMembership,
    SegmentPayload,
    SegmentPreview,
    SegmentResult,
)

EVALUATIONS = live.SEGMENT_EVALUATIONS


@strawberry.type
class SegmentQuery:
    @strawberry.field(description="Every segment: the rule files' and those kept through the API.")
    async def segments(self, info: Info) -> list[Segment]:
        return [Segment.of(r) for r in (await request_catalog(info)).by_name.values()]

    @strawberry.field(description="One segment by name.")
    async def segment(
        self,
        info: Info,
        name: Annotated[str, strawberry.argument(description="The segment's name.")],
    ) -> Segment | None:
        found = (await request_catalog(info)).get(name)
        return Segment.of(found) if found else None

    @strawberry.field(
        description="The members a definition would have now: how many and the first "
        "`sample` of them. Nothing is saved."
    )
    async def preview_segment(
        self,
        info: Info,
        definition: Annotated[
            SegmentInput,
            strawberry.argument(
                description="The definition to try (as createSegment takes it); nothing is saved."
            ),
        ],
        sample: Annotated[
            int,
            strawberry.argument(
                description="How many of the selected contacts to return (0 to 100; default 10)."
            ),
        ] = 10,
    ) -> SegmentPreview:
        if not 0 <= sample <= 100:
            raise InvalidInput("sample", "must be between 0 and 100")
        service = segments_service(info)
        fields = {"name": definition.name, **_fields(definition)}
        segment = await service.parse(fields, prefix="definition")
        ids = await service.preview(segment)
        docs = await info.context.loaders.by_id(Contact.collection).load_many(ids[:sample])
        return SegmentPreview(count=len(ids), sample=[Contact.from_doc(d) for d in docs if d])

    @strawberry.field(
        description="Why a contact is in a segment or not: each part of the definition with "
        "true/false, and each consent rule of its purpose with whether it excludes the contact."
    )
    async def segment_membership(
        self,
        info: Info,
        contact: Annotated[
            relay.GlobalID,
            strawberry.argument(description="The contact's global id."),
        ],
        segment: Annotated[str, strawberry.argument(description="The segment's name.")],
    ) -> SegmentMembership:
        service = segments_service(info)
        record = await service.get(segment, await request_catalog(info))
        found = await service.explain(record, object_id(contact, "Contact", "contact"))
        lead, opp = found.lead, found.opportunity
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
            opportunity=global_id("Opportunity", opp["_id"]) if opp is not None else None,
        )

    @strawberry.field(
        description="Contacts that joined or left a segment since the evaluation recorded at "
        "or before `since` (evaluations are recorded on publish and by `evaluateSegment`)."
    )
    async def segment_diff(
        self,
        info: Info,
        segment: Annotated[str, strawberry.argument(description="The segment's name.")],
        since: Annotated[
            datetime,
            strawberry.argument(
                description="Compare with the latest evaluation recorded at or before this time."
            ),
        ],
    ) -> SegmentDiff:
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
    async def create_segment(
        self,
        info: Info,
        input: Annotated[
            SegmentInput,
            strawberry.argument(description="The new segment: name, kind and definition."),
        ],
    ) -> SegmentResult:
        info.context.require("segments:write")
        fields = {"name": input.name, **_fields(input)}
        return SegmentPayload(segment=Segment.of(await segments_service(info).create(fields)))

    @strawberry.mutation(
        description="Change a segment kept through the API; it becomes a draft again."
    )
    @errors_as_data
    async def update_segment(
        self,
        info: Info,
        name: Annotated[
            str,
            strawberry.argument(
                description="The segment to change (by name; rule-file segments cannot be changed "
                "here)."
            ),
        ],
        input: Annotated[
            SegmentChanges,
            strawberry.argument(description="The changes; omitted fields stay, null clears."),
        ],
    ) -> SegmentResult:
        info.context.require("segments:write")
        record = await segments_service(info).update(name, _fields(input))
        return SegmentPayload(segment=Segment.of(record))

    @strawberry.mutation(description="Delete a segment that no other segment names.")
    @errors_as_data
    async def delete_segment(
        self,
        info: Info,
        name: Annotated[str, strawberry.argument(description="The segment to delete (by name).")],
    ) -> SegmentResult:
        info.context.require("segments:write")
        return SegmentPayload(segment=Segment.of(await segments_service(info).delete(name)))

    @strawberry.mutation(description="Make a draft segment live and record its members.")
    @errors_as_data
    async def publish_segment(
        self,
        info: Info,
        name: Annotated[
            str,
            strawberry.argument(description="The draft segment to publish (by name)."),
        ],
    ) -> SegmentResult:
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
        segment: Annotated[str, strawberry.argument(description="The static segment (by name).")],
        contacts: Annotated[
            list[relay.GlobalID] | None,
            strawberry.argument(description="Contacts to add, by global id."),
        ] = None,
        where: Annotated[
            JSON | None,
            strawberry.argument(
                description="A condition (as the rule files write it): every contact meeting it "
                "now is added."
            ),
        ] = None,
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
        segment: Annotated[str, strawberry.argument(description="The static segment (by name).")],
        contacts: Annotated[
            list[relay.GlobalID] | None,
            strawberry.argument(description="Contacts to remove, by global id."),
        ] = None,
        where: Annotated[
            JSON | None,
            strawberry.argument(
                description="A condition: every contact meeting it now is removed."
            ),
        ] = None,
    ) -> SegmentListResult:
        return await _change_list(info, segment, False, contacts, where)

    @strawberry.mutation(
        description="Compute a segment's members now and record them (with who joined and "
        "left since the last evaluation); `segmentMembershipChanged` subscribers are told."
    )
    @errors_as_data
    async def evaluate_segment(
        self,
        info: Info,
        segment: Annotated[
            str,
            strawberry.argument(description="The segment to evaluate (by name)."),
        ],
    ) -> SegmentEvaluationResult:
        info.context.require("segments:write")
        return SegmentEvaluation.from_doc(await segments_service(info).evaluate(segment))


async def _change_list(
    info: Info, segment: str, add: bool, contacts: list[relay.GlobalID] | None, where: Any
) -> SegmentListPayload:
    info.context.require("segments:write")
    service = segments_service(info)
    ids = _contact_ids(contacts)
    cond = await service.parse_condition(where, "where") if where is not None else None
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
        self,
        info: Info,
        segment: Annotated[
            str,
            strawberry.argument(description="The segment to follow (by name; it must exist)."),
        ],
    ) -> AsyncIterator[SegmentEvaluation]:
        await segments_service(info).get(segment)
        return await info.context.subscribe(
            EVALUATIONS,
            matches=lambda doc: (
                doc.get("segment") == segment and bool(doc.get("added") or doc.get("removed"))
            ),
            convert=SegmentEvaluation.from_doc,
        )
