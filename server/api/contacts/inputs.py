"""What contacts are filtered, ordered and written by: filters, order, create/update inputs
and their mapping to stored fields."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from ... import documents
from ...errors import InvalidInput
from ...services import listing
from ..common import (
    check_names,
    clean_email,
    contains_text,
    name_problems,
    order_input,
    raise_if,
    require_text,
    set_fields,
    time_from,
    time_until,
)
from ..custom import CUSTOM_FILTER, CUSTOM_INPUT, custom_input
from ..relay import object_id
from .types import ConsentLevel, ContactRole


@strawberry.input(description="Contact preferences to set; omitted fields stay as they are.")
class ContactPreferencesInput:
    allow_bulk_email: bool | None = strawberry.field(
        default=strawberry.UNSET,
        description="May marketing email from journeys reach the contact.",
    )
    allow_email: bool | None = strawberry.field(
        default=strawberry.UNSET,
        description="May any app send the contact any email, commercial or transactional.",
    )
    allow_prefill: bool | None = strawberry.field(
        default=strawberry.UNSET,
        description="May marketing pages prefill forms for the contact ('remember me').",
    )
    track_email: bool | None = strawberry.field(
        default=strawberry.UNSET,
        description="Track the contact's email engagement (usable in segment criteria; no effect "
        "on scoring).",
    )


@strawberry.input(description="Data-protection settings to set.")
class ConsentInput:
    level: ConsentLevel | None = strawberry.field(
        default=strawberry.UNSET,
        description="The data-protection consent level the contact granted; null clears it.",
    )
    is_child: bool | None = strawberry.field(
        default=strawberry.UNSET,
        description="The contact is a child (then give `guardian`).",
    )
    guardian: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="The child's parent or guardian (free text); null clears it.",
    )


@strawberry.input(description="Filter contacts; all given conditions must hold.")
class ContactFilter:
    email: str | None = strawberry.field(
        default=None,
        description="The contact's email address (compared normalised: case and spaces ignored).",
    )
    name_contains: str | None = strawberry.field(
        default=None, description="Text in the contact's first or last name, ignoring case."
    )
    account: relay.GlobalID | None = strawberry.field(
        default=None, description="The contacts of this account (its employees)."
    )
    role: ContactRole | None = strawberry.field(
        default=None, description="The contact's role in buying decisions."
    )
    contact_type: str | None = strawberry.field(
        default=None,
        description="What kind of contact: a contact type the live rules know (customer, "
        "prospect, partner, vendor, speaker, sponsor, or one a rule file's `contact_types` "
        "adds); an unknown one is BAD_USER_INPUT naming the known ones.",
    )
    marketing_only: bool | None = strawberry.field(
        default=None,
        description="Contacts created automatically for marketing (true), or the others (false).",
    )
    include_marketing_only: bool | None = strawberry.field(
        default=None,
        description="For a sales key: list marketing-only contacts too (sales views leave them "
        "out by default). Other roles see every contact; `marketingOnly` filters exactly.",
    )
    allow_bulk_email: bool | None = strawberry.field(
        default=None, description="Whether marketing email from journeys may reach the contact."
    )
    allow_email: bool | None = strawberry.field(
        default=None, description="Whether any app may send the contact any email."
    )
    allow_prefill: bool | None = strawberry.field(
        default=None, description="Whether marketing pages may prefill forms for the contact."
    )
    track_email: bool | None = strawberry.field(
        default=None, description="Whether the contact's email engagement is tracked."
    )
    consent_level: ConsentLevel | None = strawberry.field(
        default=None, description="The data-protection consent the contact granted."
    )
    is_child: bool | None = strawberry.field(
        default=None, description="Whether the contact is a child (data protection)."
    )
    created_after: datetime | None = time_from()
    created_before: datetime | None = time_until()
    custom: JSON | None = strawberry.field(default=None, description=CUSTOM_FILTER)


ContactOrder = order_input(
    "Contact", CREATED_AT="createdAt", UPDATED_AT="updatedAt", NAME="sortName"
)


#: Roles whose ``contacts`` leave marketing-only contacts out unless asked (sales views).
HIDE_MARKETING_ONLY = frozenset({"sales"})


def contact_scope(info: Info, f: ContactFilter | None) -> dict[str, Any]:
    """What the caller's role adds to ``contacts``: a sales key does not see marketing-only
    contacts unless the filter names ``marketingOnly`` or says ``includeMarketingOnly``."""
    principal = info.context.principal
    if principal is None or principal.role not in HIDE_MARKETING_ONLY:
        return {}
    if f is not None and (f.include_marketing_only or f.marketing_only is not None):
        return {}
    return {"marketingOnly": False}


def check_contact_names(info: Info, f: ContactFilter | None, order_by: Any) -> None:
    """The contact type a contact listing names (``filter.contactType``) must be one the live
    rules know."""
    check_names(info, [("filter.contactType", "contact.contactType", f and f.contact_type)])


def contact_query(f: ContactFilter) -> dict[str, Any]:
    prefs = {
        k: v
        for k, v in {
            "allowBulkEmail": f.allow_bulk_email,
            "allowEmail": f.allow_email,
            "allowPrefill": f.allow_prefill,
            "trackEmail": f.track_email,
        }.items()
        if v is not None
    }
    return listing.query(
        documents.CONTACTS,
        email=f.email,
        name_contains=contains_text(f.name_contains, "filter.nameContains"),
        account_id=object_id(f.account, "Account", "filter.account") if f.account else None,
        marketing_only=f.marketing_only,
        role=f.role.value if f.role else None,
        contact_type=f.contact_type,
        preferences=prefs,
        consent_level=f.consent_level.value if f.consent_level else None,
        is_child=f.is_child,
        created_after=f.created_after,
        created_before=f.created_before,
    )


@strawberry.input(description="Fields of a new contact.")
class CreateContactInput:
    first_name: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Given name; must not be blank when given.",
    )
    last_name: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Family name; must not be blank when given. A new contact needs a last name "
        "or an email.",
    )
    email: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Email address (validated; matching compares it normalised, case ignored). A "
        "new contact needs an email or a last name.",
    )
    phone: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Phone number, as the contact gave it.",
    )
    job_title: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Job title (free text).",
    )
    role: ContactRole | None = strawberry.field(
        default=strawberry.UNSET,
        description="The contact's role in buying decisions; null clears it.",
    )
    contact_type: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="What kind of contact (customer, prospect, partner, vendor, speaker, "
        "sponsor, or a type a rule file's `contact_types` adds); null clears it. An unknown "
        "type is a ValidationError naming the known ones.",
    )
    account: relay.GlobalID | None = strawberry.field(
        default=strawberry.UNSET,
        description="The account (company) the contact works for, by global id; null unlinks it. "
        "The account must exist.",
    )
    marketing_source: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Which marketing initiative brought the contact in (free text, e.g. a "
        "campaign name).",
    )
    marketing_only: bool | None = strawberry.field(
        default=strawberry.UNSET,
        description="A contact kept for marketing only (sales views hide it); cleared "
        "automatically when one of its leads qualifies.",
    )
    subscriptions: list[str] | None = strawberry.field(
        default=strawberry.UNSET,
        description="Active subscription lists (recorded as a `consent_changed` interaction).",
    )
    preferences: ContactPreferencesInput | None = strawberry.field(
        default=strawberry.UNSET,
        description="Contact preferences; omitted ones keep their value (new contacts start from "
        "the defaults).",
    )
    consent: ConsentInput | None = strawberry.field(
        default=strawberry.UNSET,
        description="Data-protection settings; omitted ones keep their value.",
    )
    custom: JSON | None = strawberry.field(default=strawberry.UNSET, description=CUSTOM_INPUT)


@strawberry.input(description="Changes to a contact; omitted fields stay as they are.")
class UpdateContactInput(CreateContactInput):
    id: relay.GlobalID = strawberry.field(description="The contact to change (its global id).")


_FIELDS = {
    "first_name": "firstName",
    "last_name": "lastName",
    "email": "email",
    "phone": "phone",
    "job_title": "jobTitle",
    "role": "role",
    "contact_type": "contactType",
    "marketing_source": "marketingSource",
    "marketing_only": "marketingOnly",
    "subscriptions": "subscriptions",
}
_PREFS = {
    "allow_bulk_email": "allowBulkEmail",
    "allow_email": "allowEmail",
    "allow_prefill": "allowPrefill",
    "track_email": "trackEmail",
}
_CONSENT = {"level": "level", "is_child": "isChild", "guardian": "guardian"}


async def contact_fields(info: Info, input: CreateContactInput, creating: bool) -> dict[str, Any]:
    """Validate a contact input; returns storable fields or raises InvalidInput naming fields."""
    errors: list[tuple[str, str]] = []
    fields = set_fields(input, _FIELDS)
    if fields.get("contactType") is not None:
        errors += name_problems(
            info, "input.contactType", "contact.contactType", fields["contactType"]
        )
    if "email" in fields:
        fields["email"] = clean_email(fields["email"], "input.email", errors)
    for name in ("firstName", "lastName"):
        require_text(fields.get(name), f"input.{name}", errors)
    if creating and not (fields.get("email") or fields.get("lastName")):
        errors.append(("input.lastName", "a contact needs a lastName or an email"))
    for attr, sub in (("preferences", _PREFS), ("consent", _CONSENT)):
        value = getattr(input, attr, strawberry.UNSET)
        if value not in (strawberry.UNSET, None):
            fields[attr] = set_fields(value, sub)
            if attr == "preferences":
                for key, val in fields[attr].items():
                    if val is None:
                        errors.append((f"input.preferences.{key}", "must be true or false"))
    account = getattr(input, "account", strawberry.UNSET)
    if account is not strawberry.UNSET:
        if account is None:
            fields["accountId"] = None
        else:
            try:
                oid = object_id(account, "Account", "input.account")
            except InvalidInput as exc:
                errors.extend(exc.errors)
            else:
                if await info.context.loaders.by_id("accounts").load(oid) is None:
                    errors.append(("input.account", f"no Account with id {account}"))
                fields["accountId"] = oid
    fields.update(custom_input(info, "contact", input.custom, creating=creating, errors=errors))
    raise_if(errors)
    return fields
