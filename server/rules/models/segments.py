"""The ``segments`` section: named sets of contacts (dynamic, static, compound)."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field, model_validator

from .base import ListName, Name, Rule
from .condition import Condition

SegmentKind = Literal["dynamic", "static", "compound"]
SEGMENT_KINDS: tuple[str, ...] = get_args(SegmentKind)


class Segment(Rule):
    """A named set of contacts: ``dynamic`` (a condition on the contact, its account, its leads,
    its interactions), ``static`` (an explicit list, kept through the API) or ``compound``
    (the members of the ``include`` segments minus those of the ``exclude`` segments).

    A ``purpose`` (see :mod:`leadgraph.rules.purposes`) removes the contacts that may not be
    reached for it (consent, preferences, the ``subscription_list``'s opt-outs)."""

    name: Name
    description: str = ""
    kind: SegmentKind = Field(
        default="dynamic", description="dynamic (where), static (a list) or compound."
    )
    where: Condition | None = Field(default=None, description="dynamic: the condition.")
    include: list[Name] = Field(
        default_factory=list, description="compound: the segments whose members are in."
    )
    exclude: list[Name] = Field(
        default_factory=list, description="compound: the segments whose members are out."
    )
    purpose: Name | None = Field(
        default=None,
        description="What the segment is for, e.g. commercial_email: excludes the contacts "
        "that may not be reached for it.",
    )
    subscription_list: ListName | None = Field(
        default=None,
        description="The subscription list a mailing to the segment belongs to: contacts who "
        "unsubscribed from it (contact.unsubscribed) are excluded.",
    )

    @model_validator(mode="after")
    def _shape(self) -> Segment:
        if self.kind == "dynamic" and self.where is None:
            raise ValueError("missing required field 'where' (a dynamic segment's condition)")
        if self.kind != "dynamic" and self.where is not None:
            raise ValueError(f"a {self.kind} segment has no `where`")
        if self.kind == "compound" and not self.include:
            raise ValueError("a compound segment needs `include`")
        if self.kind != "compound" and (self.include or self.exclude):
            raise ValueError(f"a {self.kind} segment has no `include`/`exclude`")
        return self


for _model in (Segment,):
    _model.model_rebuild()
