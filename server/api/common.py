"""Small shared GraphQL types: ordering direction, date ranges and the payload of a delete."""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import Enum
from typing import Annotated, Any, cast

import strawberry
from strawberry import relay

from .. import normalize
from ..errors import InvalidInput
from .errors import ForbiddenError, NotFoundError, ValidationError


@strawberry.type(description="The id of the deleted record.")
class DeletePayload:
    deleted_id: relay.GlobalID


DeleteResult = Annotated[
    DeletePayload | ValidationError | NotFoundError | ForbiddenError,
    strawberry.union("DeleteResult"),
]


@strawberry.enum(description="Sort direction.")
class Direction(Enum):
    ASC = "asc"
    DESC = "desc"


def vocabulary_enum(name: str, values: Iterable[str], description: str, **extra: str) -> Any:
    """A GraphQL enum of one of :mod:`leadgraph.contracts`' vocabularies (member names in
    UPPER_SNAKE: ``decisionMaker`` -> ``DECISION_MAKER``), plus ``extra`` members: the
    vocabulary stays listed once."""
    members = {re.sub(r"(?<!^)(?=[A-Z])", "_", v).upper(): v for v in values}
    built = cast(type[Enum], Enum(name, members | extra))  # the functional API makes a class
    return strawberry.enum(built, description=description)


PER_MODEL = "{model}"  # in an ordering's stored field: the field of one scoring model


def order_input(type_name: str, **fields: str) -> Any:
    """The ``<type_name>Order`` input type: ``field``, one of the ``<type_name>OrderField`` enum
    built from ``fields`` (GraphQL name = stored field; the first is the default), and
    ``direction`` (default ASC). Ties are broken by id (see :meth:`relay.Listing.sort`).

    A stored field holding ``{model}`` (``scoreOf.{model}``) is per scoring model: the input
    then also has ``model``, which such an ordering requires."""
    members: Any = Enum(f"{type_name}OrderField", fields)  # type: ignore[misc]  # a run-time name
    field_enum = strawberry.enum(members)
    annotations: dict[str, Any] = {"field": field_enum, "direction": Direction}
    namespace: dict[str, Any] = {
        "__module__": __name__,
        "field": next(iter(field_enum)),
        "direction": Direction.ASC,
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
