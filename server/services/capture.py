"""Capture: a form submission or event registration becomes a contact, a lead and an
interaction, without duplicates.

The form's strategies and the records' keys come from the matching service
(:mod:`leadgraph.services.matching`): a key is claimed in ``match_keys`` (an insert on
``_id``), which the database keeps unique, so all concurrent submissions with the same email, in
any process, get the same record id.  A capture is one transaction: the keys are read and
claimed, the contact and the lead found or made, the interaction, the contact's insights, the
events and the idempotency record written, all or nothing.  Two captures claiming the same key
at once conflict (a write conflict, which the transaction's retry runs again whole: the second
then finds the first one's records), so there is one contact and one lead per key; a retried
submission (same idempotency key) records nothing twice.  A process killed half way leaves
nothing: the client, answered nothing, sends it again.  Earlier versions noted each request in
``pending_captures`` first; start-up and the sweep still finish the notes they left
(:mod:`leadgraph.web.capture_sweep`), in the transaction of the capture run again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from ..contracts import PluginFailure
from ..store import submissions
from ..store.clock import now
from ..types import PluginManager
from .capture_attempt import Attempt
from .capture_input import actor_of, parsed_input, request_digest, require_match_fields
from .capture_outcome import Outcome, replay_or_refuse
from .consent import Consent, ConsentChange, require_lists
from .funnel import Funnel
from .interactions import announce_and_score
from .matching import Matching


async def capture(
    db: AsyncDatabase,
    *,
    rules: Any,
    pm: PluginManager | None,
    form_id: str,
    fields: Any,
    interaction_type: str = "form_submitted",
    event_id: str | None = None,
    marketing_context: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    occurred_at: datetime | None = None,
    source: str = "form",
    make_lead: Callable[[dict[str, Any]], Mapping[str, Any]],
    matching: Matching | None = None,
    pending: dict[str, Any] | None = None,
    consent: Consent | None = None,
    origin: dict[str, str | None] | None = None,
    owner: str | None = None,
    funnel: Funnel | None = None,
) -> Outcome:
    """Run one submission through matching; see the module docstring.

    ``rules`` is the live :class:`~leadgraph.rules.ruleset.RuleSet` (None: the default
    strategies) and ``pm`` the plugin manager, unless ``matching`` (the service) is given;
    ``make_lead`` builds a new lead document (at the lifecycle's initial stage) and ``funnel``
    scores it in the transaction when its contact is new too (:mod:`.first_score`).  Fields
    beyond the contact and lead fields are seen by the matching strategies too.  ``pending``:
    the ``pending_captures`` note an earlier version left for an interrupted capture.
    Preferences, consent and ``subscriptions`` (active lists) change through the ``consent``
    service in the transaction, as the person's own act through this form, from ``origin``
    (``ip``, ``userAgent``).  An erased email's submission lifts its suppression in the
    transaction (the person came back: a new contact); one racing the erasure of its contact
    lands wholly before or after it (:meth:`Attempt.record`).  An idempotency key is
    ``owner``'s (the API key's id) for this operation (:mod:`leadgraph.store.submissions`).
    """
    matching = matching or Matching(db, rules, pm)
    parsed = parsed_input(form_id, fields, idempotency_key, matching.ruleset)
    await require_lists(db, parsed.subscriptions, "input.fields.subscriptions")
    change = ConsentChange(
        preferences=parsed.contact.pop("preferences", None) or {},
        consent=parsed.contact.pop("consent", None) or {},
        subscribe=parsed.subscriptions,
    )
    require_match_fields(matching, form_id, parsed)
    if occurred_at is not None and occurred_at.tzinfo is None:
        occurred_at = occurred_at.replace(tzinfo=UTC)  # a time without zone is taken as UTC
    request = (pending or {}).get("request") or {}
    owner = request.get("owner", owner)
    digest = request.get("payloadHash") or request_digest(
        form_id, fields, interaction_type, event_id, marketing_context, occurred_at
    )
    operation = "registerForEvent" if source == "event" else "submitForm"
    sid = submissions.scoped_id(operation, owner, idempotency_key) if idempotency_key else None
    if sid and (done := await submissions.get(db, sid)):  # the key has an outcome: a retry
        return await replay_or_refuse(db, done, None if pending else digest, idempotency_key)
    attempt = Attempt(
        db=db,
        pm=pm,
        matching=matching,
        consent=consent or Consent(db),
        make_lead=make_lead,
        form_id=form_id,
        parsed=parsed,
        change=change,
        actor=actor_of(source, form_id, origin),
        interaction_type=interaction_type,
        event_id=event_id,
        marketing_context=marketing_context,
        idempotency_key=idempotency_key,
        occurred_at=occurred_at or now(),
        source=source,
        pending=pending,
        sid=sid,
        digest=digest,
        owner=owner,
        operation=operation,
        funnel=funnel,
    )
    return await attempt.run()


@dataclass
class Captured:
    """A stored submission and the plugins that failed after it was stored."""

    outcome: Outcome
    plugin_failures: list[PluginFailure] = field(default_factory=list)


class Capture:
    def __init__(
        self,
        funnel: Funnel,
        rules: Any,
        pm: PluginManager | None,
        matching: Matching,
        consent: Consent,
    ) -> None:
        self.funnel = funnel
        self.rules = rules
        self.pm = pm
        self.matching = matching
        self.consent = consent

    async def submit(self, **kwargs: Any) -> Captured:
        """Run one submission (see :func:`capture` for the
        arguments).

        The submission is stored exactly once whatever a plugin does afterwards; a scoring
        plugin that fails leaves the lead marked stale and is reported in the result.
        """
        out = await capture(
            self.funnel.db,
            rules=self.rules,
            pm=self.pm,
            make_lead=self.funnel.new_lead,
            funnel=self.funnel,
            matching=self.matching,
            consent=self.consent,
            **kwargs,
        )
        if out.replayed:
            return Captured(out)
        created = [out.lead["_id"]] if out.lead is not None and out.lead_match.created else []
        report, failures = await announce_and_score(
            self.funnel, self.pm, out.contact, out.interaction, out.events, created, out.first
        )
        if out.lead is not None and report is not None:
            out.lead = report.lead(out.lead["_id"]) or out.lead
        return Captured(out, failures)
