"""Privacy: subscription lists, the subscription centre, data export and erasure, and the
payloads of their changes."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any, cast

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from ...services.privacy import CentreView
from ..contacts.types import Contact
from ..errors import (
    ConflictError,
    ForbiddenError,
    InvalidTokenError,
    NotFoundError,
    ValidationError,
)

# ---------------------------------------------------------------- lists


@strawberry.enum(description="Whether contacts may be added to a list.")
class SubscriptionListStatus(Enum):
    ACTIVE = strawberry.enum_value("active", description="Contacts may be added to the list.")
    ARCHIVED = strawberry.enum_value(
        "archived", description="Kept for its history; no one is added any more."
    )


@strawberry.type(
    description="A list contacts subscribe to. Membership is the contact's `subscriptions` "
    "(subscribed) and `unsubscribed` (left it)."
)
class SubscriptionList:
    id: relay.GlobalID = strawberry.field(
        description="The list's global id (rename and archive take it).",
    )
    name: str = strawberry.field(
        description="The list's unique name, as contacts' `subscriptions` and `unsubscribed` hold "
        "it.",
    )
    status: SubscriptionListStatus = strawberry.field(
        description="active (contacts may join) or archived (kept for its history; nobody joins).",
    )
    created_at: datetime = strawberry.field(description="When the list was created.")
    updated_at: datetime = strawberry.field(
        description="When it was last renamed or archived (its creation time otherwise).",
    )

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> SubscriptionList:
        return cls(
            id=relay.GlobalID("SubscriptionList", str(doc["_id"])),
            name=doc["name"],
            status=SubscriptionListStatus(doc["status"]),
            created_at=doc["createdAt"],
            updated_at=doc.get("updatedAt") or doc["createdAt"],
        )


@strawberry.type(description="The list after the change.")
class SubscriptionListPayload:
    list: SubscriptionList = strawberry.field(description="The list as saved.")


SubscriptionListResult = Annotated[
    SubscriptionListPayload | ValidationError | NotFoundError | ForbiddenError | ConflictError,
    strawberry.union(
        "SubscriptionListResult",
        description="What a subscription-list write answers: the list as saved, or a typed error.",
    ),
]


@strawberry.type(description="Lists a bulk add left a contact out of: it had unsubscribed.")
class KeptOut:
    contact: relay.GlobalID = strawberry.field(description="The contact's global id.")
    lists: list[str] = strawberry.field(
        description="The lists it was kept out of, because it had unsubscribed from them.",
    )


@strawberry.type(description="The contacts after a subscription change.")
class SubscriptionChangePayload:
    contacts: list[Contact] = strawberry.field(
        description="The contacts after the change, with their `subscriptions` and `unsubscribed`.",
    )
    kept_out: list[KeptOut] = strawberry.field(
        description="Contacts left out of lists they had unsubscribed from (unsubscribe wins "
        "over bulk adds; pass `resubscribe: true` when the person asked to come back)."
    )


SubscriptionChangeResult = Annotated[
    SubscriptionChangePayload | ValidationError | NotFoundError | ForbiddenError,
    strawberry.union(
        "SubscriptionChangeResult",
        description="What subscribing or unsubscribing a contact answers: the contact's lists "
        "after the change, or a typed error.",
    ),
]


# ---------------------------------------------------------------- subscription centre


@strawberry.type(description="One list as the subscription centre shows it.")
class SubscriptionCentreList:
    name: str = strawberry.field(description="The list's name.")
    subscribed: bool = strawberry.field(description="The person is on the list.")


@strawberry.type(description="What a person sees on the subscription centre page their link opens.")
class SubscriptionCentre:
    first_name: str | None = strawberry.field(
        description="The person's first name, to greet them; null when not known (the page "
        "shows no other name).",
    )
    email: str | None = strawberry.field(description="Masked: `a***@example.com`.")
    allow_bulk_email: bool = strawberry.field(
        description="Whether the person accepts marketing email from journeys (`allowBulkEmail`).",
    )
    lists: list[SubscriptionCentreList] = strawberry.field(
        description="Every active list, and whether the person is on it."
    )
    expires_at: datetime = strawberry.field(description="When the link stops working.")
    custom: JSON = strawberry.field(
        description="The custom fields the person may change here (the rules' "
        "`subscription_centre: true` contact fields), by name; null: no value."
    )

    @classmethod
    def of(cls, view: CentreView) -> SubscriptionCentre:
        contact = view.contact
        mine = set(contact.get("subscriptions") or [])
        return cls(
            first_name=contact.get("firstName"),
            email=mask_email(contact.get("email")),
            allow_bulk_email=bool((contact.get("preferences") or {}).get("allowBulkEmail")),
            lists=[
                SubscriptionCentreList(name=d["name"], subscribed=d["name"] in mine)
                for d in view.lists
            ],
            expires_at=view.expires_at,
            custom=cast(JSON, view.custom),
        )


def mask_email(email: str | None) -> str | None:
    if not email or "@" not in email:
        return None
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}***@{domain}"


SubscriptionCentreResult = Annotated[
    SubscriptionCentre | InvalidTokenError | ValidationError,
    strawberry.union(
        "SubscriptionCentreResult",
        description="What a subscription centre token opens: the contact's lists and preferences, "
        "or a typed error for a bad or expired token.",
    ),
]


@strawberry.type(description="A subscription-centre link's token.")
class SubscriptionTokenPayload:
    token: str = strawberry.field(description="Put it in the link of the public page.")
    expires_at: datetime = strawberry.field(
        description="When the token (and its link) stops working.",
    )


SubscriptionTokenResult = Annotated[
    SubscriptionTokenPayload | ValidationError | NotFoundError | ForbiddenError,
    strawberry.union(
        "SubscriptionTokenResult",
        description="What issuing a subscription centre token answers: the signed token, or a "
        "typed error.",
    ),
]


# ---------------------------------------------------------------- export / erase


@strawberry.type(description="Everything stored about a person, as one JSON document.")
class ContactDataExport:
    contact_id: relay.GlobalID = strawberry.field(description="The exported contact's global id.")
    document: JSON = strawberry.field(
        description="The JSON document: the contact, its leads, interactions, submissions, merges "
        "and consent history, as stored.",
    )


ExportResult = Annotated[
    ContactDataExport | ValidationError | NotFoundError | ForbiddenError,
    strawberry.union(
        "ExportContactDataResult",
        description="What a data-protection export answers: everything stored about the contact, "
        "or a typed error.",
    ),
]


@strawberry.type(description="The person was erased; what was removed or anonymised.")
class ErasePayload:
    erased_id: relay.GlobalID = strawberry.field(
        description="The erased contact's global id (it no longer resolves).",
    )
    counts: JSON = strawberry.field(
        description="interactions, leadsAnonymized, matchKeys, merges, submissions, "
        "pendingCaptures deleted; suppressed: emails kept as keyed hashes."
    )


EraseResult = Annotated[
    ErasePayload | ValidationError | NotFoundError | ForbiddenError,
    strawberry.union(
        "EraseContactResult",
        description="What erasing a contact answers: what was erased, or a typed error (nothing "
        "erased).",
    ),
]
