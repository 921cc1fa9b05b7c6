"""What capture answers: how a record was matched, the payload of a submission or registration,
of orphan-lead linking and of an import (its kinds, formats, summary, status and error)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from ...services.capture import Captured
from ...services.matching import Match
from ..common import described_values
from ..contacts.types import Contact
from ..errors import (
    ConflictError,
    Error,
    ForbiddenError,
    PluginErrorType,
    ValidationError,
    plugin_errors,
)
from ..interactions.types import Interaction
from ..leads.types import Lead


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


class ImportKind(Enum):
    CONTACTS = "contacts"
    LEADS = "leads"
    ACCOUNTS = "accounts"


class ImportFormat(Enum):
    CSV = "csv"
    JSONL = "jsonl"


described_values(
    strawberry.enum(ImportKind, description="What an import file holds."),
    {
        "contacts": "Rows are contacts.",
        "leads": "Rows are leads (linked to contacts by email).",
        "accounts": "Rows are accounts.",
    },
)


described_values(
    strawberry.enum(ImportFormat, description="Import file format."),
    {"csv": "Comma-separated values with a header row.", "jsonl": "One JSON object per line."},
)


@strawberry.type(description="A row that was not imported, and why.")
class RejectedRow:
    line: int = strawberry.field(
        description="The row's line number in the file (1 = the first line, a CSV header "
        "included).",
    )
    reason: str = strawberry.field(description="Why the row was refused, e.g. an invalid email.")


@strawberry.type(description="What an import did. Sending the same file again resumes it.")
class ImportSummary:
    import_id: str = strawberry.field(
        description="The import's id (the file's hash): ask `importStatus` with it, or send the "
        "same file again to resume.",
    )
    created: int = strawberry.field(description="Records created.")
    updated: int = strawberry.field(description="Rows merged into an existing record.")
    skipped: int = strawberry.field(
        description="Rows neither imported nor refused: empty rows (listed in `skippedRows`), "
        "and rows a find-only lead strategy matched to no lead.",
    )
    rejected: int = strawberry.field(
        description="Rows refused (see `rejectedRows`); the rest of the file is imported.",
    )
    rejected_rows: list[RejectedRow] = strawberry.field(
        description="The refused rows with their reasons, by line (the first 1000).",
    )
    skipped_rows: list[RejectedRow] = strawberry.field(
        description="The empty rows skipped (a blank line, a CSV row of empty values), by line "
        "(the first 1000).",
    )
    unmapped_columns: list[str] = strawberry.field(
        description="The file's columns that no field takes and no matching strategy reads "
        "(HubSpot's `Lifecycle Stage`, say): not imported. Each once, as the file names it.",
    )
    contacts_created: int = strawberry.field(
        description="marketingOnly contacts created for leads."
    )
    accounts_created: int = strawberry.field(
        description="Accounts created for rows whose company matched no account.",
    )
    resumed_from_line: int = strawberry.field(
        description="The line this run started after (0: from the beginning); an earlier run had "
        "committed up to it.",
    )
    already_done: bool = strawberry.field(
        description="This file was imported completely before; the totals are that run's and "
        "nothing was written.",
    )
    plugin_errors: list[PluginErrorType] = strawberry.field(
        description="Plugins that failed after the rows were stored (event handlers, or scoring: "
        "then the leads concerned carry `scoreError`)."
    )

    @classmethod
    def of(cls, out: Any) -> ImportSummary:
        return cls(
            import_id=out.import_id,
            created=out.created,
            updated=out.updated,
            skipped=out.skipped,
            rejected=out.rejected,
            rejected_rows=[RejectedRow(**r) for r in out.rejected_rows],
            skipped_rows=[RejectedRow(**r) for r in out.skipped_rows],
            unmapped_columns=list(out.unmapped_columns),
            contacts_created=out.contacts_created,
            accounts_created=out.accounts_created,
            resumed_from_line=out.resumed_from_line,
            already_done=out.already_done,
            plugin_errors=plugin_errors(out.plugin_failures),
        )


@strawberry.type(
    description="The import stopped: the rows up to `committedLine` are imported, the rest "
    "are not. Sending the same import again resumes after that line."
)
class ImportFailedError(Error):
    import_id: str = strawberry.field(
        description="The import's id: send the same file again to resume after `committedLine`.",
    )
    committed_line: int = strawberry.field(description="Rows up to this line are imported.")


ImportResult = Annotated[
    ImportSummary | ValidationError | ForbiddenError | PluginErrorType | ImportFailedError,
    strawberry.union(
        "ImportResult",
        description="What an import answers: its summary (created, updated, skipped, failed "
        "rows), or a typed error for the whole file.",
    ),
]


@strawberry.type(description="Where an import stands.")
class ImportStatus:
    summary: ImportSummary = strawberry.field(
        description="The totals so far (final once `status` is done).",
    )
    status: str = strawberry.field(description="running (or interrupted) | done | failed")
    error: str | None = strawberry.field(description="Why a failed import stopped.")
    committed_line: int = strawberry.field(description="Rows up to this line are imported.")
    started_at: datetime = strawberry.field(description="When the import started.")
    finished_at: datetime | None = strawberry.field(
        description="When it finished; null while running or after a failure.",
    )
