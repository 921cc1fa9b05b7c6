"""Contacts: the Contact type, its preferences, consent and insights, and the payload of a
change."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay
from strawberry.types import Info

from ... import documents
from ...contracts import CONSENT_LEVELS, CONTACT_ROLES
from ..common import stored_enum, vocabulary_enum
from ..custom import custom_field
from ..errors import ConflictError, ForbiddenError, NotFoundError, PluginErrorType, ValidationError
from ..insights import MarketingInsights
from ..interactions.inputs import INTERACTIONS
from ..leads.resolvers import LEADS
from ..opportunities import OPPORTUNITIES
from ..relay import StoredNode, connection_field, relation_field
from ..segments.reads import contact_segments

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


@strawberry.type(
    name="Consent", description="Data protection: consent level, child status and guardian."
)
class ContactConsent:
    level: ConsentLevel | None = strawberry.field(
        description="The data-protection consent level the contact granted; null when never "
        "recorded.",
    )
    is_child: bool = strawberry.field(
        description="The contact is a child: a parent or guardian (`guardian`) acts for them.",
    )
    guardian: str | None = strawberry.field(
        description="The child contact's parent or guardian, as recorded (free text); null for "
        "adults or when unknown.",
    )


@strawberry.type(description="One person: customer, prospect, partner, vendor, speaker, sponsor.")
class Contact(StoredNode, collection=documents.CONTACTS):
    oid: relay.NodeID[str]
    first_name: str | None = strawberry.field(
        description="Given name; null when not known (e.g. an imported email-only contact).",
    )
    last_name: str | None = strawberry.field(description="Family name; null when not known.")
    email: str | None = strawberry.field(
        description="Primary email address as entered, trimmed; matching compares it normalised "
        "(case ignored). Null when the contact has none.",
    )
    phone: str | None = strawberry.field(
        description="Phone number as entered; null when not known.",
    )
    job_title: str | None = strawberry.field(
        description="Job title as entered (free text); `role` is the controlled buying role.",
    )
    role: ContactRole | None = strawberry.field(
        description="The contact's role in buying decisions; null when not set (or a stored value "
        "the vocabulary no longer knows).",
    )
    contact_type: str | None = strawberry.field(
        description="What kind of contact: customer, prospect, partner, vendor, speaker, "
        "sponsor, or a type a rule file's `contact_types` adds; null when not set.",
    )
    marketing_source: str | None = strawberry.field(
        description="Which marketing initiative created this contact."
    )
    marketing_only: bool = strawberry.field(
        description="Created automatically for marketing (e.g. for an orphan lead); sales views "
        "may hide it. Cleared when a lead of the contact qualifies."
    )
    preferences: ContactPreferences = strawberry.field(
        description="What the contact allows marketing and apps to do (the contact can change "
        "`allowBulkEmail` in the subscription centre).",
    )
    consent: ContactConsent = strawberry.field(
        description="Data protection: consent level, whether the contact is a child, and the "
        "guardian.",
    )
    subscriptions: list[str] = strawberry.field(
        description="Subscription lists the contact is subscribed to."
    )
    unsubscribed: list[str] = strawberry.field(
        description="Subscription lists the contact left: bulk adds (imports, "
        "subscribeContacts without resubscribe) never put it back on them."
    )
    insights: MarketingInsights = strawberry.field(
        description="Marketing insights: counts over the contact's interactions.",
    )
    created_at: datetime = strawberry.field(description="When the contact was created.")
    updated_at: datetime = strawberry.field(
        description="When the contact last changed (its creation time if never changed).",
    )
    _doc: strawberry.Private[Mapping[str, Any]]

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Contact:
        prefs = {**documents.DEFAULT_PREFERENCES, **(doc.get("preferences") or {})}
        consent = doc.get("consent") or {}
        return cls(
            oid=str(doc["_id"]),
            first_name=doc.get("firstName"),
            last_name=doc.get("lastName"),
            email=doc.get("email"),
            phone=doc.get("phone"),
            job_title=doc.get("jobTitle"),
            role=stored_enum(ContactRole, doc.get("role")),
            contact_type=doc.get("contactType"),
            marketing_source=doc.get("marketingSource"),
            marketing_only=bool(doc.get("marketingOnly")),
            preferences=ContactPreferences(
                allow_bulk_email=bool(prefs["allowBulkEmail"]),
                allow_email=bool(prefs["allowEmail"]),
                allow_prefill=bool(prefs["allowPrefill"]),
                track_email=bool(prefs["trackEmail"]),
            ),
            consent=ContactConsent(
                level=stored_enum(ConsentLevel, consent.get("level")),
                is_child=bool(consent.get("isChild")),
                guardian=consent.get("guardian"),
            ),
            subscriptions=list(doc.get("subscriptions") or []),
            unsubscribed=list(doc.get("unsubscribed") or []),
            insights=MarketingInsights.of(doc.get("insights")),
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
    custom = custom_field("contact")

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


@strawberry.type(description="The contact after the change.")
class ContactPayload:
    contact: Contact = strawberry.field(description="The contact as stored after the change.")
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
    strawberry.union(
        "ContactResult",
        description="What a contact write answers: the contact as saved, or a typed error "
        "(nothing saved).",
    ),
]
