"""The custom fields a person changes in the subscription centre: the contact fields the rules
mark ``subscription_centre: true`` (their interests, say), shown on the centre's page and
checked like every write (:func:`leadgraph.rules.fields.check_custom`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..errors import InvalidInput
from ..rules.fields import NO_FIELDS, CustomFields, check_custom, stored_changes


def centre_fields(fields: CustomFields | None) -> CustomFields:
    """The contact fields of ``fields`` the person may see and change in the centre."""
    if fields is None:
        return NO_FIELDS
    return CustomFields(contact=[f for f in fields.of("contact") if f.subscription_centre])


def centre_values(fields: CustomFields | None, contact: Mapping[str, Any]) -> dict[str, Any]:
    """The contact's values of the centre's fields, by name (dates as YYYY-MM-DD; a field
    without a value is null)."""
    stored = contact.get("custom")
    values = stored if isinstance(stored, Mapping) else {}
    out: dict[str, Any] = {}
    for f in centre_fields(fields).of("contact"):
        value = values.get(f.name)
        out[f.name] = value.date().isoformat() if isinstance(value, datetime) else value
    return out


def centre_changes(fields: CustomFields | None, given: Any) -> dict[str, Any]:
    """The ``$set`` of a centre update's ``custom`` values (none given: nothing).
    :raises InvalidInput: naming ``input.custom.<name>`` for a field that is not the centre's
    or a value that is not one of its field."""
    if given is None:
        return {}
    allowed = centre_fields(fields)
    if isinstance(given, Mapping):
        others = [
            (f"input.custom.{name}", "is not changed in the subscription centre")
            for name in given
            if allowed.field("contact", str(name)) is None
            and fields is not None
            and fields.field("contact", str(name)) is not None
        ]
        if others:
            raise InvalidInput(others)
    checked = check_custom(allowed, "contact", given, creating=False)
    if checked.errors:
        raise InvalidInput(checked.errors)
    return stored_changes(checked.values, creating=False)
