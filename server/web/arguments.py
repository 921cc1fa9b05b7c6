"""Resolver arguments converted once per field and value, not once per call.

strawberry converts a resolver's arguments (graphql-core's values -> Python: names, enums,
``UNSET``, input objects) on every call: on a page of 100 contacts, ``leads`` and
``interactions(last: 5)`` convert the same arguments 100 times each, about a tenth of the
README's nested page's CPU.  :func:`install` puts :func:`convert_arguments` in the place of
strawberry's in its resolver wrapper (``strawberry.schema.schema_converter``): it keeps,
per field and values, the conversions whose values are all immutable (``None``, ``UNSET``,
booleans, integers, strings, enum members, ``GlobalID``; at most :data:`MAX_KEPT`) and
answers a call with the very same values (compared by type and value) with a copy of one.
Anything else (input objects, lists, floats, dates, JSON, ``Maybe``) is converted on every
call, as before, so no resolver ever shares a value it could change.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from strawberry.relay import GlobalID
from strawberry.schema import schema_converter
from strawberry.types import arguments as strawberry_arguments
from strawberry.types.unset import UNSET

_convert = strawberry_arguments.convert_arguments
_IMMUTABLE = (bool, int, str, enum.Enum, GlobalID)  # types whose equal values are alike
MAX_KEPT = 4096  # conversions kept (per field and values); all dropped when full

# by (field's arguments, values): (the arguments, their conversion)
_kept: dict[tuple[Any, ...], tuple[list[Any], dict[str, Any]]] = {}
stats = {"converted": 0, "kept": 0}  # calls converted / answered from a kept conversion


def _plain(values: Mapping[str, Any]) -> bool:
    return all(v is None or v is UNSET or isinstance(v, _IMMUTABLE) for v in values.values())


def _key(arguments: list[Any], values: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """What a conversion depends on, by type and value (``True`` is not ``1``); None when a
    value is not immutable."""
    if not _plain(values):
        return None
    return (id(arguments), tuple((k, type(v), v) for k, v in values.items()))


def convert_arguments(
    value: dict[str, Any],
    arguments: list[Any],
    scalar_registry: Any,
    config: Any,
    info: Any = None,
) -> dict[str, Any]:
    """strawberry's ``convert_arguments``, answered from a kept conversion of the same field
    and the same immutable values (module docstring); always a new dict (strawberry adds
    ``info`` and the parent to it)."""
    key = _key(arguments, value) if arguments else None
    kept = _kept.get(key) if key is not None else None
    if kept is not None and kept[0] is arguments:
        stats["kept"] += 1
        return dict(kept[1])
    stats["converted"] += 1
    converted = _convert(value, arguments, scalar_registry, config, info)
    if key is not None and _plain(converted):
        if len(_kept) >= MAX_KEPT:
            _kept.clear()
        _kept[key] = (arguments, dict(converted))
    return converted


def install() -> bool:
    """Use :func:`convert_arguments` in strawberry's resolvers; False (nothing changed) when
    strawberry no longer converts through the function this module wraps."""
    current = getattr(schema_converter, "convert_arguments", None)
    if current is convert_arguments:
        return True
    if current is not _convert:
        return False
    schema_converter.convert_arguments = convert_arguments
    return True


def uninstall() -> None:
    """Back to strawberry's own conversion (tests compare the answers of both)."""
    if getattr(schema_converter, "convert_arguments", None) is convert_arguments:
        schema_converter.convert_arguments = _convert
    _kept.clear()
