"""Stage SLAs acted on: a lead that stayed in a stage past its SLA (``lifecycle.stages[].sla``,
:mod:`leadgraph.rules.sla`) is acted on once, by whichever server process's scheduler finds it.

Each breach is one transaction: the claim (:func:`leadgraph.store.lead_slas.claim`, a
conditional update: still open, at the revision and due date read, not acted on), then the
SLA's actions as one write of the lead through the funnel's persist point (rev-guarded, with
its score history and events): a ``sla_breached`` stage-history entry, the move (through
:mod:`leadgraph.services.stage_move`, the one stage-move road: a transition must lead there
and its guards hold), the new owner (an assignment rule's, its turn taken in the same
transaction) and the ``lead.sla_breached`` event naming what was done and what was not (a
guard that fails, a rule with nobody else to give it to).  Of two processes acting on one
breach, one commits and the other's claim matches nothing: acted on exactly once.  After the
commit the events are delivered (plugins, webhooks, the audit log).

:func:`breach_round` is one round of the scheduler (``leadgraph.web.sla_scheduler``): under
the ``sla-breaches`` lease (:mod:`leadgraph.store.leases`), every breach due by now, the
longest overdue first; one due while no server ran is acted on by the first round of the next.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from ..db import in_transaction
from ..documents import stage_entry
from ..events import Event, LeadAssigned, LeadSlaBreached
from ..plugin_manager import PluginError
from ..rules.evaluate import applied
from ..rules.lifecycle import InvalidTransition
from ..rules.models import AssignmentRule, Sla
from ..rules.ruleset import RuleSet
from ..rules.sla import BREACHED, restated, sla_of
from ..store import assignment_turns as turns
from ..store import lead_slas, leads, leases
from ..store.clock import now as db_now
from ..types import Session
from . import stage_move
from .assignment import ASSIGNED, pick_other
from .facts import gather
from .funnel import Funnel
from .history import Cause, Write

log = logging.getLogger("leadgraph.sla")

LEASE = "sla-breaches"


def shown(lead: dict[str, Any] | Any) -> dict[str, Any] | None:
    """The SLA of an open lead's current stage as clients read it, ``breached`` by the
    clock's now (past its due date, acted on or not yet); None: its stage has none."""
    due = lead.get("sla")
    if not due or lead.get("status", "open") != "open" or due.get("stage") != lead.get("stage"):
        return None
    return {**due, "breached": due["dueAt"] <= db_now()}


class _NotOurs(Exception):
    """The breach is not this transaction's to act on: it aborts, nothing written."""


@dataclass
class _Plan:
    """What one breach writes: fields, stage-history entries, transitions taken, events."""

    sets: dict[str, Any]
    history: list[Any]
    transitions: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class Breaches:
    """Acting on breached SLAs with the funnel of one rule set."""

    def __init__(self, funnel: Funnel) -> None:
        self.funnel = funnel
        self.db = funnel.db
        self._counted = False

    async def act(self, lead_id: ObjectId) -> dict[str, Any] | None:
        """Act on the breach of the lead ``lead_id``, if it is due and nobody acted on it
        yet: the lead after it (None: nothing to act on here)."""
        ruleset = self.funnel.ruleset
        if ruleset is None:
            return None
        await self._counters()

        async def work(session: Session) -> Write:
            at = db_now()
            doc = await leads.get(self.db, lead_id, session)
            due = (doc or {}).get("sla") or {}
            if doc is None or due.get("breachedAt") is not None or due.get("dueAt") is None:
                raise _NotOurs
            if due["dueAt"] > at or not await lead_slas.claim(self.db, doc, at, session):
                raise _NotOurs
            claimed = {**doc, "sla": {**due, "breachedAt": at}}
            write = await self._write(claimed, at, session)
            if await self.funnel.history.persist([write], at, session):
                raise _NotOurs
            return write

        try:
            write = await in_transaction(self.db, work)
        except _NotOurs:
            return None
        await self.funnel.announce([write])
        return write.after

    async def _counters(self) -> None:
        """Make the counters of the assignment rules a reassignment takes turns of exist
        (once, outside the transactions, so that those only update them)."""
        if self._counted:
            return
        lc = self.funnel.ruleset.lifecycle if self.funnel.ruleset else None
        for rule in lc.assignment if lc is not None else []:
            await turns.ensure(self.db, rule.name)
        self._counted = True

    async def _write(self, doc: dict[str, Any], at: datetime, session: Session) -> Write:
        """The one write of the breach of ``doc`` (as claimed) at ``at``."""
        ruleset = self.funnel.ruleset
        assert ruleset is not None
        due = doc["sla"]
        stage = doc.get("stage") or ""
        sla = sla_of(ruleset, stage) or Sla.model_validate({"within": due["within"]})
        reason = f"SLA of {stage!r} ({due['within']}) breached: due {due['dueAt'].isoformat()}"
        entry = stage_entry(
            stage, at, reason=reason, transition=BREACHED, rules_version=ruleset.version
        )
        plan = _Plan(sets={}, history=[entry])
        if sla.action("event") is not None:
            plan.done.append("event")
        if (move := sla.action("move")) is not None and move.move is not None:
            await self._move(doc, move.move, at, reason, plan)
        if (give := sla.action("reassign")) is not None:
            await self._reassign(doc, give.reassign, at, plan, session)
        plan.sets["updatedAt"] = at
        plan.events.insert(
            0,
            LeadSlaBreached(
                lead_id=doc["_id"],
                contact_id=doc.get("parentContactId"),
                stage=stage,
                within=due["within"],
                due_at=due["dueAt"],
                actions=tuple(plan.done),
                skipped=tuple(plan.skipped),
                rules_version=ruleset.version,
            ),
        )
        update = {
            "$set": plan.sets,
            "$push": {"stageHistory": {"$each": plan.history}},
            "$inc": {"rev": 1},
        }
        cause = Cause("sla", reason=reason)
        return Write(doc, update, applied(doc, update), cause, plan.transitions, plan.events)

    async def _move(
        self, doc: dict[str, Any], to: str, at: datetime, reason: str, plan: _Plan
    ) -> None:
        """The SLA's move, through the one stage-move road (its transition and guards); a
        move the lifecycle refuses is skipped, and said so."""
        ruleset = self.funnel.ruleset
        assert ruleset is not None
        lc = ruleset.lifecycle
        leaving = lc is not None and doc.get("stage") == lc.acceptance_stage

        def extra(_stage: str) -> tuple[dict[str, Any], list[Any]]:
            # out of the acceptance stage it is no longer accepted (as by a person's move)
            return ({"salesAccepted": None} if leaving and doc.get("salesAccepted") else {}), []

        try:
            moved = await stage_move.plan(
                self.db, ruleset, doc, to, at, by=None, reason=reason, extra=extra
            )
        except (InvalidTransition, PluginError) as exc:
            plan.skipped.append(f"move:{to}: {exc}")
            return
        plan.sets.update(moved.update["$set"])
        plan.history += moved.update["$push"]["stageHistory"]["$each"]
        plan.transitions += moved.transitions
        plan.done.append(f"move:{to}")

    async def _reassign(
        self,
        doc: dict[str, Any],
        which: bool | str | None,
        at: datetime,
        plan: _Plan,
        session: Session,
    ) -> None:
        """The SLA's new owner: by the assignment rule named, or (``true``) the first whose
        ``where`` holds; skipped, and said so, when there is none or it names nobody else."""
        ruleset = self.funnel.ruleset
        assert ruleset is not None
        lead = applied(doc, {"$set": plan.sets})
        rule = await self._rule(lead, which, at)
        current = lead.get("owner")
        picked = await pick_other(self.db, rule, current, session) if rule else None
        if rule is None or picked is None:
            why = "no assignment rule applies" if rule is None else f"{rule.name!r}: nobody else"
            plan.skipped.append(f"reassign: {why}")
            return
        who, how = picked
        plan.sets["owner"] = who
        plan.history.append(
            stage_entry(
                lead.get("stage"),
                at,
                reason=f"SLA breached: assignment rule {rule.name!r}: {how}",
                rules_version=ruleset.version,
                transition=ASSIGNED,
                owner=who,
            )
        )
        plan.events.append(
            LeadAssigned(
                lead_id=doc["_id"],
                contact_id=doc.get("parentContactId"),
                owner=who,
                previous_owner=current,
                rule=rule.name,
            )
        )
        plan.done.append(f"reassign:{who}")

    async def _rule(
        self, lead: dict[str, Any], which: bool | str | None, at: datetime
    ) -> AssignmentRule | None:
        """The assignment rule a reassignment takes: the one named, or (``true``) the first
        whose ``where`` holds for the lead, its contact and account."""
        ruleset = self.funnel.ruleset
        lc = ruleset.lifecycle if ruleset is not None else None
        if ruleset is None or lc is None:
            return None
        if isinstance(which, str):
            return next((r for r in lc.assignment if r.name == which), None)
        facts = (await gather(self.db, [lead], ruleset, at))[lead["_id"]]
        for rule in lc.assignment:
            if ruleset.compiler.predicate(rule.where)(facts, at):
                return rule
        return None


async def breach_round(
    breaches: Breaches, holder: str, *, ttl: float = 60.0, batch: int = 100
) -> int | None:
    """One round of the scheduler as ``holder``: act on every breach due by now, the longest
    overdue first; how many were acted on here, or None when another process holds the
    lease (it is acting on them).  A breach that fails (the database, a bug) is logged and
    left for the next round."""
    db = breaches.db
    if await leases.acquire(db, LEASE, holder, ttl) is None:
        return None
    done, failed = 0, set[ObjectId]()
    try:
        while True:
            due = await lead_slas.due(db, db_now(), batch, failed)
            for doc in due:
                try:
                    done += await breaches.act(doc["_id"]) is not None
                except Exception:
                    log.exception("acting on the SLA breach of lead %s failed", doc["_id"])
                    failed.add(doc["_id"])
            if len(due) < batch or await leases.renew(db, LEASE, holder, ttl) is None:
                return done
    finally:
        await leases.release(db, LEASE, holder)


async def restate(db: AsyncDatabase, ruleset: RuleSet) -> int:
    """Bring the stored SLAs to ``ruleset`` (new rules going live): a lead in a stage whose
    SLA changed, appeared or went gets it, due from when it entered the stage (a breach acted
    on stays acted on); how many leads changed."""
    lc = ruleset.lifecycle
    stages = [s.name for s in lc.stages if s.sla is not None] if lc is not None else []
    changed = 0
    async for chunk in lead_slas.holding(db, stages):
        found = [(doc, restated(ruleset, doc)) for doc in chunk]
        changed += await lead_slas.restate(db, [(d, new) for d, new in found if new is not False])
    return changed
