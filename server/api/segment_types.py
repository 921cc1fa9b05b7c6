"""GraphQL types of segments that hold no resolvers of their own: kinds, statuses, definitions,
explanations, previews, evaluations, diffs and the inputs of the segment mutations."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from ..rules.models import SEGMENT_KINDS
from ..rules.purposes import PURPOSES
from .common import vocabulary_enum
from .contacts import Contact
from .relay import global_id

if TYPE_CHECKING:  # built from the rule files' vocabulary at import time; statically, an Enum
    SegmentKind = Enum
else:
    SegmentKind = vocabulary_enum(
        "SegmentKind", SEGMENT_KINDS, "How a segment's members are defined."
    )


@strawberry.enum(description="A draft is not live yet: publish it to make it so.")
class SegmentStatus(Enum):
    DRAFT = "draft"
    PUBLISHED = "published"


@strawberry.enum(description="Where a segment is defined.")
class SegmentSource(Enum):
    RULES = "rules"
    API = "api"


@strawberry.type(description="What defines a segment's members (by kind).")
class SegmentDefinition:
    where: JSON | None = strawberry.field(
        description="dynamic: the condition, as the rule files write it."
    )
    include: list[str] = strawberry.field(description="compound: segments whose members are in.")
    exclude: list[str] = strawberry.field(description="compound: segments whose members are out.")


@strawberry.type(description="How many contacts one consent rule of the purpose excludes.")
class SegmentExclusion:
    reason: str
    description: str
    count: int


@strawberry.type(description="One part of a segment's definition and whether it holds.")
class SegmentConditionResult:
    path: str = strawberry.field(description="Where in the definition, e.g. `where.all.0`.")
    condition: str
    holds: bool


@strawberry.type(description="One consent rule of the segment's purpose for this contact.")
class SegmentConsentCheck:
    reason: str
    description: str
    excludes: bool


@strawberry.type(description="Why a contact is in a segment or not.")
class SegmentMembership:
    member: bool
    matched: bool = strawberry.field(
        description="The definition holds (condition, list, include/exclude), before consent."
    )
    conditions: list[SegmentConditionResult]
    consent: list[SegmentConsentCheck]
    excluded_by: list[str] = strawberry.field(description="The consent rules that exclude it.")
    lead: relay.GlobalID | None = strawberry.field(
        description="The lead that satisfied the lead criteria, if any."
    )


@strawberry.type(description="What a definition would select now (nothing was saved).")
class SegmentPreview:
    count: int
    sample: list[Contact]


@strawberry.type(description="A recorded evaluation of a segment's members.")
class SegmentEvaluation:
    segment: str
    at: datetime
    count: int
    added: list[relay.GlobalID] = strawberry.field(description="Contacts in since the last one.")
    removed: list[relay.GlobalID] = strawberry.field(description="Contacts out since the last one.")
    reason: str

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
    segment: str
    since: datetime = strawberry.field(description="When the evaluation compared with was made.")
    count: int = strawberry.field(description="Members now.")
    added: list[relay.GlobalID]
    removed: list[relay.GlobalID]


@strawberry.input(description="A new segment (the condition as the rule files write it).")
class SegmentInput:
    name: str
    description: str | None = None
    kind: SegmentKind = SegmentKind("dynamic")
    purpose: str | None = strawberry.field(
        default=None, description=f"One of: {', '.join(PURPOSES)}."
    )
    subscription_list: str | None = None
    where: JSON | None = strawberry.field(default=None, description="dynamic: the condition.")
    include: list[str] | None = None
    exclude: list[str] | None = None


@strawberry.input(description="Changes to a segment; omitted fields stay, null clears.")
class SegmentChanges:
    description: str | None = strawberry.UNSET
    kind: SegmentKind | None = strawberry.UNSET
    purpose: str | None = strawberry.UNSET
    subscription_list: str | None = strawberry.UNSET
    where: JSON | None = strawberry.UNSET
    include: list[str] | None = strawberry.UNSET
    exclude: list[str] | None = strawberry.UNSET


_FIELDS = {
    "description": "description",
    "kind": "kind",
    "purpose": "purpose",
    "subscription_list": "subscription_list",
    "where": "where",
    "include": "include",
    "exclude": "exclude",
}


def _fields(input: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attr in _FIELDS:
        value = getattr(input, attr, strawberry.UNSET)
        if value is not strawberry.UNSET:
            out[attr] = value.value if isinstance(value, Enum) else value
    return out
