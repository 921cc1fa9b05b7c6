"""Names for the types that cross the layers: a stored document (``Doc``), a transaction's
session (``Session``), the plugin manager (``PluginManager``) and the shapes of the stored
documents that services, store and api hand each other (``LeadDoc``, ``StageEntry``, ...).

Imports only typing, pluggy and bson at run time (pymongo's session type only for the type
checker, so rules/ may name a Session without importing pymongo); every layer may import it.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeAlias, TypedDict

import pluggy
from bson import ObjectId

if TYPE_CHECKING:
    from pymongo.asynchronous.client_session import AsyncClientSession

#: A document as MongoDB stores it (and as store/ reads and writes it).
Doc: TypeAlias = dict[str, Any]
#: The session of a multi-document transaction (``leadgraph.db.in_transaction``).
Session: TypeAlias = "AsyncClientSession"
#: leadgraph's plugin manager (``leadgraph.plugin_manager.get_plugin_manager``).
PluginManager: TypeAlias = pluggy.PluginManager


# ---------------------------------------------------------------- stored documents
# The fields every layer relies on (docs/architecture.md lists them all); ``total=False``:
# a document read back may lack what older versions did not write, and more fields are
# stored than named here.


class StageEntry(TypedDict, total=False):
    """One entry of a lead's ``stageHistory`` (made by ``leadgraph.documents.stage_entry``)."""

    stage: str | None
    enteredAt: datetime
    reason: str | None
    by: str | None
    transition: str | None
    rulesVersion: str | None
    owner: str | None  # a sales acceptance: who owns the lead
    status: str  # a close: qualified or disqualified
    override: bool  # an admin's manual move


class LeadDoc(TypedDict, total=False):
    """A document of the ``leads`` collection."""

    _id: ObjectId
    topic: str | None
    marketingContext: dict[str, Any] | None
    formId: str | None
    email: str | None
    emailNormalized: str | None
    firstName: str | None
    lastName: str | None
    companyName: str | None
    jobTitle: str | None
    parentContactId: ObjectId | None
    parentAccountId: ObjectId | None
    stage: str
    stageHistory: list[StageEntry]
    scores: list[dict[str, Any]]
    salesReady: bool
    salesReadyBy: str | None
    salesReadyHeld: list[str]
    teleprospectReady: bool
    scoreError: dict[str, Any] | None
    scoreErrors: list[dict[str, Any]]
    owner: str | None
    salesAccepted: dict[str, Any]  # who accepted the lead into the acceptance stage, when
    sla: dict[str, Any] | None  # the SLA of its stage: {stage, within, enteredAt, dueAt, ...}
    status: str
    rev: int
    createdAt: datetime
    updatedAt: datetime


class ContactDoc(TypedDict, total=False):
    """A document of the ``contacts`` collection."""

    _id: ObjectId
    firstName: str | None
    lastName: str | None
    email: str | None
    emailNormalized: str | None
    phone: str | None
    jobTitle: str | None
    role: str | None
    accountId: ObjectId | None
    marketingSource: str | None
    marketingOnly: bool
    preferences: dict[str, bool]
    subscriptions: list[str]
    unsubscribed: list[str]
    consent: dict[str, Any]
    insights: dict[str, Any]
    createdAt: datetime
    updatedAt: datetime


class AccountDoc(TypedDict, total=False):
    """A document of the ``accounts`` collection."""

    _id: ObjectId
    name: str
    nameNormalized: str
    domain: str | None
    industry: str | None
    numberOfEmployees: int | None
    annualRevenue: float | None
    country: str | None
    scores: list[dict[str, Any]]
    createdAt: datetime
    updatedAt: datetime


class InteractionDoc(TypedDict, total=False):
    """A document of the ``interactions`` collection."""

    _id: ObjectId
    contactId: ObjectId
    type: str
    occurredAt: datetime
    leadId: ObjectId | None
    formId: str | None
    eventId: str | None
    emailId: str | None
    url: str | None
    details: dict[str, Any]
    idempotencyKey: str | None
