"""Small shared GraphQL types: ordering direction, date ranges and the payload of a delete."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Annotated, Any, cast

import strawberry
from strawberry import relay

from .. import normalize
from ..errors import InvalidInput
from .errors import ForbiddenError, NotFoundError, ValidationError
from .meanings import MEANINGS


@strawberry.type(description="The id of the deleted record.")
class DeletePayload:
    deleted_id: relay.GlobalID = strawberry.field(
        description="The deleted record's global id (it no longer resolves).",
    )


DeleteResult = Annotated[
    DeletePayload | ValidationError | NotFoundError | ForbiddenError,
    strawberry.union(
        "DeleteResult",
        description="What a delete answers: the deleted record's id, or a typed error saying why "
        "nothing was deleted.",
    ),
]


@strawberry.enum(description="Sort direction.")
class Direction(Enum):
    ASC = strawberry.enum_value("asc", description="Smallest (oldest, A) first.")
    DESC = strawberry.enum_value("desc", description="Largest (newest, Z) first.")


def vocabulary_enum(name: str, values: Iterable[str], description: str, **extra: str) -> Any:
    """A GraphQL enum of one of :mod:`leadgraph.contracts`' vocabularies (member names in
    UPPER_SNAKE: ``decisionMaker`` -> ``DECISION_MAKER``), plus ``extra`` members: the
    vocabulary stays listed once.  Each value is described by :data:`~leadgraph.api.meanings.
    MEANINGS` ``[name]``."""
    members = {re.sub(r"(?<!^)(?=[A-Z])", "_", v).upper(): v for v in values}
    built = cast(type[Enum], Enum(name, members | extra))  # the functional API makes a class
    return described_values(strawberry.enum(built, description=description), MEANINGS.get(name, {}))


def described_values(enum: Any, meanings: Mapping[str, str]) -> Any:
    """``enum`` (a strawberry enum) with each value described by ``meanings[value]``."""
    for value in enum.__strawberry_definition__.values:
        value.description = meanings.get(value.value, value.description)
    return enum


PER_MODEL = "{model}"  # in an ordering's stored field: the field of one scoring model

#: What an ordering's stored field orders by.
ORDERED_BY = {
    "createdAt": "When the record was created.",
    "updatedAt": "When the record last changed.",
    "sortName": "The contact's name (last name, then first name).",
    "name": "The name.",
    f"scoreOf.{PER_MODEL}": "The lead's score under `model` (unscored leads first).",
}


def order_input(type_name: str, **fields: str) -> Any:
    """The ``<type_name>Order`` input type: ``field``, one of the ``<type_name>OrderField`` enum
    built from ``fields`` (GraphQL name = stored field; the first is the default), and
    ``direction`` (default ASC). Ties are broken by id (see :meth:`relay.Listing.sort`).

    A stored field holding ``{model}`` (``scoreOf.{model}``) is per scoring model: the input
    then also has ``model``, which such an ordering requires."""
    members: Any = Enum(f"{type_name}OrderField", fields)  # type: ignore[misc]  # a run-time name
    field_enum = described_values(
        strawberry.enum(members, description=f"What {type_name.lower()}s can be ordered by."),
        {stored: ORDERED_BY.get(stored, f"The stored `{stored}`.") for stored in fields.values()},
    )
    annotations: dict[str, Any] = {"field": field_enum, "direction": Direction}
    namespace: dict[str, Any] = {
        "__module__": __name__,
        "field": strawberry.field(default=next(iter(field_enum)), description="What to order by."),
        "direction": strawberry.field(
            default=Direction.ASC, description="Ascending (the default) or descending."
        ),
    }
    if any(PER_MODEL in stored for stored in fields.values()):
        annotations["model"] = str | None
        namespace["model"] = strawberry.field(
            default=None, description="The scoring model, for the orderings by a model's score."
        )
    namespace["__annotations__"] = annotations
    return strawberry.input(
        type(f"{type_name}Order", (), namespace),
        description=f"{type_name} ordering (ties broken by id).",
    )


def time_from(happened: str = "Created") -> Any:
    """A filter field: at or after a time (``createdAfter``, ``occurredAfter``, ...), the same
    field in every filter that has one."""
    return strawberry.field(default=None, description=f"{happened} at or after this time.")


def time_until(happened: str = "Created") -> Any:
    """A filter field: before a time (``createdBefore``, ``occurredBefore``, ...)."""
    return strawberry.field(default=None, description=f"{happened} before this time.")


def stored_enum(cls: type[Enum], value: Any) -> Any:
    """The ``cls`` member of a stored value; None for None or a value ``cls`` does not know."""
    try:
        return cls(value) if value is not None else None
    except ValueError:
        return None


def clean_email(value: str | None, field: str, errors: list[tuple[str, str]]) -> str | None:
    """Validate an email input; appends to ``errors`` instead of raising."""
    if value is None:
        return None
    try:
        normalize.email(value)
    except normalize.InvalidValue as exc:
        errors.append((field, str(exc)))
        return None
    return value.strip()


def set_fields(input: Any, names: dict[str, str]) -> dict[str, Any]:
    """The input fields the client actually sent (UNSET ones are left out), renamed for storage."""
    out: dict[str, Any] = {}
    for attr, stored in names.items():
        value = getattr(input, attr, strawberry.UNSET)
        if value is not strawberry.UNSET:
            out[stored] = value.value if isinstance(value, Enum) else value
    return out


MAX_CONTAINS = 200  # characters of a `...Contains` filter (a database pattern is bounded)


def contains_text(value: str | None, field: str) -> str | None:
    """A substring filter's text, refused (``BAD_USER_INPUT``) beyond :data:`MAX_CONTAINS`."""
    if value is not None and len(value) > MAX_CONTAINS:
        raise InvalidInput(field, f"must be at most {MAX_CONTAINS} characters")
    return value


def raise_if(errors: list[tuple[str, str]]) -> None:
    if errors:
        raise InvalidInput(errors)


def name_problems(info: Any, path: str, fact: str, value: Any) -> list[tuple[str, str]]:
    """``(path, message)`` when ``value`` is not a name the live rules know for ``fact`` (none
    without valid rules): an input field's check, as :func:`check_names` is a filter's."""
    ruleset = getattr(info.context.rules, "current", None)
    if ruleset is None or value is None:
        return []
    return [(path, m) for _, m in ruleset.vocabulary.value_problems(fact, "eq", value)]


def check_names(info: Any, named: Iterable[tuple[str, str, Any]]) -> None:
    """Each ``(path, fact, value)`` of a request (``filter.stage`` read as ``lead.stage``) must
    be a name the live rules know for that fact (:mod:`leadgraph.rules.vocabulary`, the one the
    conditions are checked against): ``BAD_USER_INPUT`` naming each path and the known names
    otherwise.  Without valid rules nothing is checked (the stored values are all there is)."""
    ruleset = getattr(info.context.rules, "current", None)
    if ruleset is None:
        return
    vocabulary = ruleset.vocabulary
    raise_if(
        [
            (path, message)
            for path, fact, value in named
            if value is not None
            for _, message in vocabulary.value_problems(fact, "eq", value)
        ]
    )


def require_text(value: Any, field: str, errors: list[tuple[str, str]]) -> None:
    if value is not strawberry.UNSET and value is not None and not str(value).strip():
        errors.append((field, "must not be blank"))
