"""The one stage-move road: a lead moved to a stage by a decision (a person's, an admin's
override, a breached SLA's), checked against the lifecycle and planned as one funnel write.

:func:`plan` finds the transition (``manual_transition``: it must lead there from the lead's
stage and its guards hold; an override: any stage, no guards), and builds the rev-guarded
update (stage, the actions' fields, the stage-history entry, the new stage's SLA) as a
:class:`~leadgraph.services.history.Write` for the funnel's persist point, which stores it with
its score history and ``lead.stage_changed`` event (:meth:`Funnel.move_by_hand
<leadgraph.services.funnel.Funnel.move_by_hand>` persists and announces it; a breached SLA does
so in the transaction that claims the breach).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from ..events import Event
from ..rules import lifecycle
from ..rules.evaluate import applied, decision_fields
from ..rules.ruleset import RuleSet
from ..types import StageEntry
from .facts import gather
from .history import Cause, Write

#: Fields and stage-history entries a move adds, given the stage it goes to.
Extra = Callable[[str], tuple[dict[str, Any], list[StageEntry]]]


async def plan(
    db: AsyncDatabase,
    ruleset: RuleSet,
    doc: dict[str, Any],
    to: str,
    at: datetime,
    *,
    by: str | None,
    reason: str | None,
    override: bool = False,
    extra: Extra | None = None,
    also: Callable[[dict[str, Any]], list[Event]] | None = None,
    cause: Cause | None = None,
) -> Write:
    """The write moving ``doc`` to stage (or along the transition named) ``to`` at ``at``.

    ``extra(stage)`` gives fields to set and stage-history entries to append in the same
    write (the hand-off: owner, stage fields, "sales accepted"); ``also(after)`` events to
    store with it (the hand-off's ``lead.assigned``); ``cause``: what the score history
    records (default: a person's decision, ``by``).

    :raises lifecycle.InvalidTransition: the move is not allowed (nothing written).
    :raises PluginError: a guard or action plugin failed (nothing written).
    """
    facts = (await gather(db, [doc], ruleset, at))[doc["_id"]]
    if override:
        t = lifecycle.override_transition(ruleset, doc, to)
    else:
        t = lifecycle.manual_transition(ruleset, facts, to, at)
    move = lifecycle.transition_update(ruleset, doc, [t], by=by, reason=reason, now=at)
    assert move is not None
    fields = decision_fields(doc, move["$set"])
    history = move["$push"]["stageHistory"]["$each"]
    if override:
        history[-1]["override"] = True
    if extra is not None:
        more, entries = extra(t.to)
        fields.update(more)
        history += entries
    update = {"$set": fields, "$push": move["$push"], "$inc": {"rev": 1}}
    after = applied(doc, update)
    cause = cause or Cause("hand", by=by, reason=reason)
    return Write(doc, update, after, cause, [t.name], also(after) if also else [])
