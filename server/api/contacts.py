"""Contacts: the person records that segments and journeys target."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay
from strawberry.types import Info

from ..contracts import CONSENT_LEVELS, CONTACT_ROLES
from ..errors import (
    ConflictError,
    ForbiddenError,
    InvalidInput,
    NotFound,
    NotFoundError,
    PluginErrorType,
    ValidationError,
    errors_as_data,
    plugin_errors,
)
from ..store import contacts as store
from .common import (
    DeletePayload,
    DeleteResult,
    clean_email,
    contains_text,
    order_input,
    raise_if,
    require_text,
    set_fields,
    stored_enum,
    vocabulary_enum,
)
from .interactions import INTERACTIONS
from .leads import LEADS
from .opportunities import OPPORTUNITIES
from .origin import api_actor
from .relay import Listing, StoredNode, connection_field, load_one, object_id, relation_field
from .segment_reads import contact_segments

if TYPE_CHECKING:  # built from leadgraph.contracts at import time; statically, Enums
    ContactRole = Enum
    ConsentLevel = Enum
else:
    ContactRole = vocabulary_enum(
        "ContactRole", CONTACT_ROLES, "The contact's role in buying decisions."
    )
    ConsentLevel = vocabulary_enum(
        "ConsentLevel", CONSENT_LEVELS, "Data-protection consent level granted by the contact."
    )


@strawberry.type(description="What the contact allows marketing to do.")
class ContactPreferences:
    allow_bulk_email: bool = strawberry.field(
        description="May marketing email from journeys reach this contact (subscription center)."
    )
    allow_email: bool = strawberry.field(
        description="May any app send any email, commercial or transactional."
    )
    allow_prefill: bool = strawberry.field(
        description="May marketing pages prefill forms for this contact ('remember me')."
    )
    track_email: bool = strawberry.field(
        description="Carried for segment criteria; no effect on scoring."
    )


@strawberry.type(description="Data protection: consent level, child status and guardian.")
class Consent:
    level: ConsentLevel | None
    is_child: bool
    guardian: str | None


@strawberry.type(description="Count of one interaction type.")
class InteractionCount:
    type: str
    count: int


@strawberry.type(description="Marketing insights: KPIs over the contact's interactions.")
class MarketingInsights:
    total: int
    last_activity_at: datetime | None
    _counts: strawberry.Private[dict[str, int]]

    @strawberry.field(description="Interactions by type, in type order.")
    def counts(self) -> list[InteractionCount]:
        # built when asked: most pages never list them, and a page builds one per contact
        return [InteractionCount(type=k, count=v) for k, v in sorted(self._counts.items())]


@strawberry.type(description="One person: customer, prospect, partner, vendor, speaker, sponsor.")
class Contact(StoredNode, collection=store.NAME):
    oid: relay.NodeID[str]
    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None
    job_title: str | None
    role: ContactRole | None
    marketing_source: str | None = strawberry.field(
        description="Which marketing initiative created this contact."
    )
    marketing_only: bool = strawberry.field(
        description="Created automatically for marketing (e.g. for an orphan lead); sales views "
        "may hide it. Cleared when a lead of the contact qualifies."
    )
    preferences: ContactPreferences
    consent: Consent
    subscriptions: list[str] = strawberry.field(
        description="Subscription lists the contact is subscribed to."
    )
    unsubscribed: list[str] = strawberry.field(
        description="Subscription lists the contact left: bulk adds (imports, "
        "subscribeContacts without resubscribe) never put it back on them."
    )
    insights: MarketingInsights
    created_at: datetime
    updated_at: datetime
    _doc: strawberry.Private[dict[str, Any]]

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Contact:
        prefs = {**store.DEFAULT_PREFERENCES, **(doc.get("preferences") or {})}
        consent = doc.get("consent") or {}
        insights = doc.get("insights") or {}
        return cls(
            oid=str(doc["_id"]),
            first_name=doc.get("firstName"),
            last_name=doc.get("lastName"),
            email=doc.get("email"),
            phone=doc.get("phone"),
            job_title=doc.get("jobTitle"),
            role=stored_enum(ContactRole, doc.get("role")),
            marketing_source=doc.get("marketingSource"),
            marketing_only=bool(doc.get("marketingOnly")),
            preferences=ContactPreferences(
                allow_bulk_email=bool(prefs["allowBulkEmail"]),
                allow_email=bool(prefs["allowEmail"]),
                allow_prefill=bool(prefs["allowPrefill"]),
                track_email=bool(prefs["trackEmail"]),
            ),
            consent=Consent(
                level=stored_enum(ConsentLevel, consent.get("level")),
                is_child=bool(consent.get("isChild")),
                guardian=consent.get("guardian"),
            ),
            subscriptions=list(doc.get("subscriptions") or []),
            unsubscribed=list(doc.get("unsubscribed") or []),
            insights=MarketingInsights(
                total=int(insights.get("total") or 0),
                last_activity_at=insights.get("lastActivityAt"),
                _counts=insights.get("counts") or {},
            ),
            created_at=doc["createdAt"],
            updated_at=doc.get("updatedAt") or doc["createdAt"],
            _doc=doc,
        )

    account = relation_field(
        "accounts",
        "accountId",
        "leadgraph.api.accounts:Account",
        description="The account (company) this contact works for.",
    )

    @strawberry.field(description="The published segments this contact is in now.")
    async def segments(self, info: Info) -> list[str]:
        return await contact_segments(info, self._doc["_id"])

    leads = connection_field(
        LEADS,
        parent_key="parentContactId",
        description="The contact's leads (its expressions of interest).",
    )
    interactions = connection_field(
        INTERACTIONS,
        parent_key="contactId",
        description="The contact's interactions, oldest first (`last: 5` gives the latest five).",
    )
    opportunities = connection_field(
        OPPORTUNITIES,
        parent_key="contactId",
        description="Opportunities of the contact's qualified leads.",
    )


@strawberry.input(description="Contact preferences to set; omitted fields stay as they are.")
class ContactPreferencesInput:
    allow_bulk_email: bool | None = strawberry.UNSET
    allow_email: bool | None = strawberry.UNSET
    allow_prefill: bool | None = strawberry.UNSET
    track_email: bool | None = strawberry.UNSET


@strawberry.input(description="Data-protection settings to set.")
class ConsentInput:
    level: ConsentLevel | None = strawberry.UNSET
    is_child: bool | None = strawberry.UNSET
    guardian: str | None = strawberry.UNSET


@strawberry.input(description="Filter contacts; all given conditions must hold.")
class ContactFilter:
    email: str | None = None
    name_contains: str | None = None
    account: relay.GlobalID | None = None
    role: ContactRole | None = None
    marketing_only: bool | None = None
    allow_bulk_email: bool | None = None
    allow_email: bool | None = None
    allow_prefill: bool | None = None
    track_email: bool | None = None
    consent_level: ConsentLevel | None = None
    is_child: bool | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


ContactOrder = order_input(
    "Contact", CREATED_AT="createdAt", UPDATED_AT="updatedAt", NAME="sortName"
)


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
    return store.filter_query(
        email=f.email,
        name_contains=contains_text(f.name_contains, "filter.nameContains"),
        account_id=object_id(f.account, "Account", "filter.account") if f.account else None,
        marketing_only=f.marketing_only,
        role=f.role.value if f.role else None,
        preferences=prefs,
        consent_level=f.consent_level.value if f.consent_level else None,
        is_child=f.is_child,
        created_after=f.created_after,
        created_before=f.created_before,
    )


CONTACTS = Listing(Contact, filter=ContactFilter, to_query=contact_query, order=ContactOrder)


@strawberry.type
class ContactQuery:
    contacts = connection_field(
        CONTACTS, description="Contacts, filtered and ordered, as a Relay connection."
    )

    @strawberry.field(description="One contact by global id.")
    async def contact(self, info: Info, id: relay.GlobalID) -> Contact | None:
        return await load_one(info, store.NAME, object_id(id, "Contact"), Contact.from_doc)


@strawberry.input(description="Fields of a new contact.")
class CreateContactInput:
    first_name: str | None = strawberry.UNSET
    last_name: str | None = strawberry.UNSET
    email: str | None = strawberry.UNSET
    phone: str | None = strawberry.UNSET
    job_title: str | None = strawberry.UNSET
    role: ContactRole | None = strawberry.UNSET
    account: relay.GlobalID | None = strawberry.UNSET
    marketing_source: str | None = strawberry.UNSET
    marketing_only: bool | None = strawberry.UNSET
    subscriptions: list[str] | None = strawberry.field(
        default=strawberry.UNSET,
        description="Active subscription lists (recorded as a `consent_changed` interaction).",
    )
    preferences: ContactPreferencesInput | None = strawberry.UNSET
    consent: ConsentInput | None = strawberry.UNSET


@strawberry.input(description="Changes to a contact; omitted fields stay as they are.")
class UpdateContactInput(CreateContactInput):
    id: relay.GlobalID


_FIELDS = {
    "first_name": "firstName",
    "last_name": "lastName",
    "email": "email",
    "phone": "phone",
    "job_title": "jobTitle",
    "role": "role",
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
    raise_if(errors)
    return fields


@strawberry.type(description="The contact after the change.")
class ContactPayload:
    contact: Contact
    plugin_errors: list[PluginErrorType] = strawberry.field(
        default_factory=list,
        description="Plugins that failed after the change was stored (event handlers), or "
        "while its leads were rescored (then their `scoreError` is set too).",
    )


ContactResult = Annotated[
    ContactPayload
    | ValidationError
    | NotFoundError
    | ForbiddenError
    | ConflictError
    | PluginErrorType,
    strawberry.union("ContactResult"),
]


@strawberry.type
class ContactMutation:
    @strawberry.mutation(description="Create a contact.")
    @errors_as_data
    async def create_contact(self, info: Info, input: CreateContactInput) -> ContactResult:
        info.context.require("contacts:write")
        fields = await contact_fields(info, input, creating=True)
        out = await info.context.services.records.create_contact(fields, api_actor(info))
        return ContactPayload(
            contact=Contact.from_doc(out.doc), plugin_errors=plugin_errors(out.plugin_failures)
        )

    @strawberry.mutation(
        description="Change a contact's fields. Preferences, consent and `subscriptions` (the "
        "exact set of lists: added ones must be active, removed ones count as unsubscribed) "
        "change through the consent service and are recorded as a `consent_changed` "
        "interaction. The leads whose scores can follow (a field the rules read) are rescored "
        "before the answer: `contact.leads` shows their new scores."
    )
    @errors_as_data
    async def update_contact(self, info: Info, input: UpdateContactInput) -> ContactResult:
        info.context.require("contacts:write")
        oid = object_id(input.id, "Contact", "input.id")
        fields = await contact_fields(info, input, creating=False)
        out = await info.context.services.records.update_contact(oid, fields, api_actor(info))
        if out is None:
            raise NotFound("Contact", str(input.id))
        return ContactPayload(
            contact=Contact.from_doc(out.doc), plugin_errors=plugin_errors(out.plugin_failures)
        )

    @strawberry.mutation(
        description="Delete a contact with its interactions; its leads lose it and every copy of "
        "the person (name, email, job title), so orphan linking cannot re-create it. To honour "
        "an erasure request use eraseContact."
    )
    @errors_as_data
    async def delete_contact(self, info: Info, id: relay.GlobalID) -> DeleteResult:
        info.context.require("contacts:delete")
        oid = object_id(id, "Contact")
        if not await info.context.services.records.delete_contact(oid):
            raise NotFound("Contact", str(id))
        return DeletePayload(deleted_id=relay.GlobalID("Contact", str(oid)))
