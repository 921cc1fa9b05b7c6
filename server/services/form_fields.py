"""A form submission's ``fields``, validated and split by destination: the contact's
fields, the lead's, consent and preferences, subscription lists, and the rest (kept as the
interaction's details).  Used by capture (:mod:`leadgraph.services.capture`) and the import
(:mod:`leadgraph.services.import_batch`)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from .. import json_values, normalize
from ..contracts import CONSENT_LEVELS, CONTACT_ROLES, CONTACT_TYPES
from ..errors import InvalidInput
from ..rules.fields import NO_FIELDS, CustomFields, check_custom, flat_changes
from ..store import contacts

CONTACT_FIELDS = ("firstName", "lastName", "email", "phone", "jobTitle", "role", "marketingSource")
PREFERENCE_FIELDS = ("allowBulkEmail", "allowEmail", "allowPrefill", "trackEmail")
LEAD_FIELDS = ("topic", "companyName", "jobTitle", "firstName", "lastName", "email")
MAX_DETAILS = json_values.MAX_BYTES
CONSENT = ("level", "isChild", "guardian")  # the consent object's fields


@dataclass
class Parsed:
    """A submission's ``fields`` split by destination."""

    contact: dict[str, Any] = field(default_factory=dict)
    lead: dict[str, Any] = field(default_factory=dict)
    subscriptions: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


def parse_fields(
    raw: Any,
    prefix: str = "input.fields",
    custom: CustomFields = NO_FIELDS,
    contact_types: Collection[str] = CONTACT_TYPES,
) -> Parsed:
    """Validate submitted form fields; raises InvalidInput naming each bad field.  A
    ``custom`` object holds custom field values (text read as each field's type) of the
    contact or the lead, by the names ``custom`` declares for them; ``contactType`` must be
    one of ``contact_types`` (the live rules' vocabulary)."""
    if not isinstance(raw, dict):
        raise InvalidInput(prefix, "must be a JSON object of field name to value")
    errors: list[tuple[str, str]] = []
    out = Parsed()
    for name, value in raw.items():
        path = f"{prefix}.{name}"
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if name in PREFERENCE_FIELDS:
            if not isinstance(value, bool):
                errors.append((path, "must be true or false"))
                continue
            out.contact.setdefault("preferences", {})[name] = value
        elif name == "consent":
            consent = {"level": value} if isinstance(value, str) else value
            if not isinstance(consent, dict):
                errors.append((path, "must be a consent level or an object"))
                continue
            bad = [(f"{path}.{k}", "is not a consent field") for k in consent if k not in CONSENT]
            level, is_child, guardian = (consent.get(k) for k in CONSENT)
            if level is not None and (not isinstance(level, str) or level not in CONSENT_LEVELS):
                bad.append((f"{path}.level", f"must be one of {', '.join(CONSENT_LEVELS)}"))
            if is_child is not None and not isinstance(is_child, bool):
                bad.append((f"{path}.isChild", "must be true or false"))
            if guardian is not None and not isinstance(guardian, str):
                bad.append((f"{path}.guardian", "must be a string"))
            errors.extend(bad)
            if not bad:
                out.contact["consent"] = {k: consent[k] for k in CONSENT if k in consent}
        elif name == "subscriptions":
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                errors.append((path, "must be a list of subscription list names"))
                continue
            out.subscriptions = [i.strip() for i in items if i.strip()]
        elif name == "custom":
            errors.extend(_custom(custom, value, f"{prefix}.custom", out))
        elif name == "contactType":
            problem = contact_type_problem(value, contact_types)
            if problem:
                errors.append((path, problem))
            else:
                out.contact["contactType"] = value.strip()
        elif name in CONTACT_FIELDS or name in LEAD_FIELDS:
            if not isinstance(value, str):
                errors.append((path, "must be a string"))
                continue
            value = value.strip()
            if name == "email":
                try:
                    normalize.email(value)
                except normalize.InvalidValue as exc:
                    errors.append((path, str(exc)))
                    continue
            if name == "role" and value not in CONTACT_ROLES:
                errors.append((path, f"must be one of {', '.join(CONTACT_ROLES)}"))
                continue
            if name in CONTACT_FIELDS:
                out.contact[name] = value
            if name in LEAD_FIELDS:
                out.lead[name] = value
        else:
            out.details[name] = value
    errors.extend(json_values.problems(out.details, prefix))
    if out.details and json_values.too_large(out.details, MAX_DETAILS):
        errors.append((prefix, "the fields kept as interaction details must be at most 16 KiB"))
    if errors:
        raise InvalidInput(errors)
    return out


def contact_type_problem(value: Any, known: Collection[str]) -> str | None:
    """Why ``value`` is not a contact type of the vocabulary ``known`` (None when it is)."""
    text = value.strip() if isinstance(value, str) else value
    if isinstance(text, str) and text in known:
        return None
    return f"unknown contact type {text!r}; expected one of: {', '.join(known)}"


def contact_changes(fields: dict[str, Any]) -> dict[str, Any]:
    """The ``$set`` map for submitted contact fields (derived fields recomputed)."""
    scratch: dict[str, Any] = {}
    changes = flat_changes(contacts.apply_fields(scratch, fields))
    if "sortName" in changes and not ("firstName" in fields and "lastName" in fields):
        changes.pop("sortName")  # needs the stored other half of the name: left as it was
    return changes


def _custom(custom: CustomFields, value: Any, path: str, out: Parsed) -> list[tuple[str, str]]:
    """A submission's ``custom`` values into ``out.contact`` / ``out.lead`` (a name declared
    for both goes to both); the problems, each naming ``<path>.<name>``."""
    if not isinstance(value, dict):
        return [(path, "must be a JSON object of custom field name to value")]
    errors: list[tuple[str, str]] = []
    for name, given in value.items():
        targets = [
            (e, r)
            for e, r in (("contact", out.contact), ("lead", out.lead))
            if custom.field(e, str(name)) is not None
        ]
        if not targets:
            known = sorted({f.name for e in ("contact", "lead") for f in custom.of(e)})
            errors.append(
                (
                    f"{path}.{name}",
                    f"custom field {name!r} is not declared for "
                    f"contacts or leads; expected: {', '.join(known) or 'none'}",
                )
            )
            continue
        for entity, record in targets:
            checked = check_custom(
                custom, entity, {name: given}, creating=False, path=path, as_text=True
            )
            errors.extend(checked.errors)
            record.setdefault("custom", {}).update(checked.values)
    return list(dict.fromkeys(errors))
