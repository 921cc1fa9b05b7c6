"""Capture: form submissions and event registrations, orphan-lead linking and imports."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from .. import documents
from ..services import listing
from ..services.capture import Captured
from ..services.matching import Match
from .contacts.types import Contact
from .errors import (
    ConflictError,
    ForbiddenError,
    PluginErrorType,
    ValidationError,
    errors_as_data,
    plugin_errors,
)
from .import_types import ImportFailedError, ImportInput, ImportResult, ImportStatus, ImportSummary
from .interactions import Interaction
from .leads.types import Lead
from .origin import origin_of, owner_of


@strawberry.type(description="How a record was matched: strategy, fields and normalised values.")
class MatchInfo:
    strategy: str = strawberry.field(
        description="The matching strategy's name in the rules (e.g. the default contact "
        "strategy).",
    )
    kind: str = strawberry.field(
        description="How the strategy compares values: `exact` or a matching kind a plugin "
        "provides.",
    )
    fields: list[str] = strawberry.field(
        description="The fields the strategy compared (for a lead: email plus form id by default).",
    )
    values: JSON | None = strawberry.field(description="Normalised values compared, by field.")
    matched: bool = strawberry.field(description="An existing record was found and updated.")
    created: bool = strawberry.field(description="A new record was created.")
    rules_version: str | None = strawberry.field(
        default=None, description="Version of the rules that chose the strategy."
    )

    @classmethod
    def of(cls, m: Match) -> MatchInfo:
        return cls(
            strategy=m.strategy,
            kind=m.kind,
            fields=list(m.fields),
            values=JSON(m.values) if m.values is not None else None,
            matched=m.matched,
            created=m.created,
            rules_version=m.rules_version,
        )


@strawberry.type(description="The outcome of a submission or registration.")
class CapturePayload:
    contact: Contact = strawberry.field(
        description="The contact the submission was matched to or created for (with its "
        "preferences as the submission left them).",
    )
    lead: Lead | None = strawberry.field(
        description="Null when the form's lead strategy finds but never creates, and found none."
    )
    interaction: Interaction = strawberry.field(
        description="The interaction recorded (`form_submitted`, or `event_registered`).",
    )
    contact_created: bool = strawberry.field(
        description="A new contact was created (no existing contact matched).",
    )
    lead_created: bool = strawberry.field(
        description="A new lead was created (no existing lead matched).",
    )
    contact_match: MatchInfo = strawberry.field(description="How the contact was found or created.")
    lead_match: MatchInfo = strawberry.field(description="How the lead was found or created.")
    replayed: bool = strawberry.field(
        description="True when this idempotency key was seen before: nothing new was recorded."
    )
    plugin_errors: list[PluginErrorType] = strawberry.field(
        description="Plugins that failed after the submission was stored: a scoring failure "
        "leaves `lead.scoreError` set (the scores are stale, the submission is kept)."
    )

    @classmethod
    def of(cls, done: Captured) -> CapturePayload:
        out = done.outcome
        return cls(
            contact=Contact.from_doc(out.contact),
            lead=Lead.from_doc(out.lead) if out.lead else None,
            interaction=Interaction.from_doc(out.interaction),
            contact_created=out.contact_match.created,
            lead_created=out.lead_match.created,
            contact_match=MatchInfo.of(out.contact_match),
            lead_match=MatchInfo.of(out.lead_match),
            replayed=out.replayed,
            plugin_errors=plugin_errors(done.plugin_failures),
        )


CaptureResult = Annotated[
    CapturePayload | ValidationError | ForbiddenError | ConflictError | PluginErrorType,
    strawberry.union(
        "CaptureResult",
        description="What a form submission or event registration answers: the contact and lead "
        "it matched or created, or a typed error.",
    ),
]


@strawberry.input(description="A marketing form (landing page) submission.")
class SubmitFormInput:
    form_id: str = strawberry.field(
        description="The marketing form (landing page) id; it chooses the matching strategies "
        "(the defaults for a form without its own).",
    )
    fields: JSON = strawberry.field(
        description="Submitted values: email, firstName, lastName, phone, jobTitle, role, "
        "companyName, topic, allowBulkEmail, allowPrefill, allowEmail, trackEmail, consent, "
        "subscriptions; anything else is kept in the interaction's details."
    )
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="Retrying with the same key and input records nothing twice; the key is "
        "this API key's for this operation (another input with it: ConflictError).",
    )
    occurred_at: datetime | None = strawberry.field(
        default=None,
        description="When the person submitted; default: now.",
    )


@strawberry.input(description="An event registration (an event's registration form).")
class RegisterForEventInput:
    event_id: str = strawberry.field(description="The event's id; must not be blank.")
    fields: JSON = strawberry.field(
        description="The registration form's values, as for submitForm's `fields` (email, "
        "firstName, ..., consent).",
    )
    event_name: str | None = strawberry.field(
        default=None,
        description="The event's name, the lead's marketing context (default: the event id).",
    )
    form_id: str | None = strawberry.field(
        default=None, description="The registration form; defaults to `event:<eventId>`."
    )
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="Retrying with the same key and input records nothing twice (another input "
        "with it: ConflictError).",
    )
    occurred_at: datetime | None = strawberry.field(
        default=None,
        description="When the person registered; default: now.",
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
            from ..errors import InvalidInput

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


@strawberry.type(description="What linking orphan leads did.")
class LinkOrphansPayload:
    linked: int = strawberry.field(description="Orphan leads that got a parent contact.")
    contacts_created: int = strawberry.field(
        description="marketingOnly contacts created for them (no existing contact matched).",
    )
    contacts_matched: int = strawberry.field(
        description="Existing contacts they were linked to (matched by the contact strategy).",
    )
    suppressed: int = strawberry.field(
        description="Orphan leads holding the email of a person erased on request: left "
        "unlinked, so the person is not re-created."
    )
    leads: list[Lead] = strawberry.field(
        description="The leads linked (the first 500), scored now that they have a contact."
    )
    plugin_errors: list[PluginErrorType] = strawberry.field(
        description="Plugins that failed after the links were stored (scoring: then the lead "
        "carries `scoreError`)."
    )


LinkOrphansResult = Annotated[
    LinkOrphansPayload | ForbiddenError | ValidationError | PluginErrorType,
    strawberry.union(
        "LinkOrphansResult",
        description="What linking orphan leads answers: how many leads got a (marketing-only) "
        "parent contact, or a typed error.",
    ),
]


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
        from ..errors import InvalidInput
        from ..services.importing import ImportFailed, run_import

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
        from ..errors import InvalidInput
        from ..services.orphans import link_orphans

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
        from ..services.importing import _summary

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
