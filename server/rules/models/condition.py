"""The condition language: comparisons, ``all``/``any``/``not`` and interaction counts
(``event``), the :data:`Condition` union every rule section uses."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Discriminator, Field, Tag

from .base import Duration, Rule, Value, as_list


class Compare(Rule):
    """A comparison on one record field: ``{fact: contact.jobTitle, op: in, value: [...]}``."""

    fact: str = Field(description="`contact.`, `lead.`, `account.` or `interaction.` + a field.")
    op: str = Field(default="eq", description="eq, ne, in, not_in, gt, gte, lt, lte, exists, ...")
    value: Value = None


class AllOf(Rule):
    all: list[Condition] = Field(min_length=1, description="Every condition holds.")


class AnyOf(Rule):
    any: list[Condition] = Field(min_length=1, description="At least one condition holds.")


class NotOf(Rule):
    not_: Condition = Field(alias="not", description="The condition does not hold.")


class EventSpec(Rule):
    """Interactions of the contact: which type, how many, within what time window."""

    type: Annotated[list[str], BeforeValidator(as_list)] = Field(
        min_length=1, description="Interaction type(s), e.g. email_opened."
    )
    within: Duration | None = None
    min: int = Field(default=1, ge=0, description="At least this many (default 1).")
    max: int | None = Field(default=None, ge=0, description="At most this many.")
    where: Condition | None = Field(
        default=None, description="A condition on `interaction.` fields of each occurrence."
    )


class Event(Rule):
    event: EventSpec


def _condition_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        for key in ("all", "any", "not", "event", "fact"):
            if key in value:
                return key
        return None
    tags: dict[type, str] = {
        AllOf: "all",
        AnyOf: "any",
        NotOf: "not",
        Event: "event",
        Compare: "fact",
    }
    return tags.get(type(value))


Condition = Annotated[
    Annotated[AllOf, Tag("all")]
    | Annotated[AnyOf, Tag("any")]
    | Annotated[NotOf, Tag("not")]
    | Annotated[Event, Tag("event")]
    | Annotated[Compare, Tag("fact")],
    Discriminator(
        _condition_tag,
        custom_error_type="condition",
        custom_error_message="expected a condition: a mapping with all, any, not, event or fact",
    ),
]


for _model in (
    AllOf,
    AnyOf,
    NotOf,
    EventSpec,
    Event,
):
    _model.model_rebuild()
