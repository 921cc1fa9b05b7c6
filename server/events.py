"""The record of what changed: one frozen dataclass per event type, all in this module.

Every service that changes a record appends the typed event of that change to the ``events``
collection in the same transaction as the change (:mod:`leadgraph.store.events` stores it,
:mod:`leadgraph.services.dispatch` hands it to plugins after the commit).  That record is the
one source of plugin event hooks, subscriptions, webhooks and the audit log.

An event type has a dotted ``type`` (``contact.updated``), a schema ``version`` (raised when
its fields change incompatibly), the kind of record it is about (``record``), which of its
fields is that record's id and which names the person it is about (``subject``: erasure
redacts their events).  The envelope every event shares: ``id`` (unique, ordered by
creation), ``at``, ``actor`` (who did it, through what) and ``changes`` (each field's old and
new value, for updates).  The other fields are the type's ``data``; docs/events.md lists them
(tests/test_events_catalogue.py keeps it in step with this module).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import re
import types
import typing
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from bson import ObjectId


def now() -> datetime:
    # MongoDB stores milliseconds; truncate so an event read back equals the one written.
    t = datetime.now(UTC)
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


Via = Literal["api", "cli", "import", "centre", "system"]
RecordType = Literal["contact", "account", "lead", "interaction", "opportunity", "segment", "rules"]
VIAS: tuple[str, ...] = typing.get_args(Via)


@dataclass(frozen=True)
class Actor:
    """Who made a change: a name (an API key's, the form id, the import id), its role, and
    the road it took."""

    name: str | None
    role: str | None
    via: Via

    def to_doc(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "via": self.via}

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any] | None) -> Actor | None:
        if not doc:
            return None
        return cls(doc.get("name"), doc.get("role"), doc.get("via", "system"))


#: The server itself (a rule change going live, a background rescore, the sweep).
SYSTEM = Actor(None, None, "system")

_acting: contextvars.ContextVar[Actor | None] = contextvars.ContextVar(
    "leadgraph_actor", default=None
)


def acting() -> Actor:
    """Who the work of this task is done for (:func:`act_as`), else :data:`SYSTEM`."""
    return _acting.get() or SYSTEM


def act_as(actor: Actor | None) -> None:
    """The events this task (and the tasks it starts) creates from now on are ``actor``'s:
    a request's services act for its caller, ``leadgraph`` commands for the CLI."""
    _acting.set(actor)


@contextlib.contextmanager
def acting_as(actor: Actor) -> Iterator[None]:
    """The events created within are ``actor``'s (an import, the subscription centre)."""
    token = _acting.set(actor)
    try:
        yield
    finally:
        _acting.reset(token)


@dataclass(frozen=True)
class Change:
    """One field's value before and after an update (``None``: not set)."""

    field: str
    old: Any
    new: Any

    def to_doc(self) -> dict[str, Any]:
        return {"field": self.field, "old": self.old, "new": self.new}


def diff(
    before: Mapping[str, Any], after: Mapping[str, Any], *, skip: Iterable[str] = ()
) -> tuple[Change, ...]:
    """The changes of a record's stored fields from ``before`` to ``after``, leaving out
    bookkeeping and derived fields (``updatedAt``, ``emailNormalized``, ...) and ``skip``."""
    left = BOOKKEEPING | set(skip)
    keys = sorted(k for k in {*before, *after} if k not in left and not k.endswith("Normalized"))
    return tuple(
        Change(k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)
    )


#: Stored fields an update's ``changes`` leave out (they follow from the others).
BOOKKEEPING = frozenset(
    {"_id", "updatedAt", "createdAt", "rev", "writeId", "sortName", "matchKeys"}
    | {"historyOutbox", "eventsOutbox"}
)


@dataclass(frozen=True, kw_only=True)
class Event:
    """What every event carries.  Subclasses set ``type``, ``record`` and ``record_field``
    (the field holding the record's id), and ``subject_field`` when the event is about a
    person."""

    type: ClassVar[str]
    version: ClassVar[int] = 1
    record: ClassVar[RecordType]
    record_field: ClassVar[str]
    subject_field: ClassVar[str | None] = None

    id: ObjectId = field(default_factory=ObjectId)
    at: datetime = field(default_factory=now)
    actor: Actor | None = field(default_factory=acting)
    changes: tuple[Change, ...] = ()

    @property
    def record_type(self) -> RecordType:
        return self.record

    @property
    def record_id(self) -> ObjectId | str:
        return typing.cast(ObjectId | str, getattr(self, self.record_field))

    @property
    def subject(self) -> ObjectId | None:
        return getattr(self, self.subject_field) if self.subject_field else None

    @classmethod
    def data_fields(cls) -> list[dataclasses.Field[Any]]:
        """The type's own fields, stored under ``data`` (the record id is stored once, in
        ``record.id``)."""
        return [f for f in dataclasses.fields(cls) if f.name not in ENVELOPE | {cls.record_field}]

    def to_doc(self) -> dict[str, Any]:
        """The stored document (see :mod:`leadgraph.store.events`), without ``pending``."""
        return {
            "_id": self.id,
            "type": self.type,
            "v": self.version,
            "at": self.at,
            "actor": self.actor.to_doc() if self.actor else None,
            "record": {"type": self.record_type, "id": self.record_id},
            "subject": self.subject,
            "changes": [c.to_doc() for c in self.changes],
            "data": {camel(f.name): getattr(self, f.name) for f in self.data_fields()},
        }


ENVELOPE = frozenset(f.name for f in dataclasses.fields(Event))


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def hook_name(event_type: str) -> str:
    """The plugin hook of an event type: ``contact.updated`` -> ``leadgraph_contact_updated``."""
    return "leadgraph_" + event_type.replace(".", "_")


CATALOGUE: dict[str, type[Event]] = {}
_TYPE_NAME = re.compile(r"^[a-z]+\.[a-z_]+$")


def event(cls: type[Event]) -> type[Event]:
    """Register an event type in :data:`CATALOGUE` (one place lists them all)."""
    if not _TYPE_NAME.match(cls.type) or cls.type in CATALOGUE:
        raise ValueError(f"bad or duplicate event type {cls.type!r}")
    CATALOGUE[cls.type] = cls
    return cls


def from_doc(doc: Mapping[str, Any]) -> Event:
    """The typed event of a stored document.  Fields a redaction dropped come back None."""
    cls = CATALOGUE[doc["type"]]
    data = doc.get("data") or {}
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {
        f.name: _typed(hints[f.name], data.get(camel(f.name))) for f in cls.data_fields()
    }
    values[cls.record_field] = doc["record"]["id"]
    changes = tuple(
        Change(c["field"], c.get("old"), c.get("new")) for c in doc.get("changes") or ()
    )
    return cls(
        id=doc["_id"],
        at=doc["at"],
        actor=Actor.from_doc(doc.get("actor")),
        changes=changes,
        **values,
    )


def _typed(hint: Any, value: Any) -> Any:
    """A stored value as its field's type: BSON arrays come back as tuples."""
    if isinstance(value, list) and _is_tuple(hint):
        return tuple(value)
    return value


def _is_tuple(hint: Any) -> bool:
    if typing.get_origin(hint) is tuple:
        return True
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return any(_is_tuple(a) for a in typing.get_args(hint))
    return False


def catalogue() -> Iterator[type[Event]]:
    return iter(CATALOGUE.values())


# ---------------------------------------------------------------- contacts


@dataclass(frozen=True, kw_only=True)
class _ContactEvent(Event):
    record: ClassVar[RecordType] = "contact"
    record_field: ClassVar[str] = "contact_id"
    subject_field: ClassVar[str | None] = "contact_id"

    contact_id: ObjectId


@event
@dataclass(frozen=True, kw_only=True)
class ContactCreated(_ContactEvent):
    """A contact was created: by hand (``createContact``), by a capture, an import, or
    orphan linking (``source``: ``api``, ``capture``, ``import``, ``orphans``)."""

    type: ClassVar[str] = "contact.created"
    source: str
    email: str | None = None
    account_id: ObjectId | None = None


@event
@dataclass(frozen=True, kw_only=True)
class ContactUpdated(_ContactEvent):
    """A contact's fields were changed (``updateContact``, a capture or import updating a
    matched contact); ``changes`` holds each field's old and new value."""

    type: ClassVar[str] = "contact.updated"


@event
@dataclass(frozen=True, kw_only=True)
class ContactDeleted(_ContactEvent):
    """A contact was deleted with its interactions (``deleteContact``)."""

    type: ClassVar[str] = "contact.deleted"


@event
@dataclass(frozen=True, kw_only=True)
class ContactMerged(_ContactEvent):
    """Duplicates were merged into this contact (``mergeContacts``)."""

    type: ClassVar[str] = "contact.merged"
    merge_id: ObjectId
    merged_ids: tuple[ObjectId, ...]


@event
@dataclass(frozen=True, kw_only=True)
class ContactMergeUndone(_ContactEvent):
    """A merge into this contact was undone (``undoMerge``): ``restored_ids`` exist again."""

    type: ClassVar[str] = "contact.merge_undone"
    merge_id: ObjectId
    restored_ids: tuple[ObjectId, ...]


@event
@dataclass(frozen=True, kw_only=True)
class ContactErased(_ContactEvent):
    """A person was erased (``eraseContact``): their records are gone and every event about
    them lost its values."""

    type: ClassVar[str] = "contact.erased"


@event
@dataclass(frozen=True, kw_only=True)
class ConsentChanged(_ContactEvent):
    """What a contact allows changed (preferences, consent, subscriptions): ``changes`` holds
    each field's old and new value; ``source`` says where it came from."""

    type: ClassVar[str] = "consent.changed"
    source: str | None = None


# ---------------------------------------------------------------- accounts


@dataclass(frozen=True, kw_only=True)
class _AccountEvent(Event):
    record: ClassVar[RecordType] = "account"
    record_field: ClassVar[str] = "account_id"

    account_id: ObjectId


@event
@dataclass(frozen=True, kw_only=True)
class AccountCreated(_AccountEvent):
    """An account was created (``createAccount``, a capture or an import)."""

    type: ClassVar[str] = "account.created"
    name: str | None = None
    source: str = "api"


@event
@dataclass(frozen=True, kw_only=True)
class AccountUpdated(_AccountEvent):
    """An account's fields were changed; ``changes`` holds each field's old and new value."""

    type: ClassVar[str] = "account.updated"


@event
@dataclass(frozen=True, kw_only=True)
class AccountDeleted(_AccountEvent):
    """An account was deleted (``deleteAccount``); its contacts and leads left it."""

    type: ClassVar[str] = "account.deleted"


# ---------------------------------------------------------------- leads


@dataclass(frozen=True, kw_only=True)
class _LeadEvent(Event):
    record: ClassVar[RecordType] = "lead"
    record_field: ClassVar[str] = "lead_id"
    subject_field: ClassVar[str | None] = "contact_id"

    lead_id: ObjectId
    contact_id: ObjectId | None = None


@event
@dataclass(frozen=True, kw_only=True)
class LeadCreated(_LeadEvent):
    """A lead was created (``createLead``, a capture, an import) at ``stage``."""

    type: ClassVar[str] = "lead.created"
    source: str
    stage: str | None = None
    account_id: ObjectId | None = None
    topic: str | None = None


def lead_created(doc: Mapping[str, Any], source: str) -> LeadCreated:
    """The ``lead.created`` event of a stored lead document."""
    return LeadCreated(
        lead_id=doc["_id"],
        contact_id=doc.get("parentContactId"),
        source=source,
        stage=doc.get("stage"),
        account_id=doc.get("parentAccountId"),
        topic=doc.get("topic"),
    )


@event
@dataclass(frozen=True, kw_only=True)
class LeadUpdated(_LeadEvent):
    """A person changed a lead's fields or links (``updateLead``, ``linkLead``, flags, stage
    fields); ``changes`` holds each field's old and new value."""

    type: ClassVar[str] = "lead.updated"


@event
@dataclass(frozen=True, kw_only=True)
class LeadDeleted(_LeadEvent):
    """A lead was deleted with its score history (``deleteLead``)."""

    type: ClassVar[str] = "lead.deleted"


@event
@dataclass(frozen=True, kw_only=True)
class LeadScored(_LeadEvent):
    """The funnel stored new scores for a lead: ``changes`` holds ``scores.<model>`` (and
    ``salesReady`` when it flipped) old and new; ``rules_version`` scored it."""

    type: ClassVar[str] = "lead.scored"
    rules_version: str | None
    sales_ready: bool = False


@event
@dataclass(frozen=True, kw_only=True)
class LeadStageChanged(_LeadEvent):
    """A lead moved along its lifecycle, automatically (a transition of ``rules_version``) or
    by hand (``transition`` ``manual``)."""

    type: ClassVar[str] = "lead.stage_changed"
    from_stage: str | None
    to_stage: str
    transition: str
    rules_version: str | None = None


@event
@dataclass(frozen=True, kw_only=True)
class LeadAssigned(_LeadEvent):
    """A lead got an owner (``assignLead``), or a person accepted it for sales
    (``accepted``)."""

    type: ClassVar[str] = "lead.assigned"
    owner: str | None
    previous_owner: str | None = None
    accepted: bool = False


@event
@dataclass(frozen=True, kw_only=True)
class LeadQualified(_LeadEvent):
    """A lead was qualified into an opportunity (``qualifyLead``), in the transaction that
    created the opportunity."""

    type: ClassVar[str] = "lead.qualified"
    opportunity_id: ObjectId
    reason: str | None = None


@event
@dataclass(frozen=True, kw_only=True)
class LeadDisqualified(_LeadEvent):
    """A lead left the funnel disqualified (``disqualifyLead``)."""

    type: ClassVar[str] = "lead.disqualified"
    reason: str | None = None


# ---------------------------------------------------------------- the rest


@event
@dataclass(frozen=True, kw_only=True)
class OpportunityClosed(Event):
    """An open opportunity was won or lost (``markOpportunityWon`` / ``markOpportunityLost``)."""

    type: ClassVar[str] = "opportunity.closed"
    record: ClassVar[RecordType] = "opportunity"
    record_field: ClassVar[str] = "opportunity_id"
    subject_field: ClassVar[str | None] = "contact_id"

    opportunity_id: ObjectId
    lead_id: ObjectId | None
    contact_id: ObjectId | None
    stage: Literal["won", "lost"]
    reason: str | None = None


@event
@dataclass(frozen=True, kw_only=True)
class InteractionRecorded(Event):
    """An interaction was recorded against a contact (a capture, ``recordInteraction``, an
    import of interactions); ``interaction_type`` is its type (``custom_type`` for a declared
    one)."""

    type: ClassVar[str] = "interaction.recorded"
    record: ClassVar[RecordType] = "interaction"
    record_field: ClassVar[str] = "interaction_id"
    subject_field: ClassVar[str | None] = "contact_id"

    interaction_id: ObjectId
    contact_id: ObjectId
    interaction_type: str
    occurred_at: datetime
    custom_type: str | None = None


@event
@dataclass(frozen=True, kw_only=True)
class CaptureSubmitted(Event):
    """A form submission or event registration was captured (``submitForm``,
    ``registerForEvent``): which contact, lead and interaction it stored, and whether it
    created them."""

    type: ClassVar[str] = "capture.submitted"
    record: ClassVar[RecordType] = "contact"
    record_field: ClassVar[str] = "contact_id"
    subject_field: ClassVar[str | None] = "contact_id"

    contact_id: ObjectId
    form_id: str
    interaction_id: ObjectId
    lead_id: ObjectId | None = None
    contact_created: bool = False
    lead_created: bool = False


@event
@dataclass(frozen=True, kw_only=True)
class ImportRow(Event):
    """One row of an import was stored: the record it created or updated (``entity``) and
    where it came from (``import_id``, ``line``)."""

    type: ClassVar[str] = "import.row"
    record: ClassVar[RecordType] = "contact"  # or the row's ``entity``
    record_field: ClassVar[str] = "target_id"
    subject_field: ClassVar[str | None] = "contact_id"

    target_id: ObjectId
    entity: RecordType
    import_id: str
    line: int
    created: bool
    contact_id: ObjectId | None = None

    @property
    def record_type(self) -> RecordType:
        return self.entity


@event
@dataclass(frozen=True, kw_only=True)
class SegmentMembershipChanged(Event):
    """An evaluation of a segment found members that joined or left it since the last one
    (``segmentEvaluations`` holds the evaluation, ``evaluation_id``)."""

    type: ClassVar[str] = "segment.membership_changed"
    record: ClassVar[RecordType] = "segment"
    record_field: ClassVar[str] = "segment"

    segment: str
    evaluation_id: ObjectId
    joined: tuple[ObjectId, ...]
    left: tuple[ObjectId, ...]
    reason: str


@event
@dataclass(frozen=True, kw_only=True)
class RulesVersionLive(Event):
    """A rules version went live (start-up, hot reload, ``reloadRules``), replacing
    ``previous_version``."""

    type: ClassVar[str] = "rules.version_live"
    record: ClassVar[RecordType] = "rules"
    record_field: ClassVar[str] = "rules_version"

    rules_version: str
    previous_version: str | None = None


# ---------------------------------------------------------------- the catalogue, as docs


def _type_name(hint: Any) -> str:
    text = hint.__name__ if isinstance(hint, type) else str(hint)
    text = text.replace("typing.", "").replace("bson.objectid.", "")
    return text.replace("datetime.datetime", "datetime").replace("leadgraph.events.", "")


def catalogue_markdown() -> str:
    """docs/events.md's catalogue (tests/test_events.py checks the file holds it)."""
    lines = []
    for cls in catalogue():
        hints = typing.get_type_hints(cls)
        doc = " ".join((cls.__doc__ or "").split()).replace("``", "`")
        lines += [f"### `{cls.type}` (v{cls.version})", "", doc, ""]
        lines.append(f"- hook: `{hook_name(cls.type)}(event, event_id)`")
        subject = f", subject `{camel(cls.subject_field)}`" if cls.subject_field else ""
        rid = camel(cls.record_field)
        lines.append(f"- record: `{cls.record}` (`record.id` is `{rid}`){subject}")
        for f in cls.data_fields():
            lines.append(f"- `data.{camel(f.name)}`: `{_type_name(hints[f.name])}`")
        lines.append("")
    return "\n".join(lines)
