"""Subscription lists, subscribing contacts, the public subscription centre, and the
data-protection operations (export, erase)."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from .. import events, signing
from ..errors import (
    ConflictError,
    ForbiddenError,
    InvalidInput,
    InvalidToken,
    InvalidTokenError,
    NotFound,
    NotFoundError,
    ValidationError,
    errors_as_data,
)
from ..services.consent import Actor, Applied
from ..services.privacy import MAX_TOKEN_TTL, CentreView
from .contacts import Contact
from .origin import api_actor, origin_of
from .relay import object_id


def _by(info: Info) -> dict[str, Any]:
    principal = info.context.principal
    return {"name": principal.name, "role": principal.role} if principal else {}


# ---------------------------------------------------------------- lists


@strawberry.enum(description="Whether contacts may be added to a list.")
class SubscriptionListStatus(Enum):
    ACTIVE = "active"
    ARCHIVED = "archived"


@strawberry.type(
    description="A list contacts subscribe to. Membership is the contact's `subscriptions` "
    "(subscribed) and `unsubscribed` (left it)."
)
class SubscriptionList:
    id: relay.GlobalID
    name: str
    status: SubscriptionListStatus
    created_at: datetime
    updated_at: datetime

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
    list: SubscriptionList


SubscriptionListResult = Annotated[
    SubscriptionListPayload | ValidationError | NotFoundError | ForbiddenError | ConflictError,
    strawberry.union("SubscriptionListResult"),
]


@strawberry.type(description="Lists a bulk add left a contact out of: it had unsubscribed.")
class KeptOut:
    contact: relay.GlobalID
    lists: list[str]


@strawberry.type(description="The contacts after a subscription change.")
class SubscriptionChangePayload:
    contacts: list[Contact]
    kept_out: list[KeptOut] = strawberry.field(
        description="Contacts left out of lists they had unsubscribed from (unsubscribe wins "
        "over bulk adds; pass `resubscribe: true` when the person asked to come back)."
    )


SubscriptionChangeResult = Annotated[
    SubscriptionChangePayload | ValidationError | NotFoundError | ForbiddenError,
    strawberry.union("SubscriptionChangeResult"),
]


async def _changed(info: Info, done: dict[Any, Applied], ids: list[Any]) -> Any:
    missing = [i for i in ids if i not in done]
    if missing:
        raise NotFound("Contact", str(relay.GlobalID("Contact", str(missing[0]))))
    loaded = await info.context.services.records.contacts_by_ids(ids)
    return SubscriptionChangePayload(
        contacts=[Contact.from_doc(loaded[i]) for i in dict.fromkeys(ids) if i in loaded],
        kept_out=[
            KeptOut(contact=relay.GlobalID("Contact", str(i)), lists=a.kept_out)
            for i, a in done.items()
            if a.kept_out
        ],
    )


# ---------------------------------------------------------------- subscription centre


@strawberry.type(description="One list as the subscription centre shows it.")
class SubscriptionCentreList:
    name: str
    subscribed: bool


@strawberry.type(description="What a person sees on the subscription centre page their link opens.")
class SubscriptionCentre:
    first_name: str | None
    email: str | None = strawberry.field(description="Masked: `a***@example.com`.")
    allow_bulk_email: bool
    lists: list[SubscriptionCentreList] = strawberry.field(
        description="Every active list, and whether the person is on it."
    )
    expires_at: datetime = strawberry.field(description="When the link stops working.")

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
        )


def mask_email(email: str | None) -> str | None:
    if not email or "@" not in email:
        return None
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}***@{domain}"


SubscriptionCentreResult = Annotated[
    SubscriptionCentre | InvalidTokenError | ValidationError,
    strawberry.union("SubscriptionCentreResult"),
]


@strawberry.input(description="What the person changes in the subscription centre.")
class UpdateSubscriptionsInput:
    subscribe: list[str] | None = strawberry.field(
        default=None, description="Active lists to join."
    )
    unsubscribe: list[str] | None = strawberry.field(default=None, description="Lists to leave.")
    unsubscribe_all: bool = strawberry.field(
        default=False,
        description="Leave every list and stop bulk email (`allowBulkEmail` false), at once.",
    )
    allow_bulk_email: bool | None = None


def _refused(exc: signing.TokenRefused) -> InvalidToken:
    return InvalidToken(exc.reason, str(exc))


@strawberry.type(description="A subscription-centre link's token.")
class SubscriptionTokenPayload:
    token: str = strawberry.field(description="Put it in the link of the public page.")
    expires_at: datetime


SubscriptionTokenResult = Annotated[
    SubscriptionTokenPayload | ValidationError | NotFoundError | ForbiddenError,
    strawberry.union("SubscriptionTokenResult"),
]


# ---------------------------------------------------------------- export / erase


@strawberry.type(description="Everything stored about a person, as one JSON document.")
class ContactDataExport:
    contact_id: relay.GlobalID
    document: JSON


ExportResult = Annotated[
    ContactDataExport | ValidationError | NotFoundError | ForbiddenError,
    strawberry.union("ExportContactDataResult"),
]


@strawberry.type(description="The person was erased; what was removed or anonymised.")
class ErasePayload:
    erased_id: relay.GlobalID
    counts: JSON = strawberry.field(
        description="interactions, leadsAnonymized, matchKeys, merges, submissions, "
        "pendingCaptures deleted; suppressed: emails kept as keyed hashes."
    )


EraseResult = Annotated[
    ErasePayload | ValidationError | NotFoundError | ForbiddenError,
    strawberry.union("EraseContactResult"),
]


# ---------------------------------------------------------------- schema


@strawberry.type
class PrivacyQuery:
    @strawberry.field(description="Subscription lists by name (of one status when given).")
    async def subscription_lists(
        self, info: Info, status: SubscriptionListStatus | None = None
    ) -> list[SubscriptionList]:
        docs = await info.context.services.subscription_lists.lists(
            status.value if status else None
        )
        return [SubscriptionList.from_doc(d) for d in docs]

    @strawberry.field(
        description="The subscription centre of the person a link's token names. Public: "
        "needs no API key (the token is the credential)."
    )
    @errors_as_data
    async def subscription_centre(self, info: Info, token: str) -> SubscriptionCentreResult:
        try:
            view = await info.context.services.privacy.centre(token)
        except signing.TokenRefused as exc:
            raise _refused(exc) from None
        return SubscriptionCentre.of(view)


@strawberry.type
class PrivacyMutation:
    @strawberry.mutation(description="Create an active subscription list.")
    @errors_as_data
    async def create_subscription_list(self, info: Info, name: str) -> SubscriptionListResult:
        info.context.require("lists:write")
        doc = await info.context.services.subscription_lists.create(name)
        return SubscriptionListPayload(list=SubscriptionList.from_doc(doc))

    @strawberry.mutation(
        description="Rename a list; every contact's membership follows in the same transaction."
    )
    @errors_as_data
    async def rename_subscription_list(
        self, info: Info, id: relay.GlobalID, name: str
    ) -> SubscriptionListResult:
        info.context.require("lists:write")
        oid = object_id(id, "SubscriptionList")
        doc = await info.context.services.subscription_lists.rename_list(oid, name)
        if doc is None:
            raise NotFound("SubscriptionList", str(id))
        return SubscriptionListPayload(list=SubscriptionList.from_doc(doc))

    @strawberry.mutation(
        description="Archive a list: nobody can be added any more; members stay and may leave."
    )
    @errors_as_data
    async def archive_subscription_list(
        self, info: Info, id: relay.GlobalID
    ) -> SubscriptionListResult:
        info.context.require("lists:write")
        oid = object_id(id, "SubscriptionList")
        doc = await info.context.services.subscription_lists.set_status(oid, "archived")
        if doc is None:
            raise NotFound("SubscriptionList", str(id))
        return SubscriptionListPayload(list=SubscriptionList.from_doc(doc))

    @strawberry.mutation(
        description="Subscribe contacts to active lists (recorded as `consent_changed`). A "
        "contact that unsubscribed from a list stays out of it unless `resubscribe` is true: "
        "set it only when the person asked to come back."
    )
    @errors_as_data
    async def subscribe_contacts(
        self,
        info: Info,
        contacts: list[relay.GlobalID],
        lists: list[str],
        resubscribe: bool = False,
    ) -> SubscriptionChangeResult:
        info.context.require("contacts:write")
        ids = _contact_ids(contacts)
        done = await info.context.services.subscription_lists.subscribe(
            ids, [n.strip() for n in lists], api_actor(info), resubscribe=resubscribe
        )
        return await _changed(info, done, ids)

    @strawberry.mutation(
        description="Unsubscribe contacts from lists (archived ones too); they are remembered "
        "as having left (`Contact.unsubscribed`), recorded as `consent_changed`."
    )
    @errors_as_data
    async def unsubscribe_contacts(
        self, info: Info, contacts: list[relay.GlobalID], lists: list[str]
    ) -> SubscriptionChangeResult:
        info.context.require("contacts:write")
        ids = _contact_ids(contacts)
        done = await info.context.services.subscription_lists.unsubscribe(
            ids, [n.strip() for n in lists], api_actor(info)
        )
        return await _changed(info, done, ids)

    @strawberry.mutation(
        description="Change subscriptions from the subscription centre. Public: needs no API "
        "key (the token is the credential). Never creates a contact or a lead."
    )
    @errors_as_data
    async def update_subscriptions(
        self, info: Info, token: str, input: UpdateSubscriptionsInput
    ) -> SubscriptionCentreResult:
        where = origin_of(info)
        actor = Actor(
            via="subscription_centre",
            by="subscription centre",
            source="subscription centre",
            ip=where["ip"],
            user_agent=where["userAgent"],
        )
        # the centre's events are the person's, through the centre (no API key acts here)
        centre = events.Actor("subscription centre", None, "centre")
        privacy = info.context.services.privacy  # before acting_as: `services` acts for the key
        try:
            with events.acting_as(centre):
                view = await privacy.update_centre(
                    token,
                    subscribe=[n.strip() for n in input.subscribe or []],
                    unsubscribe=[n.strip() for n in input.unsubscribe or []],
                    unsubscribe_all=input.unsubscribe_all,
                    allow_bulk_email=input.allow_bulk_email,
                    actor=actor,
                )
        except signing.TokenRefused as exc:
            raise _refused(exc) from None
        return SubscriptionCentre.of(view)

    @strawberry.mutation(
        description="Issue a subscription-centre token for a contact (for the links in emails). "
        "Admin only."
    )
    @errors_as_data
    async def issue_subscription_token(
        self, info: Info, contact: relay.GlobalID, expires_in_days: int = 30
    ) -> SubscriptionTokenResult:
        info.context.require("privacy:admin")
        oid = object_id(contact, "Contact", "contact")
        if not 1 <= expires_in_days <= MAX_TOKEN_TTL.days:  # before timedelta (it overflows)
            raise InvalidInput("expiresInDays", f"must be between 1 and {MAX_TOKEN_TTL.days}")
        ttl = timedelta(days=expires_in_days)
        issued = await info.context.services.privacy.issue_token(oid, ttl)
        if issued is None:
            raise NotFound("Contact", str(contact))
        return SubscriptionTokenPayload(token=issued[0], expires_at=issued[1])

    @strawberry.mutation(
        description="Everything stored about a person as one JSON document (data-protection "
        "access request). Admin only; recorded in the privacy audit log."
    )
    @errors_as_data
    async def export_contact_data(self, info: Info, id: relay.GlobalID) -> ExportResult:
        info.context.require("privacy:admin")
        oid = object_id(id, "Contact")
        document = await info.context.services.privacy.export(oid, _by(info))
        if document is None:
            raise NotFound("Contact", str(id))
        return ContactDataExport(contact_id=relay.GlobalID("Contact", str(oid)), document=document)

    @strawberry.mutation(
        description="Erase a person (data-protection erasure request), in one transaction: the "
        "contact, its interactions, merge and submission records are deleted, its leads "
        "anonymised, its match keys released, its emails suppressed (imports and orphan "
        "linking never bring it back; a new explicit submission by the person does). Admin "
        "only; recorded in the privacy audit log without personal data."
    )
    @errors_as_data
    async def erase_contact(self, info: Info, id: relay.GlobalID) -> EraseResult:
        info.context.require("privacy:admin")
        oid = object_id(id, "Contact")
        counts = await info.context.services.privacy.erase(oid, _by(info))
        if counts is None:
            raise NotFound("Contact", str(id))
        return ErasePayload(erased_id=relay.GlobalID("Contact", str(oid)), counts=counts)


def _contact_ids(ids: list[relay.GlobalID]) -> list[Any]:
    if not ids:
        raise InvalidInput("contacts", "must name at least one contact")
    return [object_id(g, "Contact", f"contacts.{n}") for n, g in enumerate(ids)]
