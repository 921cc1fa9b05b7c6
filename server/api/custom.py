"""Custom fields in GraphQL: ``Contact.custom: ContactCustomFields`` (and Account's, Lead's),
one typed field per declared field, and the ``customFields`` query of their definitions.

The three ``<Type>CustomFields`` object types are built from the rules' ``fields:`` section
(:func:`install`) before a schema is built: the types here are module attributes that the
``custom`` fields name lazily, so each schema built (:func:`leadgraph.web.schema.build_schema`)
has the fields of the rules it was built for.  The server builds a new schema and swaps it in
when a rules reload changes the fields (:mod:`leadgraph.web.custom_schema`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from ..rules.fields import (
    ENTITIES,
    NO_FIELDS,
    CustomField,
    CustomFields,
    check_custom,
    coerce,
    filter_query,
    stored_changes,
)
from ..rules.loader import parse_bytes, read_file, rule_files
from .common import raise_if

_TITLES = {"contact": "Contact", "account": "Account", "lead": "Lead"}
_GRAPHQL: dict[str, Any] = {
    "string": str,
    "text": str,
    "number": float,
    "boolean": bool,
    "date": date,
    "enum": str,
    "multi-enum": list[str],
}


def shown(f: CustomField, value: Any) -> Any:
    """A stored value as its field's GraphQL type shows it; null when it is not one (stored
    before the field's type changed)."""
    if value is None:
        return None
    if f.type in ("string", "text"):
        return value if isinstance(value, str) else None
    if f.type == "date":
        return value.date() if isinstance(value, datetime) else None
    stored, problem = coerce(f, value)
    if problem is not None:
        return None
    return float(stored) if f.type == "number" else stored


def _description(entity: str, f: CustomField) -> str:
    text = f.description or f.label or f"The custom field {f.name} of the {entity}."
    if f.label and f.description:
        text = f"{f.label}: {f.description}"
    if f.type in ("enum", "multi-enum"):
        text += f" ({'one' if f.type == 'enum' else 'any'} of: {', '.join(f.values)})"
    return text


def _resolver(f: CustomField) -> Callable[..., Any]:
    def resolve(root: Mapping[str, Any]) -> Any:
        return shown(f, root.get(f.name))

    resolve.__annotations__ = {"root": Any, "return": _GRAPHQL[f.type] | None}
    return resolve


def _set_fields(names: tuple[str, ...]) -> Callable[..., list[str]]:
    def resolve(root: Mapping[str, Any]) -> list[str]:
        return [n for n in names if root.get(n) is not None]

    resolve.__annotations__ = {"root": Any, "return": list[str]}
    return resolve


def custom_type(entity: str, fields: CustomFields) -> type:
    """The ``<Type>CustomFields`` object type of ``entity``'s live fields."""
    title = _TITLES[entity]
    declared = fields.of(entity)
    namespace: dict[str, Any] = {
        "set_fields": strawberry.field(
            resolver=_set_fields(tuple(f.name for f in declared)),
            name="setFields",
            description="The custom fields that hold a value on this record, in declared order.",
        )
    }
    for f in declared:
        namespace[f"field_{f.name}"] = strawberry.field(
            resolver=_resolver(f), name=f.name, description=_description(entity, f)
        )
    cls = type(f"{title}CustomFields", (), namespace)
    described = (
        f"The custom fields of a {entity}, as the rules' `fields:` section declares them "
        f"(`{entity}.custom.<name>` in conditions)."
    )
    return strawberry.type(cls, name=f"{title}CustomFields", description=described)


ContactCustomFields: type = custom_type("contact", NO_FIELDS)
AccountCustomFields: type = custom_type("account", NO_FIELDS)
LeadCustomFields: type = custom_type("lead", NO_FIELDS)


def install(fields: CustomFields) -> None:
    """Make the ``<Type>CustomFields`` types those of ``fields``, for the next schema built."""
    global ContactCustomFields, AccountCustomFields, LeadCustomFields
    ContactCustomFields = custom_type("contact", fields)
    AccountCustomFields = custom_type("account", fields)
    LeadCustomFields = custom_type("lead", fields)


def fields_of_directory(directory: Path) -> CustomFields:
    """The ``fields:`` section of a rules directory's files, read without the rest of the
    rules (the exported schema's, and the server's first schema before its rules load); none
    when no valid file declares one."""
    try:
        paths = rule_files(directory)
    except OSError:
        return NO_FIELDS
    for path in paths:
        data, _ = read_file(path, directory)
        model = parse_bytes(data, path.name)[0] if data is not None else None
        if model is not None and model.fields is not None:
            return model.fields
    return NO_FIELDS


def custom_values(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A record's stored custom values (what ``<Type>CustomFields`` reads)."""
    found = doc.get("custom")
    return dict(found) if isinstance(found, Mapping) else {}


# ---------------------------------------------------------------- definitions


@strawberry.enum(description="A record type that has custom fields.")
class CustomFieldEntity(Enum):
    CONTACT = strawberry.enum_value("contact", description="Contacts (people).")
    ACCOUNT = strawberry.enum_value("account", description="Accounts (companies).")
    LEAD = strawberry.enum_value("lead", description="Leads (expressions of interest).")


@strawberry.enum(description="The type of a custom field's values.")
class CustomFieldType(Enum):
    STRING = strawberry.enum_value("string", description="Short text (String).")
    TEXT = strawberry.enum_value("text", description="Long text (String).")
    NUMBER = strawberry.enum_value("number", description="A number (Float).")
    BOOLEAN = strawberry.enum_value("boolean", description="True or false.")
    DATE = strawberry.enum_value("date", description="A day, YYYY-MM-DD (Date).")
    ENUM = strawberry.enum_value("enum", description="One of the field's `values`.")
    MULTI_ENUM = strawberry.enum_value("multi-enum", description="A list of the field's `values`.")


@strawberry.type(description="A custom field the rules declare (the `fields:` section).")
class CustomFieldDefinition:
    entity: CustomFieldEntity = strawberry.field(description="The record type it belongs to.")
    name: str = strawberry.field(
        description="`custom.<name>`: in inputs, records, conditions and the typed fields."
    )
    label: str = strawberry.field(description="Shown to people; imports map columns by it.")
    description: str = strawberry.field(description="What the field holds.")
    type: CustomFieldType = strawberry.field(description="The type of its values.")
    required: bool = strawberry.field(description="Every record must hold a value.")
    default: JSON | None = strawberry.field(description="What a new record gets when not given.")
    max_length: int | None = strawberry.field(
        description="string / text: the most characters a value may have."
    )
    values: list[str] = strawberry.field(description="enum / multi-enum: the allowed values.")
    indexed: bool = strawberry.field(
        description="Filterable (`filter: {custom: {<name>: ...}}`), with a database index."
    )
    subscription_centre: bool = strawberry.field(
        description="The person sees and changes it in the subscription centre."
    )
    retired: bool = strawberry.field(
        description="Retired: not shown nor written any more; stored values are kept."
    )

    @classmethod
    def of(cls, entity: str, f: CustomField) -> CustomFieldDefinition:
        default: Any = f.default.isoformat() if isinstance(f.default, date) else f.default
        return cls(
            entity=CustomFieldEntity(entity),
            name=f.name,
            label=f.label,
            description=f.description,
            type=CustomFieldType(f.type),
            required=f.required,
            default=default,
            max_length=f.limit,
            values=list(f.values),
            indexed=f.indexed,
            subscription_centre=f.subscription_centre,
            retired=f.retired,
        )


def definitions(
    fields: CustomFields, entities: Iterable[str], retired: bool
) -> list[CustomFieldDefinition]:
    return [CustomFieldDefinition.of(e, f) for e in entities for f in fields.of(e, retired=retired)]


def live_fields(info: Info) -> CustomFields:
    """The custom fields of the live rules (none without rules)."""
    manager = info.context.rules
    current = getattr(manager, "current", None)
    return current.custom_fields if current is not None else NO_FIELDS


@strawberry.type
class CustomFieldsQuery:
    @strawberry.field(
        description="The custom fields the live rules declare, per record type in declared order."
    )
    def custom_fields(
        self,
        info: Info,
        entity: Annotated[
            CustomFieldEntity | None,
            strawberry.argument(description="Only this record type's fields."),
        ] = None,
        include_retired: Annotated[
            bool, strawberry.argument(description="List the retired fields too.")
        ] = False,
    ) -> list[CustomFieldDefinition]:
        entities = [str(entity.value)] if entity is not None else list(ENTITIES)
        return definitions(live_fields(info), entities, include_retired)


def custom_input(
    info: Info, entity: str, given: Any, *, creating: bool, errors: list[tuple[str, str]]
) -> dict[str, Any]:
    """The record fields a mutation's ``custom`` input sets (``custom`` for a new record,
    ``custom.<name>`` for an existing one), checked against the live rules' fields; its
    problems go to ``errors`` as ``input.custom.<name>``.  A new record gets the defaults
    and must have the required fields even when the input has no ``custom``."""
    if given is strawberry.UNSET:
        given = None
    if given is None and not creating:
        return {}
    checked = check_custom(live_fields(info), entity, given, creating=creating)
    errors.extend(checked.errors)
    return stored_changes(checked.values, creating=creating)


def custom_query(info: Info, entity: str, filter: Any) -> dict[str, Any]:
    """The query of a listing filter's ``custom`` (none when not given), checked against the
    live rules' indexed fields (:class:`InvalidInput` naming ``filter.custom.<name>``)."""
    given = getattr(filter, "custom", None)
    if given is None or given is strawberry.UNSET:
        return {}
    query, errors = filter_query(live_fields(info), entity, given)
    raise_if(errors)
    return query


CUSTOM_FILTER = "Records by their indexed custom fields (`customFields` lists them): "
CUSTOM_FILTER += "{name: value} (equal; a multi-enum holds it), {name: [a, b]} (any of them), "
CUSTOM_FILTER += "{name: {gte: 10, lt: 20}} (numbers and dates), {name: null} (no value)."

CUSTOM_INPUT = "Custom field values by name (`customFields` lists them): each is checked "
CUSTOM_INPUT += "against its declared type; null clears one. Omitted fields stay as they are."


def custom_field(entity: str) -> Any:
    """The ``custom`` field of ``entity``'s GraphQL type (a resolver reading ``self._doc``)."""
    title = _TITLES[entity]
    lazy: Any = Annotated[f"{title}CustomFields", strawberry.lazy("leadgraph.api.custom")]

    def resolve(root: Any) -> Any:
        return custom_values(root._doc)

    resolve.__annotations__ = {"root": Any, "return": lazy}
    return strawberry.field(
        resolver=resolve,
        description=f"The {entity}'s custom fields, typed as the rules declare them.",
    )
