"""The record of what changed: one frozen dataclass per event type, all in this package.
May import the core only (a core module itself: no api, web, cli, services or GraphQL).
:mod:`leadgraph.events.definitions` holds the types of the records that configure leadgraph
(segment definitions, subscription lists, webhooks), re-exported here.

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
(tests/test_events.py keeps it in step with this module).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Literal

from bson import ObjectId

from .base import (
    CATALOGUE,
    SYSTEM,
    VIAS,
    Actor,
    Change,
    Event,
    RecordType,
    Via,
    act_as,
    acting,
    acting_as,
    catalogue,
    catalogue_markdown,
    diff,
    event,
    from_doc,
    hook_name,
)

__all__ = [
    "CATALOGUE",
    "SYSTEM",
    "VIAS",
    "Actor",
    "Change",
    "Event",
    "RecordType",
    "SegmentCreated",
    "SegmentDeleted",
    "SegmentUpdated",
    "SubscriptionListArchived",
    "SubscriptionListCreated",
    "SubscriptionListUpdated",
    "Via",
    "WebhookCreated",
    "WebhookDeleted",
    "WebhookSecretRotated",
    "WebhookUpdated",
    "act_as",
    "acting",
    "acting_as",
    "catalogue",
    "catalogue_markdown",
    "diff",
    "from_doc",
    "hook_name",
]


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
    """Duplicates were merged into this contact (``mergeContacts``); ``changes`` holds each
    field the survivorship rules changed on it (custom fields included), old and new."""

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
    """An account was created (``createAccount``, or an import: ``source`` says which)."""

    type: ClassVar[str] = "account.created"
    name: str | None = None
    source: str = "api"


@event
@dataclass(frozen=True, kw_only=True)
class AccountUpdated(_AccountEvent):
    """An account's fields were changed (``updateAccount``, or an import updating a matched
    account); ``changes`` holds each field's old and new value."""

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
    fields), or a capture or an import updated a matched lead; ``changes`` holds each field's
    old and new value."""

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
    """A lead got an owner (``assignLead``, or the assignment ``rule`` that chose it), or a
    person accepted it for sales (``accepted``)."""

    type: ClassVar[str] = "lead.assigned"
    owner: str | None
    previous_owner: str | None = None
    accepted: bool = False
    rule: str | None = None


@event
@dataclass(frozen=True, kw_only=True)
class LeadSlaBreached(_LeadEvent):
    """A lead stayed in ``stage`` past its SLA (due ``due_at``, ``within`` of entering it) and
    the SLA scheduler acted on it, once: ``actions`` done (``event``, ``move:<stage>``,
    ``reassign:<owner>``) and ``skipped`` (an action that could not be done, and why)."""

    type: ClassVar[str] = "lead.sla_breached"
    stage: str
    within: str
    due_at: datetime
    actions: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    rules_version: str | None = None


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
    (``segmentEvaluations`` holds the evaluation, ``evaluation_id``): ``evaluateSegment``,
    ``publishSegment``, or ``addToSegment`` / ``removeFromSegment`` changing a published static
    list (``reason`` ``added`` / ``removed``)."""

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


# registered after the types above, so the catalogue lists them last
from .definitions import (  # noqa: E402
    SegmentCreated,
    SegmentDeleted,
    SegmentUpdated,
    SubscriptionListArchived,
    SubscriptionListCreated,
    SubscriptionListUpdated,
    WebhookCreated,
    WebhookDeleted,
    WebhookSecretRotated,
    WebhookUpdated,
)
