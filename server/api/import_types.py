"""What an import is given and answers: its kinds and formats, the summary of a run, where
an import stands, and the error of an import that stopped (the mutation is in
:mod:`leadgraph.api.capture`)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any

import strawberry

from .common import described_values
from .errors import Error, ForbiddenError, PluginErrorType, ValidationError, plugin_errors


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


@strawberry.input(description="A file to import: its text, CSV (with a header) or JSON lines.")
class ImportInput:
    kind: ImportKind = strawberry.field(
        description="Whether the rows are contacts, leads or accounts.",
    )
    data: str = strawberry.field(
        description="The file's text (at most 50 MB; the CLI's `leadgraph import` takes more).",
    )
    format: ImportFormat = strawberry.field(
        default=ImportFormat.CSV,
        description="CSV with a header row (the default) or JSON lines.",
    )
    form_id: str | None = strawberry.field(
        default=None, description="Match with this form's strategies (default strategies else)."
    )
    name: str | None = strawberry.field(
        default=None,
        description="A name for the file in the import's records (default `upload.csv` / "
        "`upload.jsonl`).",
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
        description="Rows neither imported nor refused: blank rows, and rows a find-only lead "
        "strategy matched to no lead.",
    )
    rejected: int = strawberry.field(
        description="Rows refused (see `rejectedRows`); the rest of the file is imported.",
    )
    rejected_rows: list[RejectedRow] = strawberry.field(
        description="The refused rows with their reasons, by line (the first 1000).",
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
