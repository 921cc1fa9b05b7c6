"""The capture mutations (submitForm, registerForEvent, linkOrphanLeads, importRecords) and
the import status query."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from ... import documents
from ...services import listing
from ..errors import (
    errors_as_data,
    plugin_errors,
)
from ..leads.types import Lead
from ..origin import origin_of, owner_of
from .inputs import ImportInput, RegisterForEventInput, SubmitFormInput
from .types import (
    CapturePayload,
    CaptureResult,
    ImportFailedError,
    ImportResult,
    ImportStatus,
    ImportSummary,
    LinkOrphansPayload,
    LinkOrphansResult,
)


@strawberry.type
class CaptureMutation:
    @strawberry.mutation(
        description="Submit a marketing form: match or create the contact and the lead by the "
        "form's strategies, record the interaction, apply preference fields."
    )
    @errors_as_data
    async def submit_form(
        self,
        info: Info,
        input: Annotated[
            SubmitFormInput,
            strawberry.argument(
                description="The form, its submitted values and an optional idempotency key."
            ),
        ],
    ) -> CaptureResult:
        info.context.require("capture:submit")
        done = await info.context.services.capture.submit(
            form_id=input.form_id,
            fields=input.fields,
            idempotency_key=input.idempotency_key,
            occurred_at=input.occurred_at,
            origin=origin_of(info),
            owner=owner_of(info),
        )
        return CapturePayload.of(done)

    @strawberry.mutation(
        description="Register a person for an event: like submitForm, with an event lead and an "
        "`event_registered` interaction."
    )
    @errors_as_data
    async def register_for_event(
        self,
        info: Info,
        input: Annotated[
            RegisterForEventInput,
            strawberry.argument(
                description="The event, the registration form's values and an optional "
                "idempotency key."
            ),
        ],
    ) -> CaptureResult:
        info.context.require("capture:submit")
        if not input.event_id.strip():
            from ...errors import InvalidInput

            raise InvalidInput("input.eventId", "must not be blank")
        done = await info.context.services.capture.submit(
            form_id=input.form_id or f"event:{input.event_id}",
            fields=input.fields,
            interaction_type="event_registered",
            event_id=input.event_id,
            marketing_context={"kind": "event", "name": input.event_name or input.event_id},
            idempotency_key=input.idempotency_key,
            occurred_at=input.occurred_at,
            source="event",
            origin=origin_of(info),
            owner=owner_of(info),
        )
        return CapturePayload.of(done)


@strawberry.type
class ImportMutation:
    @strawberry.mutation(
        description="Import contacts, leads or accounts through matching (duplicates merged, "
        "orphan leads given marketingOnly contacts, accounts linked by domain or name)."
    )
    @errors_as_data
    async def import_records(
        self,
        info: Info,
        input: Annotated[
            ImportInput,
            strawberry.argument(description="The file, what its rows are and how to match them."),
        ],
    ) -> ImportResult:
        from ...errors import InvalidInput
        from ...services.importing import ImportFailed, run_import

        info.context.require("data:import")
        if len(input.data) > 50_000_000:
            raise InvalidInput("input.data", "must be at most 50 MB; use the CLI for more")
        try:
            out = await run_import(
                info.context.db,
                input.kind.value,
                input.data.encode(),
                name=input.name or f"upload.{input.format.value}",
                fmt=input.format.value,
                form_id=input.form_id,
                funnel=info.context.services.funnel,
                matching=info.context.services.matching,
            )
        except ImportFailed as exc:
            return ImportFailedError(
                message=str(exc),
                code="IMPORT_FAILED",
                import_id=exc.import_id,
                committed_line=exc.committed_line,
            )
        return ImportSummary.of(out)

    @strawberry.mutation(
        description="Give leads without a parent contact one: matched by the contact strategy "
        "from the lead's data, or created marketingOnly. Safe to run again."
    )
    @errors_as_data
    async def link_orphan_leads(
        self,
        info: Info,
        limit: Annotated[
            int | None,
            strawberry.argument(
                description="Link at most this many orphan leads (at least 1); null: all of them. "
                "Run again for the rest."
            ),
        ] = None,
    ) -> LinkOrphansResult:
        from ...errors import InvalidInput
        from ...services.orphans import link_orphans

        info.context.require("leads:write")
        if limit is not None and limit < 1:
            raise InvalidInput("limit", "must be positive")
        services = info.context.services
        out = await link_orphans(services.matching, services.funnel, limit=limit)
        docs = await listing.by_ids(info.context.db, documents.LEADS, out.lead_ids[:500])
        return LinkOrphansPayload(
            linked=out.linked,
            contacts_created=out.contacts_created,
            contacts_matched=out.contacts_matched,
            suppressed=out.suppressed,
            leads=[Lead.from_doc(d) for d in docs],
            plugin_errors=plugin_errors(out.plugin_failures),
        )


@strawberry.type
class CaptureQuery:
    @strawberry.field(description="An import's progress and totals so far (by importId).")
    async def import_status(
        self,
        info: Info,
        import_id: Annotated[
            str,
            strawberry.argument(
                description="The import's id, as `importRecords` or `leadgraph import` answered it."
            ),
        ],
    ) -> ImportStatus | None:
        from ...services.importing import _summary

        info.context.require("data:import")
        doc = await listing.import_run(info.context.db, import_id)
        if doc is None:
            return None
        return ImportStatus(
            summary=ImportSummary.of(_summary(doc["_id"], doc["kind"], doc)),
            status=doc.get("status", "running"),
            error=doc.get("error"),
            committed_line=int(doc.get("committedLine") or 0),
            started_at=doc["startedAt"],
            finished_at=doc.get("finishedAt"),
        )
