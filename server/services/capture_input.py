"""A capture's input checked before anything is written: the submitted fields parsed, the
fields its contact strategy needs present, who acts (the person, through the form), the hash
of the input as sent, and the changes its contact fields make to a contact found."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .. import normalize
from ..contracts import CONTACT_TYPES
from ..errors import InvalidInput
from ..rules.fields import NO_FIELDS, CustomFields, missing_required
from ..rules.matcher import stored_path, viewed
from ..store import submissions
from .consent import Actor
from .form_fields import Parsed, contact_changes, parse_fields
from .matching import Matching


def parsed_input(form_id: str, fields: Any, idempotency_key: str | None, live: Any) -> Parsed:
    """The submission's fields, validated (custom values and the contact type against the
    ``live`` rules), with its form id and key (:raises InvalidInput:)."""
    if not form_id or not form_id.strip():
        raise InvalidInput("input.formId", "must not be blank")
    if idempotency_key is not None and not idempotency_key.strip():
        raise InvalidInput("input.idempotencyKey", "must not be blank")
    types = getattr(live, "contact_types", None) or CONTACT_TYPES
    return parse_fields(fields, custom=custom_of(None, live), contact_types=tuple(types))


def custom_of(matching: Matching | None, rules: Any) -> CustomFields:
    """The custom fields of the live rules a capture runs with (the matching service's)."""
    live = matching.ruleset if matching is not None else rules
    fields = getattr(live, "custom_fields", None)
    return fields if isinstance(fields, CustomFields) else NO_FIELDS


def require_custom(matching: Matching, entity: str, created: Mapping[str, Any]) -> None:
    """A submission that makes a new contact (or lead) must give its required custom fields
    (or they have a default); one that finds an existing record need not send them again.
    Called in the capture's transaction with the record it would create (defaults filled):
    :raises InvalidInput: naming ``input.fields.custom.<name>`` of each one missing (the
    transaction is abandoned: nothing is written)."""
    missing = missing_required(custom_of(matching, None), entity, created)
    if missing:
        why = f"is required for a new {entity}"
        raise InvalidInput([(f"input.fields.custom.{f.name}", why) for f in missing])


def require_match_fields(matching: Matching, form_id: str, parsed: Parsed) -> None:
    """Without its fields the contact could never be matched again (a duplicate per
    submission): :raises InvalidInput: naming the fields the form's contact strategy needs."""
    cstrat = matching.strategy("contact", form_id)
    crecord = {**parsed.details, **parsed.contact, "formId": form_id}
    if matching.finds(cstrat) or matching.values(cstrat, crecord) is not None:
        return
    viewed_record = viewed(crecord, cstrat)
    missing = [f for f in cstrat.fields if f != "formId" and not viewed_record.get(f)]
    raise InvalidInput(
        [
            (
                f"input.fields.{stored_path(f)}",
                f"is required by the contact matching strategy {cstrat.name}",
            )
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


def submitted_changes(contact: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """The ``$set`` of a submission's contact ``fields`` on the ``contact`` it found (its
    ``marketingSource`` is the first road's, kept), the sort name following the name."""
    changes = contact_changes({k: v for k, v in fields.items() if k != "marketingSource"})
    changes.pop("sortName", None)
    merged = {**contact, **fields}
    sort_name = normalize.sort_name(merged.get("firstName"), merged.get("lastName"))
    if contact.get("sortName") != sort_name:
        changes["sortName"] = sort_name
    return changes


def request_digest(
    form_id: str,
    fields: Any,
    interaction_type: str,
    event_id: str | None,
    marketing_context: dict[str, Any] | None,
    occurred_at: datetime | None,
) -> str:
    """The hash of a capture's input as the client sent it, kept with its idempotency key (and
    in its ``pending_captures`` note, so a capture run again keeps the client's hash)."""
    sent = [form_id, fields, interaction_type, event_id, marketing_context, occurred_at]
    return submissions.payload_hash(sent)
