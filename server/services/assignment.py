"""Assignment rules: who owns an open lead that has none (``lifecycle.assignment``).

After the funnel stored a run of leads, each open lead without an owner whose run fired one
of a rule's ``when`` (``acceptance``: it reached the acceptance stage automatically, by its
score; or a funnel trigger: ``created``, ``scored``, ``updated``, ``interaction``) gets an
owner from the first such rule whose ``where`` holds: ``round_robin`` (the next in turn),
``owner`` (that one) or ``least_loaded`` (the fewest open leads, ties to the first listed).

Each assignment is one transaction: the rule's turn (``store.assignment_turns``, one ``$inc``
on the rule's counter document), the lead's owner with a stage-history entry (transition
``assigned``, the owner, the rule in its reason) and the ``lead.assigned`` event naming the
rule.  Every assignment by a rule writes its counter, so two processes assigning by one rule
at once conflict on it and one retries from a fresh snapshot: round robin never gives one
owner two leads in a row out of turn, and least loaded counts the other's lead.  A lead that
got an owner meanwhile (``assignLead``) keeps it: its transaction is aborted, no turn taken.

A person moving a lead into the acceptance stage accepts it and owns it (see
:mod:`leadgraph.services.handoff`); rules assign what nobody has taken.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from ..contracts import Facts, PluginFailure
from ..db import in_transaction
from ..documents import stage_entry
from ..events import Event, LeadAssigned
from ..rules.evaluate import Evaluation, applied
from ..rules.lifecycle import assignment_rule
from ..rules.models import AssignmentRule
from ..rules.ruleset import RuleSet
from ..store import assignment_turns as turns
from ..store import leads
from ..store.clock import now as db_now
from ..types import PluginManager, Session
from . import dispatch

ASSIGNED = "assigned"


@dataclass(frozen=True)
class Arrival:
    """A lead the funnel just stored: as read, as stored, its facts and the triggers fired."""

    before: Mapping[str, Any]
    after: dict[str, Any]
    facts: Facts
    fired: frozenset[str]


def fired(ruleset: RuleSet, arrival: Arrival, created: bool) -> set[str]:
    """The ``when`` values an arrival fires: its triggers, and ``acceptance`` when it entered
    the acceptance stage (a new lead starting there included)."""
    lc = ruleset.lifecycle
    out = set(arrival.fired)
    stage = arrival.after.get("stage")
    arrived = created or arrival.before.get("stage") != stage
    if lc is not None and stage is not None and stage == lc.acceptance_stage and arrived:
        out.add("acceptance")
    return out


async def pick(db: AsyncDatabase, rule: AssignmentRule, session: Session | None) -> tuple[str, str]:
    """The owner ``rule`` gives now, and why (for the stage history), taking its turn."""
    turn = await turns.take(db, rule.name, session)
    if rule.round_robin:
        return rule.round_robin[(turn - 1) % len(rule.round_robin)], f"round robin, turn {turn}"
    if rule.least_loaded:
        loads = await leads.open_by_owner(db, list(rule.least_loaded), session)
        owners = rule.least_loaded
        who = min(owners, key=lambda o: (loads.get(o, 0), owners.index(o)))
        return who, f"least loaded ({loads.get(who, 0)} open lead(s))"
    assert rule.owner is not None
    return rule.owner, "owner"


async def pick_other(
    db: AsyncDatabase, rule: AssignmentRule, current: str | None, session: Session | None
) -> tuple[str, str] | None:
    """An owner ``rule`` gives a lead ``current`` owns, other than ``current`` (a breached
    SLA's reassignment), and why; None when the rule names nobody else.  Round robin takes
    turns until one is another owner's; least loaded leaves ``current`` out."""
    names = rule.round_robin or rule.least_loaded or [rule.owner or ""]
    if not [o for o in names if o != current]:
        return None
    if rule.least_loaded:
        owners = [o for o in rule.least_loaded if o != current]
        loads = await leads.open_by_owner(db, owners, session)
        who = min(owners, key=lambda o: (loads.get(o, 0), owners.index(o)))
        return who, f"least loaded ({loads.get(who, 0)} open lead(s))"
    while True:  # round robin: another owner within len(names) turns; ``owner``: at once
        who, how = await pick(db, rule, session)
        if who != current:
            return who, how


class _Taken(Exception):
    """The lead was closed or got an owner meanwhile: the transaction is aborted."""


async def assign_one(
    db: AsyncDatabase,
    ruleset: RuleSet,
    pm: PluginManager | None,
    lead: Mapping[str, Any],
    rule: AssignmentRule,
) -> tuple[dict[str, Any], Event] | None:
    """Give ``lead`` the owner ``rule`` picks, in one transaction (None: it was taken); the
    rule's counter exists (:func:`leadgraph.store.assignment_turns.ensure`)."""

    async def work(session: Session | None) -> tuple[dict[str, Any], Event]:
        t = db_now()
        who, how = await pick(db, rule, session)
        entry = stage_entry(
            lead.get("stage"),
            t,
            reason=f"assignment rule {rule.name!r}: {how}",
            rules_version=ruleset.version,
            transition=ASSIGNED,
            owner=who,
        )
        update = {
            "$set": {"owner": who, "updatedAt": t},
            "$push": {"stageHistory": entry},
            "$inc": {"rev": 1},
        }
        after = await leads.give_owner(db, lead["_id"], update, session)
        if after is None:
            raise _Taken
        event = LeadAssigned(
            lead_id=lead["_id"],
            contact_id=lead.get("parentContactId"),
            owner=who,
            rule=rule.name,
        )
        await dispatch.append(db, pm, [event], session)
        return after, event

    try:
        return await in_transaction(db, work)
    except _Taken:
        return None


async def assign(
    db: AsyncDatabase,
    ruleset: RuleSet | None,
    pm: PluginManager | None,
    arrivals: Iterable[Arrival],
    created: Collection[ObjectId] = (),
    now: datetime | None = None,
) -> tuple[dict[ObjectId, dict[str, Any]], list[PluginFailure]]:
    """Assign each open, ownerless arrival by the first rule that applies: the leads given an
    owner (by id, as stored after it) and the plugin failures of their events."""
    lc = ruleset.lifecycle if ruleset is not None else None
    if ruleset is None or lc is None or not lc.assignment:
        return {}, []
    t = now or db_now()
    out: dict[ObjectId, dict[str, Any]] = {}
    found: list[Event] = []
    ready: set[str] = set()  # rules whose counter exists
    for a in arrivals:
        lead = a.after
        if lead.get("owner") or lead.get("status", "open") != "open":
            continue
        when = fired(ruleset, a, lead["_id"] in created)
        rule = assignment_rule(ruleset, {**a.facts, "lead": lead}, when, t)
        if rule is None:
            continue
        if rule.name not in ready:
            await turns.ensure(db, rule.name)
            ready.add(rule.name)
        done = await assign_one(db, ruleset, pm, lead, rule)
        if done is not None:
            out[lead["_id"]], event = done
            found.append(event)
    return out, await dispatch.deliver(db, pm, found) if found else []


async def after_run(
    db: AsyncDatabase,
    ruleset: RuleSet | None,
    pm: PluginManager | None,
    evaluations: list[tuple[dict[str, Any], Evaluation]],
    lost: Collection[ObjectId],
    facts: Mapping[ObjectId, Facts],
    triggers: Collection[str],
    created: Collection[ObjectId],
    now: datetime,
) -> tuple[dict[ObjectId, dict[str, Any]], list[PluginFailure]]:
    """:func:`assign` over a funnel run just stored (``evaluations`` of the leads as read, but
    those ``lost`` to another writer or failed): each fired its run's ``triggers``,
    ``created`` when new, ``scored`` when scored."""
    arrivals = [
        Arrival(
            doc,
            applied(doc, e.update),
            facts[doc["_id"]],
            frozenset(triggers)
            | ({"created"} if doc["_id"] in created else frozenset())
            | ({"scored"} if e.results else frozenset()),
        )
        for doc, e in evaluations
        if doc["_id"] not in lost and e.failure is None
    ]
    return await assign(db, ruleset, pm, arrivals, created, now)
