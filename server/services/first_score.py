"""A new person's first lead, scored in the capture's own transaction.

A capture that makes a contact and its lead has every fact the lead is scored from in hand:
the contact it made, the lead it made and that contact's only interaction (no account, no
other interaction: :func:`leadgraph.services.facts.counts_of_first`).  It evaluates the lead
from them (the funnel's pure ``evaluate``, reading nothing) and stores the lead already scored,
its score history and its ``lead.scored`` / ``lead.stage_changed`` events with the capture's
other writes, in the capture's transaction: the lead is never seen unscored, and the capture
sends no second write for it.  After the commit :meth:`Funnel.after_first
<leadgraph.services.funnel.Funnel.after_first>` runs the assignment rules and makes the
funnel's report (a scoring plugin's failure is reported to the caller and stored in the lead
as the funnel stores it).  When the rules need more than counts, the lead is scored after the
commit as every other engagement is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from ..contracts import Facts
from ..rules.evaluate import Evaluation, applied, evaluate
from ..store.clock import now as db_now
from .facts import counts_of_first, gather
from .history import Write, interaction

if TYPE_CHECKING:
    from .funnel import Funnel

#: What fires for a lead a capture made: its interaction, and its creation.
TRIGGERS = frozenset({"interaction", "created"})


@dataclass
class FirstScore:
    """A new lead's evaluation made in the capture's transaction: the write (the lead as
    made, the update, the lead scored, with its events), the evaluation, the facts it was made
    from, the history entries and the time."""

    write: Write
    evaluation: Evaluation
    facts: dict[ObjectId, Facts]
    entries: list[dict[str, Any]]
    at: datetime


async def score_first(
    funnel: Funnel,
    lead: dict[str, Any],
    contact: dict[str, Any],
    first: dict[str, Any],
) -> FirstScore | None:
    """Evaluate ``lead``, just made for ``contact`` (made with it, its insights counting
    ``first``, its only interaction); None when it is scored after the commit instead: no rule
    set, a contact in an account, or rules that need more than counts."""
    rules = funnel.ruleset
    if rules is None or contact.get("accountId"):
        return None
    t = db_now()
    counted = counts_of_first(rules, first, t)
    if counted is None:
        return None
    facts = await gather(funnel.db, [lead], rules, t, counted, known={contact["_id"]: contact})
    e = evaluate(rules, facts[lead["_id"]], TRIGGERS, t)
    update = e.update or {}
    transitions = [tr.name for tr in e.transitions]
    w = Write(dict(lead), update, applied(lead, update), interaction(first), transitions)
    entries = funnel.history.record(w, t) if e.update is not None else []
    if entries:
        await funnel.history.keep_rules(t)
    return FirstScore(w, e, facts, entries, t)
