"""The leads listing, the lead queries and the lead mutations."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry import relay
from strawberry.types import Info

from ... import documents
from ...errors import NotFound
from ..common import DeletePayload, DeleteResult, raise_if
from ..errors import errors_as_data, plugin_errors
from ..relay import Listing, RecordId, connection_field, load_one, object_id
from .inputs import (
    CreateLeadInput,
    LeadFilter,
    LeadOrder,
    UpdateLeadInput,
    check_names_of,
    lead_fields,
    lead_query,
    model_filter_index,
    parent_ids,
)
from .types import Lead, LeadPayload, LeadResult

LEADS = Listing(
    Lead,
    filter=LeadFilter,
    to_query=lead_query,
    order=LeadOrder,
    model_index=documents.score_index,
    check=check_names_of,
    filter_index=model_filter_index,
    scope_fields=("custom",),
    custom="lead",
)


@strawberry.type
class LeadQuery:
    leads = connection_field(
        LEADS, description="Leads, filtered and ordered, as a Relay connection."
    )

    @strawberry.field(description="One lead by global id.")
    async def lead(self, info: Info, id: RecordId) -> Lead | None:
        return await load_one(info, documents.LEADS, object_id(id, "Lead"), Lead.from_doc)


@strawberry.type
class LeadMutation:
    @strawberry.mutation(
        description="Create a lead at the lifecycle's initial stage, or where its `start_at` "
        "rules send it (leads created by sales: sales acceptance, accepted by the caller); it "
        "is scored at once and follows the `created` transitions."
    )
    @errors_as_data
    async def create_lead(
        self,
        info: Info,
        input: Annotated[
            CreateLeadInput,
            strawberry.argument(
                description="The new lead's fields (a topic or a marketing context at least)."
            ),
        ],
    ) -> LeadResult:
        principal = info.context.require("leads:write")
        fields = await lead_fields(info, input, creating=True)
        fields["createdBy"] = {"name": principal.name, "role": principal.role}
        out = await info.context.services.records.create_lead(fields, by=principal.name)
        return LeadPayload(
            lead=Lead.from_doc(out.doc), plugin_errors=plugin_errors(out.plugin_failures)
        )

    @strawberry.mutation(
        description="Change a lead's fields. When the rules read a changed field (or a parent "
        "changed) the lead is rescored and follows the `updated` transitions before the answer."
    )
    @errors_as_data
    async def update_lead(
        self,
        info: Info,
        input: Annotated[
            UpdateLeadInput,
            strawberry.argument(
                description="The lead and the fields to change; omitted fields keep their value."
            ),
        ],
    ) -> LeadResult:
        principal = info.context.require("leads:write")
        oid = object_id(input.id, "Lead", "input.id")
        fields = await lead_fields(info, input, creating=False)
        out = await info.context.services.records.update_lead(oid, fields, by=principal.name)
        if out is None:
            raise NotFound("Lead", str(input.id))
        return LeadPayload(
            lead=Lead.from_doc(out.doc), plugin_errors=plugin_errors(out.plugin_failures)
        )

    @strawberry.mutation(
        description="Link a lead to a parent contact and/or account (null unlinks)."
    )
    @errors_as_data
    async def link_lead(
        self,
        info: Info,
        id: RecordId,
        parent_contact: Annotated[
            relay.GlobalID | None,
            strawberry.argument(
                description="The parent contact (its global id; it must exist); null unlinks it, "
                "omitted keeps it."
            ),
        ] = strawberry.UNSET,
        parent_account: Annotated[
            relay.GlobalID | None,
            strawberry.argument(
                description="The parent account (its global id; it must exist); null unlinks it, "
                "omitted keeps it."
            ),
        ] = strawberry.UNSET,
    ) -> LeadResult:
        info.context.require("leads:write")
        oid = object_id(id, "Lead")
        errors: list[tuple[str, str]] = []
        fields = await parent_ids(info, parent_contact, parent_account, errors, prefix="")
        if not fields and not errors:
            errors.append(("parentContact", "give parentContact and/or parentAccount"))
        raise_if([(f.lstrip("."), m) for f, m in errors])
        out = await info.context.services.records.link_lead(oid, fields)
        if out is None:
            raise NotFound("Lead", str(id))
        return LeadPayload(
            lead=Lead.from_doc(out.doc), plugin_errors=plugin_errors(out.plugin_failures)
        )

    @strawberry.mutation(description="Delete a lead.")
    @errors_as_data
    async def delete_lead(self, info: Info, id: RecordId) -> DeleteResult:
        info.context.require("leads:delete")
        oid = object_id(id, "Lead")
        if not await info.context.services.records.delete_lead(oid):
            raise NotFound("Lead", str(id))
        return DeletePayload(deleted_id=id)
