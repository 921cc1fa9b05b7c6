"""The privacy queries and mutations: lists, subscriptions, the centre, export, erasure."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import strawberry
from strawberry import relay
from strawberry.types import Info

from ... import events, signing
from ...errors import InvalidInput, InvalidToken, NotFound
from ...services.consent import Actor, Applied
from ...services.privacy import MAX_TOKEN_TTL
from ..contacts.types import Contact
from ..errors import errors_as_data
from ..origin import api_actor, origin_of
from ..relay import RecordId, object_id
from .inputs import UpdateSubscriptionsInput
from .types import (
    ContactDataExport,
    ErasePayload,
    EraseResult,
    ExportResult,
    KeptOut,
    SubscriptionCentre,
    SubscriptionCentreResult,
    SubscriptionChangePayload,
    SubscriptionChangeResult,
    SubscriptionList,
    SubscriptionListPayload,
    SubscriptionListResult,
    SubscriptionListStatus,
    SubscriptionTokenPayload,
    SubscriptionTokenResult,
)


def _by(info: Info) -> dict[str, Any]:
    principal = info.context.principal
    return {"name": principal.name, "role": principal.role} if principal else {}


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


def _refused(exc: signing.TokenRefused) -> InvalidToken:
    return InvalidToken(exc.reason, str(exc))


# ---------------------------------------------------------------- schema


@strawberry.type
class PrivacyQuery:
    @strawberry.field(description="Subscription lists by name (of one status when given).")
    async def subscription_lists(
        self,
        info: Info,
        status: Annotated[
            SubscriptionListStatus | None,
            strawberry.argument(description="Only the lists of this status; null: all."),
        ] = None,
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
    async def subscription_centre(
        self,
        info: Info,
        token: Annotated[
            str,
            strawberry.argument(
                description="The token from the subscription-centre link "
                "(issueSubscriptionToken); it is the credential."
            ),
        ],
    ) -> SubscriptionCentreResult:
        try:
            view = await info.context.services.privacy.centre(token)
        except signing.TokenRefused as exc:
            raise _refused(exc) from None
        return SubscriptionCentre.of(view)


@strawberry.type
class PrivacyMutation:
    @strawberry.mutation(description="Create an active subscription list.")
    @errors_as_data
    async def create_subscription_list(
        self,
        info: Info,
        name: Annotated[str, strawberry.argument(description="The new list's name (unique).")],
    ) -> SubscriptionListResult:
        info.context.require("lists:write")
        doc = await info.context.services.subscription_lists.create(name)
        return SubscriptionListPayload(list=SubscriptionList.from_doc(doc))

    @strawberry.mutation(
        description="Rename a list; every contact's membership follows in the same transaction."
    )
    @errors_as_data
    async def rename_subscription_list(
        self,
        info: Info,
        id: RecordId,
        name: Annotated[
            str,
            strawberry.argument(
                description="The list's new name (unique); every member's subscriptions follow."
            ),
        ],
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
    async def archive_subscription_list(self, info: Info, id: RecordId) -> SubscriptionListResult:
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
        contacts: Annotated[
            list[relay.GlobalID],
            strawberry.argument(description="The contacts to subscribe, by global id."),
        ],
        lists: Annotated[
            list[str],
            strawberry.argument(description="The active lists (by name) to subscribe them to."),
        ],
        resubscribe: Annotated[
            bool,
            strawberry.argument(
                description="Put back on a list contacts that had unsubscribed from it: only when "
                "the person asked."
            ),
        ] = False,
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
        self,
        info: Info,
        contacts: Annotated[
            list[relay.GlobalID],
            strawberry.argument(description="The contacts to unsubscribe, by global id."),
        ],
        lists: Annotated[
            list[str],
            strawberry.argument(
                description="The lists (by name, archived ones too) to take them off."
            ),
        ],
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
        self,
        info: Info,
        token: Annotated[
            str,
            strawberry.argument(
                description="The token from the subscription-centre link; it is the credential."
            ),
        ],
        input: Annotated[
            UpdateSubscriptionsInput,
            strawberry.argument(
                description="What the person changed: lists joined and left, bulk email."
            ),
        ],
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
                    custom=input.custom,
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
        self,
        info: Info,
        contact: Annotated[
            relay.GlobalID,
            strawberry.argument(description="The contact the link is for (global id)."),
        ],
        expires_in_days: Annotated[
            int,
            strawberry.argument(
                description="How long the link works, in days (1 to 365; default 30)."
            ),
        ] = 30,
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
    async def export_contact_data(self, info: Info, id: RecordId) -> ExportResult:
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
    async def erase_contact(self, info: Info, id: RecordId) -> EraseResult:
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
