"""What capture is given: a form submission, an event registration, a file to import."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from .types import ImportFormat, ImportKind


@strawberry.input(description="A marketing form (landing page) submission.")
class SubmitFormInput:
    form_id: str = strawberry.field(
        description="The marketing form (landing page) id; it chooses the matching strategies "
        "(the defaults for a form without its own).",
    )
    fields: JSON = strawberry.field(
        description="Submitted values: email, firstName, lastName, phone, jobTitle, role, "
        "companyName, topic, allowBulkEmail, allowPrefill, allowEmail, trackEmail, consent, "
        "subscriptions, custom (an object of the contact's and the lead's custom field values "
        "by name, text read as each field's type); anything else is kept in the interaction's "
        "details."
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
