"""What segments are written by: the definition inputs and their mapping to stored fields."""

from __future__ import annotations

from enum import Enum
from typing import Any

import strawberry
from bson import ObjectId
from strawberry import relay
from strawberry.scalars import JSON

from ...rules.purposes import PURPOSES
from ..relay import object_id
from .types import SegmentKind


@strawberry.input(description="A new segment (the condition as the rule files write it).")
class SegmentInput:
    name: str = strawberry.field(
        description="A unique segment name (not one the rule files define).",
    )
    description: str | None = strawberry.field(
        default=None,
        description="What the segment is for, in words.",
    )
    kind: SegmentKind = strawberry.field(
        default=SegmentKind("dynamic"),
        description="dynamic (the default; give `where`), static (a list: fill it with "
        "addToSegment) or compound (give `include`/`exclude`).",
    )
    purpose: str | None = strawberry.field(
        default=None, description=f"One of: {', '.join(PURPOSES)}."
    )
    subscription_list: str | None = strawberry.field(
        default=None,
        description="With an email purpose: contacts who unsubscribed from this subscription list "
        "are excluded.",
    )
    where: JSON | None = strawberry.field(default=None, description="dynamic: the condition.")
    include: list[str] | None = strawberry.field(
        default=None,
        description="compound: the segments whose members are in.",
    )
    exclude: list[str] | None = strawberry.field(
        default=None,
        description="compound: the segments whose members are kept out.",
    )


@strawberry.input(description="Changes to a segment; omitted fields stay, null clears.")
class SegmentChanges:
    description: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="What the segment is for, in words.",
    )
    kind: SegmentKind | None = strawberry.field(
        default=strawberry.UNSET,
        description="dynamic, static or compound (the definition must fit the kind).",
    )
    purpose: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="What the segment is for (its consent rules apply); null clears it.",
    )
    subscription_list: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="With an email purpose: contacts who unsubscribed from this list are "
        "excluded; null clears it.",
    )
    where: JSON | None = strawberry.field(
        default=strawberry.UNSET,
        description="dynamic: the condition, as the rule files write it.",
    )
    include: list[str] | None = strawberry.field(
        default=strawberry.UNSET,
        description="compound: the segments whose members are in.",
    )
    exclude: list[str] | None = strawberry.field(
        default=strawberry.UNSET,
        description="compound: the segments whose members are kept out.",
    )


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


def _contact_ids(ids: list[relay.GlobalID] | None) -> list[ObjectId]:
    return [object_id(g, "Contact", f"contacts.{i}") for i, g in enumerate(ids or [])]
