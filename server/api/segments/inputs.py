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


def _contact_ids(ids: list[relay.GlobalID] | None) -> list[ObjectId]:
    return [object_id(g, "Contact", f"contacts.{i}") for i, g in enumerate(ids or [])]
