"""A capture's input checked before anything is written: the submitted fields parsed, the
fields its contact strategy needs present, and who acts (the person, through the form)."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidInput
from ..rules.fields import NO_FIELDS, CustomFields
from .consent import Actor
from .form_fields import Parsed, parse_fields
from .matching import Matching


def parsed_input(
    form_id: str, fields: Any, idempotency_key: str | None, custom: CustomFields = NO_FIELDS
) -> Parsed:
    """The submission's fields, validated (custom values against ``custom``), with its form
    id and key (:raises InvalidInput:)."""
    if not form_id or not form_id.strip():
        raise InvalidInput("input.formId", "must not be blank")
    if idempotency_key is not None and not idempotency_key.strip():
        raise InvalidInput("input.idempotencyKey", "must not be blank")
    return parse_fields(fields, custom=custom)


def custom_of(matching: Matching | None, rules: Any) -> CustomFields:
    """The custom fields of the live rules a capture runs with (the matching service's)."""
    live = matching.ruleset if matching is not None else rules
    fields = getattr(live, "custom_fields", None)
    return fields if isinstance(fields, CustomFields) else NO_FIELDS


def require_match_fields(matching: Matching, form_id: str, parsed: Parsed) -> None:
    """Without its fields the contact could never be matched again (a duplicate per
    submission): :raises InvalidInput: naming the fields the form's contact strategy needs."""
    cstrat = matching.strategy("contact", form_id)
    crecord = {**parsed.details, **parsed.contact, "formId": form_id}
    if matching.finds(cstrat) or matching.values(cstrat, crecord) is not None:
        return
    missing = [f for f in cstrat.fields if f != "formId" and not crecord.get(f)]
    raise InvalidInput(
        [
            (f"input.fields.{f}", f"is required by the contact matching strategy {cstrat.name}")
            for f in missing or cstrat.fields
        ]
    )


def actor_of(source: str, form_id: str, origin: dict[str, str | None] | None) -> Actor:
    """The person themselves, through this form (or event registration) and request."""
    return Actor(
        via="event" if source == "event" else "form",
        by=form_id,
        source=f"{source}:{form_id}",
        ip=(origin or {}).get("ip"),
        user_agent=(origin or {}).get("userAgent"),
        form_id=form_id,
    )
