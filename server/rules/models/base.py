"""What every rule model shares: the base model, names, durations, the comparison values
(scalars and lists of scalars) a condition may hold."""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    WithJsonSchema,
)

Name = Annotated[str, StringConstraints(min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$")]
#: A subscription list's name as lists are named (``Product updates``): spaces allowed, trimmed,
#: at most 100 characters, no control characters (``services.subscriptions.clean_name``).
ListName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$"
    ),
]
Duration = Annotated[
    str,
    StringConstraints(pattern=r"^\d+[mhdw]$"),
    Field(description="A time window: a number and a unit, m(inutes), h(ours), d(ays), w(eeks)."),
]
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def duration(text: str) -> timedelta:
    """``"30d"`` -> ``timedelta(days=30)``."""
    match = re.fullmatch(r"(\d+)([mhdw])", text)
    if match is None:
        raise ValueError(f"not a duration: {text!r} (expected e.g. 30d, 12h, 2w)")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def as_datetime(value: Any) -> Any:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, list):
        return [as_datetime(v) for v in value]
    return value


def as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


_INT64 = 2**63


def _scalar(value: Any) -> Any:
    """A value a comparison may hold: a string, number, boolean, date or null. Never an
    object: a value reaches MongoDB inside the operator's filter, where ``{"$regex": ...}``
    would be an operator the rule never wrote."""
    if isinstance(value, dict):
        ops = sorted(k for k in value if isinstance(k, str) and k.startswith("$"))
        said = f" ({', '.join(ops)} is not an operator here: use `op:`)" if ops else ""
        raise ValueError(
            f"expected a string, a number, a boolean, a date or null, got an object{said}"
        )
    if isinstance(value, list):
        raise ValueError("expected a string, a number, a boolean, a date or null, got a list")
    if isinstance(value, int) and not isinstance(value, bool) and not -_INT64 <= value < _INT64:
        raise ValueError("an integer beyond 64 bits cannot be compared with stored values")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value} is not a finite number")
    if value is not None and not isinstance(value, str | int | float | datetime):
        raise ValueError(f"expected a string, a number, a boolean, a date or null: {value!r}")
    return value


Scalar = Annotated[
    Any,
    AfterValidator(_scalar),
    WithJsonSchema({"type": ["string", "number", "boolean", "null"]}),
]


def _shape(value: Any) -> str:
    return "List" if isinstance(value, list) else "Scalar"


# An array a field may equal (``eq: [news]``, ``in: [[news], []]``): a list of scalars.
_Item = Annotated[
    Annotated[list[Scalar], Tag("List")] | Annotated[Scalar, Tag("Scalar")], Discriminator(_shape)
]
#: What ``value`` of ``{fact, op, value}`` may be: a scalar, or a list of scalars and arrays of
#: scalars (what each operator takes of these is the operator's ``check``). The tags are
#: capitalised so that the rule-file loader, which names a value's nearest lowercase key,
#: still says ``value``.
Value = Annotated[
    Annotated[list[_Item], Tag("List")] | Annotated[Scalar, Tag("Scalar")],
    Discriminator(_shape),
    BeforeValidator(as_datetime),
]


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
