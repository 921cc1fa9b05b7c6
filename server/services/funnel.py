"""The one funnel runner: evaluate -> persist -> announce, for every path that touches a lead.

- **evaluate** (pure: facts + rules + triggers + time, :mod:`leadgraph.rules.evaluate`): scores
  by every applicable model with their explanations, the ``salesReady`` flag those scores imply,
  and the automatic lifecycle transitions the triggers take.  It reads and writes nothing.
- **persist**: one atomic write per lead (``bulk_write`` for a batch), guarded by the lead's
  revision so two runs racing on one lead never store facts older than the other's: the loser
  is evaluated again from fresh facts.
- **announce**: the write's events (``lead.scored``, ``lead.stage_changed``, stored with it by
  the persist point) are handed to plugins; failing handlers are reported, never undo the
  write.

API mutations, capture, import, ``leadgraph rescore`` and the demo seed all go through it.

``salesReady`` follows the scores both ways (a lead is sales-ready while a model's score is at
or above its threshold), unless a person set it by hand (``salesReadyBy: "hand"``).  A decision
that makes a sales-ready lead not sales-ready (sending it back to marketing, or un-marking it by
hand) *holds* the models then over their threshold (``salesReadyHeld``): such a model makes
the lead sales-ready again only after its score fell under the threshold and newly crossed it,
never because of an unrelated interaction.

A plugin that fails while a lead is evaluated is reported to the caller and marks the lead
stale with ``scoreError {plugin, hook, message}``; the next successful run clears the mark.  A
scoring kind that fails stales only its own model (the last score kept, ``stale``, and
``scoreErrors`` naming the model since its first failure): the other models are scored and the
transitions follow.  A guard or action that fails leaves the stage as it was.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from ..contracts import Facts, PluginFailure
from ..db import in_transaction
from ..documents import DEFAULT_STAGE, stage_entry
from ..errors import Forbidden, NotFound
from ..events import Event, LeadDisqualified
from ..rules import lifecycle, sla
from ..rules.evaluate import Evaluation, applied, evaluate
from ..rules.ruleset import RuleSet
from ..store import contacts, leads
from ..store.clock import now as db_now
from ..types import LeadDoc, PluginManager, Session, StageEntry
from . import assignment, dispatch, rollup, stage_move
from .facts import EventCounts, gather
from .first_score import FirstScore
from .history import Cause, History, Write, inferred
from .preview import changed
from .report import LeadFailure, Report
from .rescore import rescore_leads

log = logging.getLogger("leadgraph.funnel")

RETRIES = 5


# ---------------------------------------------------------------- runs


def tally(
    report: Report,
    doc: dict[str, Any],
    e: Evaluation,
    after: dict[str, Any],
    facts: Mapping[ObjectId, Facts],
) -> None:
    """Count a lead evaluated and stored (``doc`` as read, ``after`` as stored) in
    ``report``: the lead after, its account's roll-up when its scores changed, and whether it
    failed, changed or stayed as it was."""
    report.leads.append(after)
    if rollup.scores_changed(doc, after):
        report.accounts |= rollup.accounts_of(doc, facts[doc["_id"]]["contact"])
    if e.failure is not None:
        report.failed.append(LeadFailure(doc["_id"], e.failure, e.failures[1:]))
        log.warning("lead %s: %s", doc["_id"], e.failure)
    elif changed(doc, after):  # counted as a preview counts
        report.changed += 1
    else:
        report.unchanged += 1


class Funnel:
    """The funnel of one rule set over one database, announcing to one plugin manager."""

    def __init__(
        self, db: AsyncDatabase, ruleset: RuleSet | None, pm: PluginManager | None
    ) -> None:
        self.db = db
        self.ruleset = ruleset
        self.pm = pm
        self.rollups = rollup.Rollups(db, ruleset)
        self.history = History(db, ruleset, pm)

    @property
    def initial_stage(self) -> str:
        """The stage a new lead starts in: the lifecycle's ``initial``."""
        lc = self.ruleset.lifecycle if self.ruleset is not None else None
        return lc.initial if lc is not None else DEFAULT_STAGE

    def new_lead(self, fields: dict[str, Any]) -> LeadDoc:
        """A new lead document starting at the lifecycle's initial stage, or where its
        ``start_at`` rules send it (leads created by sales start at sales acceptance)."""
        rules = self.ruleset
        stage = self.initial_stage
        if rules is not None and rules.lifecycle is not None:
            stage = lifecycle.start_stage(rules, fields)
        doc = leads.new_document(fields, stage=stage, rules_version=self.version)
        due = sla.state(rules, stage, doc["createdAt"])
        if due is not None:
            doc["sla"] = due
        return doc

    async def lead(self, oid: ObjectId, id: str) -> LeadDoc:
        """The lead ``oid`` as stored; raises :class:`NotFound` (naming ``id``, the id the
        caller gave) when there is none."""
        doc = await leads.get(self.db, oid)
        if doc is None:
            raise NotFound("Lead", id)
        return doc

    @property
    def version(self) -> str | None:
        return self.ruleset.version if self.ruleset is not None else None

    async def run(
        self,
        docs: list[dict[str, Any]],
        triggers: Collection[str],
        *,
        created: Collection[ObjectId] = (),
        manual: dict[str, Any] | None = None,
        now: datetime | None = None,
        rollups: bool = True,
        cause: Cause | None = None,
        counted: EventCounts | None = None,
        known: dict[ObjectId, dict[str, Any]] | None = None,
    ) -> Report:
        """Evaluate, persist and announce ``docs`` (stored leads) for ``triggers``.

        ``created`` leads also fire ``created`` (their creator recorded ``lead.created``);
        ``manual``
        fields are a person's decision stored in the same write; ``counted``: interaction
        counts already made for the whole database at ``now``; ``known``: contacts in hand as
        stored (by id).  Leads another run changed meanwhile are evaluated again from fresh
        facts.  ``cause`` is what the score history
        records (inferred from the triggers when not given).  Then the roll-ups of the accounts
        whose leads' scores changed are refreshed (unless ``rollups`` is false: the caller
        refreshes ``report.accounts`` itself).
        """
        report = Report()
        if self.ruleset is None or not docs:
            report.leads = list(docs)
            return report
        pending = list(docs)
        for _ in range(RETRIES):
            t = now or db_now()
            facts = await gather(self.db, pending, self.ruleset, t, counted, known=known)
            evaluations: list[tuple[dict[str, Any], Evaluation]] = []
            for doc in pending:
                fired = set(triggers) | ({"created"} if doc["_id"] in created else set())
                evaluations.append(
                    (doc, evaluate(self.ruleset, facts[doc["_id"]], fired, t, manual=manual))
                )
            writes = [
                Write(
                    doc,
                    e.update,
                    applied(doc, e.update),
                    cause or inferred(triggers, created=doc["_id"] in created, manual=bool(manual)),
                    [tr.name for tr in e.transitions],
                )
                for doc, e in evaluations
                if e.update is not None
            ]
            lost = await self.history.persist(writes, t)
            report.event_failures += await self.announce(writes)
            owned, failures = await self._assign(evaluations, lost, facts, triggers, created, t)
            report.event_failures += failures
            retry: list[ObjectId] = []
            for doc, e in evaluations:
                if doc["_id"] in lost:
                    retry.append(doc["_id"])
                    continue
                tally(report, doc, e, owned.get(doc["_id"]) or applied(doc, e.update), facts)
            if not retry:
                break
            pending = await leads.by_ids_list(self.db, retry)
            counted = known = None  # they changed: read their facts afresh
        else:
            log.error("leads %s kept changing during %d funnel runs", retry, RETRIES)
        if rollups:
            await self.rollups.refresh(report.accounts)
        return report

    async def after_first(self, first: FirstScore) -> Report:
        """After the commit of a capture that scored the lead it made in its transaction
        (:mod:`leadgraph.services.first_score`): the assignment rules over it, and the report
        :meth:`run` would have made."""
        report = Report()
        lead, e = first.write.before, first.evaluation
        owned, failures = await self._assign(
            [(lead, e)], (), first.facts, {"interaction"}, {lead["_id"]}, first.at
        )
        report.event_failures += failures
        tally(report, lead, e, owned.get(lead["_id"]) or first.write.after, first.facts)
        return report

    async def _assign(
        self,
        evaluations: list[tuple[dict[str, Any], Evaluation]],
        lost: Collection[ObjectId],
        facts: dict[ObjectId, Facts],
        triggers: Collection[str],
        created: Collection[ObjectId],
        t: datetime,
    ) -> tuple[dict[ObjectId, dict[str, Any]], list[PluginFailure]]:
        """The assignment rules over a run just stored (:func:`assignment.after_run`)."""
        return await assignment.after_run(
            self.db, self.ruleset, self.pm, evaluations, lost, facts, triggers, created, t
        )

    async def announce(self, writes: list[Write]) -> list[PluginFailure]:
        """Hand the events the persist point stored with ``writes`` (scores, stage moves) to
        plugins."""
        return await dispatch.deliver(self.db, self.pm, [e for w in writes for e in w.events])

    # ------------------------------------------------------------ entry points

    async def after_engagement(
        self,
        contact: dict[str, Any],
        *,
        created: Collection[ObjectId] = (),
        cause: Cause | None = None,
        first: FirstScore | None = None,
    ) -> Report:
        """A contact engaged (``cause``: the interaction): rescore its open leads and the open
        account-based leads of its account, and follow the ``interaction`` and ``scored``
        transitions.  ``contact`` is as the engagement stored it (not read again).

        ``first``: a capture made the contact and its lead and scored that lead in its
        transaction (:mod:`leadgraph.services.first_score`): the contact has no other lead, so
        nothing is read or written again; the assignment rules follow (:meth:`after_first`)."""
        if first is not None:
            return await self.after_first(first)
        docs = await leads.open_of_contact(self.db, contact["_id"], contact.get("accountId"))
        known = {contact["_id"]: contact}  # as stored by the engagement's transaction
        return await self.run(docs, {"interaction"}, created=created, cause=cause, known=known)

    async def created(self, docs: Sequence[Mapping[str, Any]]) -> Report:
        """Leads were created (by hand or by import): score them and fire ``created``."""
        return await self.run([dict(d) for d in docs], (), created={d["_id"] for d in docs})

    async def rescore(self, doc: Mapping[str, Any]) -> Report:
        return await self.run([dict(doc)], ())

    async def set_by_hand(
        self, doc: dict[str, Any], fields: dict[str, Any], *, by: str | None = None
    ) -> Report:
        """A person (``by``) set ``fields`` (``salesReady``, ``teleprospectReady``): stored as
        a decision, then the ``updated`` transitions follow."""
        manual = dict(fields)
        if manual.get("salesReady") is True:
            manual["salesReadyBy"] = "hand"
        return await self.run([doc], {"updated"}, manual=manual, cause=Cause("hand", by=by))

    async def rescore_all(
        self,
        query: dict[str, Any] | None = None,
        *,
        batch: int = 500,
        progress: Callable[[int], None] | None = None,
        triggers: Collection[str] = (),
        cause: Cause | None = None,
    ) -> Report:
        """Rescore every lead matching ``query`` in batches, firing ``triggers`` (see
        :func:`leadgraph.services.rescore.rescore_leads`, the one batched road)."""
        return await rescore_leads(
            self, query, batch=batch, progress=progress, triggers=triggers, cause=cause
        )

    async def persist_new(
        self, facts: dict[ObjectId, Facts], docs: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Score and advance leads just inserted unscored (the demo seed, its facts already in
        memory) and store that through the persist point, with their score history and events,
        then the assignment rules: the leads after it."""
        if self.ruleset is None:
            return docs
        t = db_now()
        writes = []
        evaluations = []
        for doc in docs:
            e = evaluate(self.ruleset, facts[doc["_id"]], {"created"}, t)
            evaluations.append((doc, e))
            if e.update is not None:
                via = [tr.name for tr in e.transitions]
                writes.append(Write(doc, e.update, applied(doc, e.update), Cause("created"), via))
        lost = await self.history.persist(writes, t)
        await self.announce(writes)
        written = {w.before["_id"]: w.after for w in writes if w.before["_id"] not in lost}
        owned, _ = await self._assign(evaluations, lost, facts, (), {d["_id"] for d in docs}, t)
        written.update(owned)
        return [written.get(d["_id"], d) for d in docs]

    # ------------------------------------------------------------ decisions by hand

    async def move_by_hand(
        self,
        doc: dict[str, Any],
        to: str,
        *,
        by: str | None,
        reason: str | None,
        override: bool = False,
        extra: Callable[[str], tuple[dict[str, Any], list[StageEntry]]] | None = None,
        also: Callable[[dict[str, Any]], list[Event]] | None = None,
    ) -> tuple[dict[str, Any], list[PluginFailure]]:
        """Move a lead to stage (or along the transition named) ``to``, if the lifecycle
        allows it from the lead's stage and its guards hold; ``override``: to any stage, no
        guards (an admin's decision, see :func:`lifecycle.override_transition`).  ``extra(stage)``
        gives fields to set and stage-history entries to append in the same write (the
        hand-off: owner, stage fields, "sales accepted"); ``also(after)`` events to store
        with it (the hand-off's ``lead.assigned``).

        :raises lifecycle.InvalidTransition: the move is not allowed (nothing written).
        :raises PluginError: a guard or action plugin failed (nothing written).
        :raises Refused: the lead changed meanwhile (nothing written).
        """
        at = db_now()
        write = await stage_move.plan(
            self.db, self._rules(), doc, to, at,
            by=by, reason=reason, override=override, extra=extra, also=also,
        )  # fmt: skip
        if await self.history.persist([write], at):
            raise Refused("the lead changed meanwhile; read it again")
        return write.after, await self.announce([write])

    def may_qualify(self, doc: dict[str, Any], role: str | None) -> None:
        """Refuse qualifying ``doc`` as the lifecycle says: by a role outside
        ``qualify_roles`` (:class:`Forbidden`), from a stage outside ``qualify_from``, or
        (``qualify_accepted_only``) before sales accepted it (:class:`Refused`)."""
        lc = self._rules().lifecycle
        if role is not None and lc is not None and role not in lc.qualify_roles:
            raise Forbidden("leads:qualify", role)
        if doc.get("status", "open") != "open":
            return  # closed: the close itself answers
        allowed = self.qualification_stages()
        if doc.get("stage") not in allowed:
            raise Refused(
                f"a lead can be qualified only from {', '.join(allowed) or 'no stage'}; "
                f"this one is at {doc.get('stage')}"
            )
        accepted = doc.get("salesAccepted") and doc.get("owner")
        if lc is not None and lc.qualify_accepted_only and lc.acceptance_stage and not accepted:
            raise Refused(
                "a lead can be qualified only once sales accepted it (an owner and "
                '"sales accepted": moveLeadStage to the acceptance stage or assignLead)'
            )

    def qualification_stages(self) -> list[str]:
        """The stages a lead may be qualified from (the lifecycle's ``qualify_from``)."""
        lc = self._rules().lifecycle
        if lc is None:
            return []
        return lc.qualification_stages

    async def close(
        self,
        doc: dict[str, Any],
        status: str,
        *,
        by: str | None,
        reason: str | None,
        on_commit: Callable[[Any], Any] | None = None,
    ) -> tuple[LeadDoc, list[PluginFailure]]:
        """Close an open lead as ``qualified`` or ``disqualified``, with a stage-history
        entry; ``on_commit(session)`` writes what goes with it in the same transaction (not
        at all when the lead cannot be closed) and gives its events, stored with the
        ``lead.disqualified`` one (``qualify`` gives ``lead.qualified``).

        :raises Refused: the lead is not open, or was closed or changed meanwhile.
        """
        if doc.get("status", "open") != "open":
            raise Refused(f"the lead is already {doc['status']}")
        t = db_now()
        entry = stage_entry(
            doc.get("stage"),
            t,
            reason=reason or status,
            by=by,
            transition=status,
            rules_version=self.version,
            status=status,
        )
        fields: dict[str, Any] = {"status": status, "updatedAt": t}
        if doc.get("sla") is not None:
            fields["sla"] = None  # a closed lead is past every stage's SLA
        if status == "disqualified":
            fields["disqualifiedReason"] = reason
        update = {"$set": fields, "$push": {"stageHistory": entry}, "$inc": {"rev": 1}}

        async def work(session: Session | None) -> tuple[LeadDoc, list[Event]]:
            closed = await leads.close(self.db, doc, update, session=session)
            if closed is None:  # aborts the transaction: nothing that goes with it is written
                raise Refused("the lead was closed or changed meanwhile; read it again")
            found = list(await on_commit(session) or []) if on_commit is not None else []
            if status == "disqualified":
                found.append(
                    LeadDisqualified(
                        lead_id=doc["_id"], contact_id=doc.get("parentContactId"), reason=reason
                    )
                )
            await dispatch.append(self.db, self.pm, found, session)
            return closed, found

        after, found = await in_transaction(self.db, work)
        return after, await dispatch.deliver(self.db, self.pm, found)

    async def qualify(
        self,
        doc: dict[str, Any],
        *,
        by: str | None,
        reason: str | None,
        also: Callable[[Any], Any] | None = None,
        role: str | None = None,
    ) -> tuple[LeadDoc, list[PluginFailure]]:
        """Qualify an open lead into an opportunity from a stage the lifecycle allows (see
        :meth:`may_qualify`; ``role``: the caller's API-key role, None for the system); its
        parent contact stops being marketing-only and ``also(session)`` (the opportunity's
        insert, which gives the ``lead.qualified`` event) runs in the same transaction."""
        self.may_qualify(doc, role)
        contact_id = doc.get("parentContactId")

        async def clear_marketing_only(session: Session | None) -> list[Event]:
            if contact_id is not None:
                await contacts.set_marketing_only(self.db, contact_id, False, session)
            return list(await also(session) or []) if also is not None else []

        return await self.close(
            doc, "qualified", by=by, reason=reason, on_commit=clear_marketing_only
        )

    async def disqualify(
        self, doc: dict[str, Any], *, by: str | None, reason: str | None
    ) -> tuple[LeadDoc, list[PluginFailure]]:
        """Close an open lead as disqualified, from any stage."""
        return await self.close(doc, "disqualified", by=by, reason=reason)

    async def retire_stages(self, moves: dict[str, str], *, batch: int = 500) -> dict[str, int]:
        """Move every lead of each retired stage (``{old: new}``, the lifecycle's
        ``retired_stages``) to its new stage, with a stage-history entry and its
        ``lead.stage_changed`` event; how many leads moved per old stage."""
        moved: dict[str, int] = {}
        rules = self.ruleset
        for old, new in moves.items():
            moved[old] = 0
            for _ in range(RETRIES):  # leads another writer changed meanwhile: once more
                lost = 0
                async for chunk in leads.batches(self.db, {"stage": old}, batch):
                    t = db_now()
                    entry = stage_entry(
                        new, t, reason=f"stage {old!r} retired", rules_version=self.version
                    )
                    update = {
                        "$set": {"stage": new, "updatedAt": t, "sla": sla.state(rules, new, t)},
                        "$push": {"stageHistory": entry},
                        "$inc": {"rev": 1},
                    }
                    cause = Cause("rule_change", reason=f"stage {old!r} retired")
                    via = [f"retired:{old}"]
                    writes = [Write(d, update, applied(d, update), cause, via) for d in chunk]
                    missed = await self.history.persist(writes, t)
                    lost += len(missed)
                    moved[old] += len(chunk) - len(missed)
                    await self.announce(writes)  # failures: kept on the events
                if not lost:
                    break
        return moved

    def _rules(self) -> RuleSet:
        if self.ruleset is None:
            raise NoRules("no valid rules are loaded (see rulesStatus)")
        return self.ruleset


class Refused(Exception):
    """The funnel refuses the decision (the lead is closed, in a stage that does not allow it,
    or changed between reading and writing it); nothing was written."""


class NoRules(Exception):
    """No valid rules are loaded, so the funnel cannot decide."""
