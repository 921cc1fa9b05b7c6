"""Custom fields: what a ``fields:`` section (``rules/fields.yaml``) declares on contacts,
accounts and leads, and how a value given for one is checked.

A declared field is stored in the record's ``custom`` sub-document (``custom.<name>``), read by
conditions as ``contact.custom.<name>`` (``account.``, ``lead.``), shown typed on
``Contact.custom`` and checked on every write (:func:`check_custom`): the API's mutations,
form submissions, imports (by name or label, :func:`column_field`) and the subscription centre.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from .models.fields import (
    DEFAULT_MAX_LENGTH,
    ENTITIES,
    FIELD_TYPES,
    MAX_FIELDS,
    NO_FIELDS,
    CustomField,
    CustomFields,
    FieldType,
)

__all__ = [
    "DEFAULT_MAX_LENGTH",
    "ENTITIES",
    "FIELD_TYPES",
    "MAX_FIELDS",
    "NO_FIELDS",
    "Checked",
    "CustomField",
    "CustomFields",
    "FieldType",
    "check_custom",
    "coerce",
    "column_field",
    "custom_key_problem",
    "filter_query",
    "flat_changes",
    "from_text",
    "missing_required",
    "removal_errors",
    "removed",
    "removed_by_entity",
    "row_custom",
    "stored_changes",
    "undeclared_held",
    "value_at",
    "with_defaults",
]

# ---------------------------------------------------------------- values

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _as_date(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str) and _DATE.match(value.strip()):
        try:
            day = date.fromisoformat(value.strip())
        except ValueError:
            return None
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    return None


def coerce(f: CustomField, value: Any) -> tuple[Any, str | None]:
    """``(value as stored, None)`` or ``(None, why it is not a value of the field)``; ``None``
    is no value (allowed unless the field is required, which the caller checks)."""
    if value is None:
        return None, None
    kind = f.type
    if kind in ("string", "text"):
        if not isinstance(value, str):
            return None, f"expected text, got {_shown(value)}"
        limit = f.limit or 0
        if len(value) > limit:
            return None, f"at most {limit} characters (got {len(value)})"
        return value, None
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None, f"expected a number, got {_shown(value)}"
        if isinstance(value, float) and not math.isfinite(value):
            return None, "expected a finite number"
        if isinstance(value, int) and not -(2**53) <= value <= 2**53:
            return None, "a number beyond ±2^53 cannot be kept exactly"
        return value, None
    if kind == "boolean":
        if not isinstance(value, bool):
            return None, f"expected true or false, got {_shown(value)}"
        return value, None
    if kind == "date":
        day = _as_date(value)
        if day is None:
            return None, f"expected a date YYYY-MM-DD, got {_shown(value)}"
        return day, None
    if kind == "enum":
        if not isinstance(value, str) or value not in f.values:
            return None, f"expected one of: {', '.join(f.values)} (got {_shown(value)})"
        return value, None
    if not isinstance(value, list):
        return None, f"expected a list of: {', '.join(f.values)} (got {_shown(value)})"
    unknown = [v for v in value if not isinstance(v, str) or v not in f.values]
    if unknown:
        return None, f"unknown value {_shown(unknown[0])}; expected any of: {', '.join(f.values)}"
    return list(dict.fromkeys(value)), None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_TRUE = frozenset({"true", "yes", "y", "1"})
_FALSE = frozenset({"false", "no", "n", "0"})


def from_text(f: CustomField, text: Any) -> Any:
    """A value given as text (an import's cell, a form's field) as the field's type, when it
    reads as one (else the text itself, which :func:`coerce` then refuses); empty: no value."""
    if not isinstance(text, str):
        return text
    raw = text.strip()
    if raw == "":
        return None
    if f.type == "number":
        try:
            number = float(raw)
        except ValueError:
            return text
        return (
            int(number)
            if number.is_integer() and "." not in raw and "e" not in raw.lower()
            else number
        )
    if f.type == "boolean":
        low = raw.lower()
        return True if low in _TRUE else False if low in _FALSE else text
    if f.type == "multi-enum":
        return [part.strip() for part in re.split(r"[;,]", raw) if part.strip()]
    return text


@dataclass(frozen=True)
class Checked:
    """A checked ``custom`` input: the values to store by field name (None: clear it) and the
    problems, each ``(path, message)``."""

    values: dict[str, Any]
    errors: list[tuple[str, str]]


def check_custom(
    fields: CustomFields,
    entity: str,
    given: Any,
    *,
    creating: bool,
    path: str = "input.custom",
    as_text: bool = False,
) -> Checked:
    """Check the custom values ``given`` (a mapping of field name to value) for a new
    (``creating``: defaults filled, required ones needed) or an existing ``entity`` record.
    ``as_text``: values are text to read as the field's type first (imports, forms)."""
    errors: list[tuple[str, str]] = []
    out: dict[str, Any] = {}
    if given is None:
        given = {}
    if not isinstance(given, Mapping):
        return Checked({}, [(path, "expected an object of custom field values by name")])
    declared = fields.of(entity)
    for name, value in given.items():
        f = fields.field(entity, str(name))
        if f is None:
            retired = any(r.name == name for r in fields.of(entity, retired=True))
            known = ", ".join(d.name for d in declared) or f"none (no {entity} field is declared)"
            why = "is retired" if retired else "is not declared"
            errors.append((f"{path}.{name}", f"custom field {name!r} {why}; expected: {known}"))
            continue
        stored, problem = coerce(f, from_text(f, value) if as_text else value)
        if problem is None and stored is None and f.required:
            problem = "is required"
        if problem is not None:
            errors.append((f"{path}.{name}", problem))
        else:
            out[f.name] = stored
    if creating:
        for f in declared:
            if out.get(f.name) is None and f.default is not None:
                out[f.name] = coerce(f, f.default)[0]
            named = any(p == f"{path}.{f.name}" for p, _ in errors)
            if out.get(f.name) is None and f.required and not named:
                errors.append((f"{path}.{f.name}", "is required"))
    return Checked(out, errors)


def stored_changes(values: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
    """The record fields a checked input sets: ``custom`` whole for a new record (nothing
    when it has no value), ``custom.<name>`` each for an existing one (others stay)."""
    if creating:
        kept = {k: v for k, v in values.items() if v is not None}
        return {"custom": kept} if kept else {}
    return {f"custom.{k}": v for k, v in values.items()}


def flat_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """``changes`` (a ``$set`` of an existing record) with a ``custom`` object as
    ``custom.<name>`` keys: the named custom fields change, the others stay."""
    custom = changes.get("custom")
    if not isinstance(custom, Mapping):
        return changes
    out = {k: v for k, v in changes.items() if k != "custom"}
    out.update({f"custom.{k}": v for k, v in custom.items()})
    return out


def value_at(doc: Mapping[str, Any], key: str) -> Any:
    """A stored record's value of a ``$set`` key (``custom.<name>`` reaches into ``custom``)."""
    if key.startswith("custom."):
        custom = doc.get("custom")
        return custom.get(key[len("custom.") :]) if isinstance(custom, Mapping) else None
    return doc.get(key)


def row_custom(
    fields: CustomFields, entity: str, row: Mapping[str, Any]
) -> tuple[dict[str, Any], set[str]]:
    """An import row's custom values for ``entity``: each column naming a live field (by
    ``custom.<name>``, name or label) read as the field's type; ``(values, columns used)``.
    :raises ValueError: ``"<name>: <problem>"`` for a value that is not one of the field."""
    found: dict[str, Any] = {}
    used: set[str] = set()
    for column, value in row.items():
        f = column_field(fields, entity, str(column))
        if f is None:
            continue
        used.add(str(column))
        stored, problem = coerce(f, from_text(f, value))
        if problem is not None:
            raise ValueError(f"custom.{f.name}: {problem}")
        if stored is not None:
            found[f.name] = stored
    return found, used


def with_defaults(fields: CustomFields, entity: str, doc: Mapping[str, Any]) -> dict[str, Any]:
    """The new ``entity`` document ``doc`` (a copy) with the defaults of the custom fields it
    has no value of."""
    custom = dict(doc.get("custom") or {})
    for f in fields.of(entity):
        if custom.get(f.name) is None and f.default is not None:
            custom[f.name] = coerce(f, f.default)[0]
    return {**doc, "custom": custom} if custom else dict(doc)


def missing_required(
    fields: CustomFields, entity: str, doc: Mapping[str, Any]
) -> list[CustomField]:
    """The required live fields of ``entity`` a new record ``doc`` would be without (its
    defaults filled in): a form or an import row that creates it is refused."""
    custom = with_defaults(fields, entity, doc).get("custom") or {}
    return [f for f in fields.of(entity) if f.required and custom.get(f.name) is None]


def column_field(fields: CustomFields, entity: str, column: str) -> CustomField | None:
    """The live field an import column names: ``custom.<name>``, the name or the label
    (compared ignoring case and spaces)."""
    key = column.strip()
    if key.startswith("custom."):
        key = key[len("custom.") :]
    folded = _fold(key)
    for f in fields.of(entity):
        if f.name == key or _fold(f.name) == folded or (f.label and _fold(f.label) == folded):
            return f
    return None


def _fold(text: str) -> str:
    return "".join(text.split()).lower()


def custom_key_problem(entity: str, field: str, fields: CustomFields) -> str | None:
    """Why a ``<record type>.custom.<name>`` strategy field cannot be a key of an ``entity``
    strategy (None when it can: a declared, indexed field of that record type with one
    value)."""
    owner, _, name = field.partition(".custom.")
    if owner != entity:
        return f"a {entity} strategy compares {entity} fields, not {field!r}"
    f = fields.field(entity, name)
    indexed = ", ".join(d.name for d in fields.of(entity) if d.indexed) or "none"
    if f is None:
        return f"custom field {field!r} is not declared; indexed {entity} fields: {indexed}"
    if not f.indexed:
        return f"custom field {field!r} is not indexed (`indexed: true`); indexed: {indexed}"
    if f.type in ("multi-enum", "boolean"):
        return f"custom field {field!r} is a {f.type}: a key compares one value"
    return None


def removed(old: CustomFields, new: CustomFields) -> Iterable[tuple[str, CustomField]]:
    """The live fields of ``old`` that ``new`` neither declares nor retires: ``(entity,
    field)``."""
    for entity in ENTITIES:
        kept = {f.name for f in new.of(entity, retired=True)}
        for f in old.of(entity):
            if f.name not in kept:
                yield entity, f


def removed_by_entity(old: CustomFields, new: CustomFields) -> dict[str, list[str]]:
    """:func:`removed` as ``{record type: [field name, ...]}`` (types without one left out)."""
    out: dict[str, list[str]] = {}
    for entity, f in removed(old, new):
        out.setdefault(entity, []).append(f.name)
    return out


def undeclared_held(new: CustomFields, held: Mapping[str, int]) -> dict[str, int]:
    """Of ``held`` (``<type>.custom.<name>`` -> how many records hold a value, as the
    database says), those ``new`` neither declares nor retires."""
    out = {}
    for fact, n in held.items():
        entity, _, name = fact.partition(".custom.")
        if not any(f.name == name for f in new.of(entity, retired=True)):
            out[fact] = n
    return out


def removal_errors(
    held: Mapping[str, int], where: tuple[str, int, int]
) -> list[tuple[str, int, int, str]]:
    """``(file, line, column, message)`` for each removed field that records still hold
    (``held``: ``<type>.custom.<name>`` -> how many records)."""
    out = []
    for fact, n in sorted(held.items()):
        if n <= 0:
            continue
        entity, _, name = fact.partition(".custom.")
        message = (
            f"custom field {entity}.{name} is removed but {n} {entity}(s) hold a value of it; "
            f"keep it, or retire it (`retired: true` on the field: the values are kept, the "
            f"API no longer shows nor writes them)"
        )
        out.append((*where, message))
    return out


_RANGE = {"gt": "$gt", "gte": "$gte", "lt": "$lt", "lte": "$lte"}


def filter_query(
    fields: CustomFields, entity: str, given: Any, path: str = "filter.custom"
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The MongoDB query of a ``filter: {custom: {...}}``: by indexed field, a value (equal;
    for a multi-enum: holds it), a list (any of them) or, for numbers and dates, a range
    ``{gte, gt, lte, lt}``; null: no value.  ``(query, problems)``."""
    if not isinstance(given, Mapping):
        return {}, [(path, "expected an object of indexed custom field names to values")]
    query: dict[str, Any] = {}
    errors: list[tuple[str, str]] = []
    for name, wanted in given.items():
        at = f"{path}.{name}"
        f = fields.field(entity, str(name))
        if f is None or not f.indexed:
            known = ", ".join(d.name for d in fields.of(entity) if d.indexed) or "none"
            why = "is not indexed" if f is not None else "is not declared"
            errors.append((at, f"custom field {name!r} {why}; filterable: {known}"))
            continue
        single = CustomField(name=f.name, type="enum", values=f.values) if f.values else f
        if isinstance(wanted, Mapping) and f.type in ("number", "date"):
            unknown = sorted(set(wanted) - set(_RANGE))
            if unknown or not wanted:
                errors.append((at, "a range takes gte, gt, lte and lt"))
                continue
            bounds = {op: coerce(f, v) for op, v in wanted.items()}
            bad = next((p for _, p in bounds.values() if p), None)
            if bad:
                errors.append((at, bad))
                continue
            query[f"custom.{f.name}"] = {_RANGE[op]: v for op, (v, _) in bounds.items()}
            continue
        values = wanted if isinstance(wanted, list) else [wanted]
        checked = [coerce(single, v) for v in values]
        bad = next((p for _, p in checked if p), None)
        if bad or not values:
            errors.append((at, bad or "an empty list matches nothing"))
            continue
        stored = [v for v, _ in checked]
        query[f"custom.{f.name}"] = stored[0] if len(stored) == 1 else {"$in": stored}
    return query, errors
