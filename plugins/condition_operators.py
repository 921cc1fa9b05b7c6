"""Built-in comparison operators of the condition language (``op:`` in ``{fact, op, value}``).

Each has a Python test with MongoDB's semantics and the MongoDB filter that selects the same
documents; :mod:`leadgraph.rules.conditions` explains the semantics.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from leadgraph import hookimpl
from leadgraph.rules.conditions import compares, equals

_REGEX_SPECIAL = set("\\.^$|?*+()[]{}/")


def _regex_literal(text: str) -> str:
    return "".join("\\" + c if c in _REGEX_SPECIAL else c for c in text)


@dataclass(frozen=True)
class Operator:
    test: Callable[[list[Any], Any], bool]
    mongo_op: Callable[[Any], dict[str, Any]]
    check: Callable[[Any], None] | None = None
    description: str = ""

    def mongo(self, path: str, value: Any) -> dict[str, Any]:
        return {path: self.mongo_op(value)}


def _shown(value: Any) -> str:
    """A value as the rule file or the API request wrote it (JSON, not Python's repr)."""
    return json.dumps(value, default=str)


def _needs_list(value: Any) -> None:
    if not isinstance(value, list):
        raise ValueError(f"expected a list of values, got {_shown(value)}")


def _needs_bool(value: Any) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {_shown(value)}")


def _needs_scalar(value: Any) -> None:
    if value is None or isinstance(value, list | dict | bool):
        raise ValueError(f"expected a number, a string or a date, got {_shown(value)}")


def _needs_text(value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty string, got {_shown(value)}")


def _contains(values: list[Any], value: Any) -> bool:
    needle = value.lower()
    return any(isinstance(v, str) and needle in v.lower() for v in values)


def _ordering(op: Callable[[Any, Any], bool], name: str) -> Operator:
    return Operator(
        test=lambda values, value: compares(values, value, op),
        mongo_op=lambda value: {name: value},
        check=_needs_scalar,
        description=f"some value {name.strip('$')} `value` (same type only)",
    )


OPERATORS: dict[str, Operator] = {
    "eq": Operator(equals, lambda v: {"$eq": v}, description="equals (null: missing or null)"),
    "ne": Operator(
        lambda values, value: not equals(values, value),
        lambda v: {"$ne": v},
        description="does not equal",
    ),
    "in": Operator(
        lambda values, value: any(equals(values, v) for v in value),
        lambda v: {"$in": v},
        _needs_list,
        "equals one of the listed values",
    ),
    "not_in": Operator(
        lambda values, value: not any(equals(values, v) for v in value),
        lambda v: {"$nin": v},
        _needs_list,
        "equals none of the listed values",
    ),
    "gt": _ordering(operator.gt, "$gt"),
    "gte": _ordering(operator.ge, "$gte"),
    "lt": _ordering(operator.lt, "$lt"),
    "lte": _ordering(operator.le, "$lte"),
    "exists": Operator(
        lambda values, value: bool(values) == value,
        lambda v: {"$exists": v},
        _needs_bool,
        "the field is present (true) or absent (false)",
    ),
    "contains": Operator(
        _contains,
        lambda v: {"$regex": _regex_literal(v), "$options": "i"},
        _needs_text,
        "a text value contains `value`, ignoring case",
    ),
}


@hookimpl
def leadgraph_condition_operators() -> dict[str, Operator]:
    return OPERATORS
