"""The one road for recording an interaction: a capture (form submission, event
registration) and ``recordInteraction`` both write it with :func:`write` inside their
transaction, keep their idempotency key in ``submissions`` (:mod:`leadgraph.store.submissions`,
scoped to the caller and the operation) and, after the commit, announce and score it with
:func:`announce_and_score`: the events first (plugins hear ``interaction.recorded``), then
the contact's open leads rescored.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from ..contracts import PluginFailure
from ..db import in_transaction
from ..errors import Conflict, NotFound
from ..events import Event, InteractionRecorded
from ..store import contacts, interactions, submissions
from ..store.writes import Writes
from ..types import InteractionDoc, PluginManager, Session
from . import dispatch, history
from .first_score import FirstScore
from .funnel import Funnel, Report

OPERATION = "recordInteraction"


def interaction_event(doc: Mapping[str, Any]) -> InteractionRecorded:
    """The ``interaction.recorded`` event of a stored interaction."""
    return InteractionRecorded(
        interaction_id=doc["_id"],
        contact_id=doc["contactId"],
        interaction_type=doc["type"],
        occurred_at=doc["occurredAt"],
        custom_type=doc.get("customType"),
    )


async def write(
    db: AsyncDatabase,
    fields: dict[str, Any],
    session: Session | None,
    contact_set: dict[str, Any] | None = None,
    new_contact: Mapping[str, Any] | None = None,
    writes: Writes | None = None,
    known: Mapping[str, Any] | None = None,
) -> tuple[InteractionDoc | None, dict[str, Any] | None]:
    """Store an interaction and fold it into its contact's insights, in the caller's
    transaction, setting ``contact_set`` on the contact in the same write (a capture's
    submitted fields); the interaction and the contact before it (when ``contact_set`` is
    given), both None (nothing written) when the contact is gone (deleted or erased).
    ``new_contact``: the contact, made in this transaction and not stored yet, is inserted
    with its first insights.  ``writes``: the writes are gathered there, sent with the
    transaction's other writes; ``known``: the contact as the transaction read it."""
    if new_contact is not None:
        doc = await interactions.record_first(db, fields, new_contact, session, writes)
        return doc, None
    return await interactions.record_changing(db, fields, contact_set, session, writes, known)


async def announce_and_score(
    funnel: Funnel,
    pm: PluginManager | None,
    contact: Mapping[str, Any] | None,
    interaction: Mapping[str, Any],
    events: list[Event],
    created: Collection[ObjectId] = (),
    first: FirstScore | None = None,
) -> tuple[Report | None, list[PluginFailure]]:
    """After the commit: hand the events to plugins, then rescore the contact's open leads
    (``created``: the leads this interaction made; ``first``: the lead a capture made with its
    contact and scored in its transaction, see :meth:`Funnel.after_engagement`).  The report
    (None without a contact) and the plugins that failed."""
    failures = await dispatch.deliver(funnel.db, pm, events)
    if contact is None:
        return None, failures
    report = await funnel.after_engagement(
        dict(contact),
        created=created,
        cause=history.interaction(interaction),
        first=first,
    )
    return report, [*failures, *report.failures]


@dataclass
class Recorded:
    """What :meth:`Interactions.record` did: the interaction, whether it is new, the leads
    rescored and the plugins that failed."""

    interaction: Mapping[str, Any]
    created: bool
    leads: list[dict[str, Any]] = field(default_factory=list)
    failures: list[PluginFailure] = field(default_factory=list)


class Interactions:
    """Interactions recorded through the API (``recordInteraction``)."""

    def __init__(self, funnel: Funnel, pm: PluginManager | None) -> None:
        self.funnel, self.pm = funnel, pm

    async def record(
        self, fields: dict[str, Any], *, key: str | None = None, owner: str | None = None
    ) -> Recorded:
        """Record an interaction for ``fields["contactId"]`` (validated by the caller).

        ``key``: ``owner``'s idempotency key; the same key with the same input answers the
        first interaction (``created`` False), with another input :class:`Conflict`.
        :raises NotFound: the contact was deleted or erased meanwhile (nothing written).
        """
        db = self.funnel.db
        digest = submissions.payload_hash(fields)
        sid = submissions.scoped_id(OPERATION, owner, key) if key else None
        if sid and (done := await submissions.get(db, sid)):
            return await self._replay(done, digest, key)
        found: list[Event] = []

        async def work(session: Session | None) -> InteractionDoc | None:
            doc, _ = await write(db, {**fields, "idempotencyKey": key}, session)
            if doc is None:
                return None
            found[:] = [interaction_event(doc)]
            await dispatch.append(db, self.pm, found, session)
            if key:
                outcome = {"contactId": doc["contactId"], "interactionId": doc["_id"]}
                record = submissions.new_document(OPERATION, owner, key, digest, outcome)
                await submissions.insert(db, record, session=session)
            return doc

        try:
            doc = await in_transaction(db, work)
        except DuplicateKeyError:  # the same key, sent twice at once: the first one won
            done = await submissions.get(db, sid or "")
            if done is None:
                raise
            return await self._replay(done, digest, key)
        if doc is None:
            raise NotFound("Contact", str(fields["contactId"]))
        contact = await contacts.get(db, doc["contactId"])
        report, failures = await announce_and_score(self.funnel, self.pm, contact, doc, found)
        return Recorded(doc, True, list(report.leads) if report else [], failures)

    async def _replay(self, done: dict[str, Any], digest: str, key: str | None) -> Recorded:
        if not submissions.same_payload(done, digest):
            raise Conflict(f"idempotency key {key!r} was already used with another input")
        doc = await interactions.get(self.funnel.db, done["interactionId"])
        if doc is None:
            raise Conflict("the interaction of this idempotency key was deleted")
        return Recorded(doc, False)
