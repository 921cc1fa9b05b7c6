"""The contacts listing, the contact queries and the contact mutations."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry import relay
from strawberry.types import Info

from ... import documents
from ...errors import NotFound
from ..common import DeletePayload, DeleteResult
from ..errors import errors_as_data, plugin_errors
from ..origin import api_actor
from ..relay import Listing, RecordId, connection_field, load_one, object_id
from .inputs import (
    ContactFilter,
    ContactOrder,
    CreateContactInput,
    UpdateContactInput,
    check_contact_names,
    contact_fields,
    contact_query,
    contact_scope,
)
from .types import Contact, ContactPayload, ContactResult

CONTACTS = Listing(
    Contact,
    filter=ContactFilter,
    to_query=contact_query,
    order=ContactOrder,
    scope=contact_scope,
    check=check_contact_names,
    scope_fields=("include_marketing_only", "custom"),
    custom="contact",
)


@strawberry.type
class ContactQuery:
    contacts = connection_field(
        CONTACTS,
        description="Contacts, filtered and ordered, as a Relay connection. A sales key's "
        "list leaves marketing-only contacts out unless `filter: {includeMarketingOnly: true}` "
        "(or `marketingOnly`) asks for them.",
    )

    @strawberry.field(description="One contact by global id.")
    async def contact(self, info: Info, id: RecordId) -> Contact | None:
        return await load_one(info, documents.CONTACTS, object_id(id, "Contact"), Contact.from_doc)


@strawberry.type
class ContactMutation:
    @strawberry.mutation(description="Create a contact.")
    @errors_as_data
    async def create_contact(
        self,
        info: Info,
        input: Annotated[
            CreateContactInput,
            strawberry.argument(
                description="The new contact's fields (a last name or an email at least)."
            ),
        ],
    ) -> ContactResult:
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
    async def update_contact(
        self,
        info: Info,
        input: Annotated[
            UpdateContactInput,
            strawberry.argument(
                description="The contact and the fields to change; omitted fields keep their value."
            ),
        ],
    ) -> ContactResult:
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
    async def delete_contact(self, info: Info, id: RecordId) -> DeleteResult:
        info.context.require("contacts:delete")
        oid = object_id(id, "Contact")
        if not await info.context.services.records.delete_contact(oid):
            raise NotFound("Contact", str(id))
        return DeletePayload(deleted_id=relay.GlobalID("Contact", str(oid)))
