"""Score history and as-of replay.

**History.**  The funnel runner's one persist point (:meth:`Funnel._persist
<leadgraph.services.funnel.Funnel>`) hands every lead it writes, before and after, to
:meth:`History.entries`; each change of a scoring model's entry (score, grade, ``salesReady``,
any field but the explanation, its rules version and time) and each change of the lead's own
funnel fields (:data:`LEAD_FIELDS`) becomes one ``lead_history`` document, stored in the same
transaction as the lead.  Nothing is stored for what did not change: a rescore that gives the
same points writes no entry, and an entry holds only the fields and the rules whose points
changed (``changes {field: {before, after}}``, ``explanation [{rule, before, after}]``), with
the time, the rules version and the cause (:class:`Cause`: which interaction, a rescore, a
hand edit and by whom, an import, a merge, a rule change...).

The content of every rules version the funnel writes with is kept once (``rule_versions``, by
its content hash) so that a version named in the history can always be read back.

**Replay.**  :meth:`History.as_of` answers what a lead looked like at a past time:

- ``then``: what it had, with the rules then live: its current state with every later entry
  undone (each entry holds the values before it), so the answer is what was stored, hand
  decisions included, and needs nothing older than the time asked about;
- ``live``: today's rules evaluated (the funnel's pure ``evaluate``) over the interactions
  known at that time, from the lead's stage and decisions then, with ``now`` = that time.
  Contact, account and lead fields are today's: only interactions have a time.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from ..cursors import Page
from ..errors import Conflict, PluginFailed
from ..events import Event
from ..rules.evaluate import applied, evaluate
from ..rules.ruleset import RuleSet
from ..store import events, leads
from ..store import history as store
from ..types import PluginManager, Session
from . import dispatch
from .facts import gather_facts  # the one gathering road
from .lead_events import lead_events

log = logging.getLogger("leadgraph.history")

#: Where a lead keeps the history entries of its last change until they are stored.
OUTBOX = "historyOutbox"
#: Where a lead keeps the events of its last change until they are stored.
EVENTS_OUTBOX = "eventsOutbox"

#: Why a lead changed (``cause.kind``).
CAUSES = (
    "created",  # a lead was created (by hand or by sales) and scored
    "interaction",  # a contact engaged: ``interactionId`` names the interaction
    "update",  # the lead or its parent changed
    "hand",  # a person decided: a stage move, a flag set by hand (``by``, ``reason``)
    "rescore",  # a rescore (``rescoreLead``, ``leadgraph rescore``)
    "rule_change",  # new rules moved it (a retired stage)
    "import",  # a file import created or changed it
    "merge",  # contacts were merged (or the merge undone)
    "sla",  # the SLA of its stage was breached: the scheduler acted on it
)

#: The lead's own fields the history follows (scores are followed per model).
LEAD_FIELDS = ("stage", "salesReady", "salesReadyBy", "salesReadyHeld")

#: Fields of a score entry that are not part of a change: the model names the entry, the
#: explanation is stored as its own delta, and a new rules version or time alone is no change.
_NOT_CHANGES = frozenset({"model", "explanation", "rulesVersion", "scoredAt"})


@dataclass(frozen=True)
class Cause:
    """Why the funnel changed a lead: ``kind`` (one of :data:`CAUSES`) and what names it."""

    kind: str
    interaction_id: ObjectId | None = None
    by: str | None = None
    reason: str | None = None

    def as_document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"kind": self.kind}
        for key, value in (
            ("interactionId", self.interaction_id),
            ("by", self.by),
            ("reason", self.reason),
        ):
            if value is not None:
                doc[key] = value
        return doc


def interaction(doc: Mapping[str, Any] | None) -> Cause:
    """The cause of a funnel run after the interaction ``doc`` was recorded."""
    return Cause("interaction", interaction_id=doc["_id"] if doc else None)


def inferred(triggers: Collection[str], *, created: bool = False, manual: bool = False) -> Cause:
    """The cause of a funnel run that was not given one, from what fired it."""
    if manual:
        return Cause("hand")
    if created:
        return Cause("created")
    if "interaction" in triggers:
        return Cause("interaction")
    if "updated" in triggers:
        return Cause("update")
    return Cause("rescore")


def _points(explanation: Iterable[dict[str, Any]] | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for e in explanation or []:
        out[e["rule"]] = out.get(e["rule"], 0.0) + e["points"]
    return out


def explanation_delta(
    before: Iterable[dict[str, Any]] | None, after: Iterable[dict[str, Any]] | None
) -> list[dict[str, Any]]:
    """The rules whose points changed: ``[{rule, before, after}]`` (None: no points)."""
    old, new = _points(before), _points(after)
    rules = list(dict.fromkeys([*old, *new]))
    return [
        {"rule": r, "before": old.get(r), "after": new.get(r)}
        for r in rules
        if old.get(r) != new.get(r)
    ]


def _field_changes(
    before: dict[str, Any], after: dict[str, Any], fields: Iterable[str]
) -> dict[str, dict[str, Any]]:
    return {
        f: {"before": before.get(f), "after": after.get(f)}
        for f in fields
        if before.get(f) != after.get(f)
    }


def changes(
    before: dict[str, Any],
    after: dict[str, Any],
    *,
    at: datetime,
    rules_version: str | None,
    cause: Cause,
    transitions: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """The history entries of one write of a lead (``before`` -> ``after``): one per scoring
    model whose entry changed, one for the lead's own fields; none when nothing changed."""
    base = {
        "leadId": after["_id"],
        "rev": after.get("rev"),
        "at": at,
        "rulesVersion": rules_version,
        "cause": cause.as_document(),
    }
    out: list[dict[str, Any]] = []
    old = {s["model"]: s for s in before.get("scores") or []}
    new = {s["model"]: s for s in after.get("scores") or []}
    for model in dict.fromkeys([*old, *new]):
        o, n = old.get(model, {}), new.get(model, {})
        fields = [k for k in dict.fromkeys([*o, *n]) if k not in _NOT_CHANGES]
        delta = _field_changes(o, n, fields)
        explanation = explanation_delta(o.get("explanation"), n.get("explanation"))
        if delta or explanation:
            out.append(
                {
                    **base,
                    "_id": ObjectId(),
                    "model": model,
                    "changes": delta,
                    "explanation": explanation,
                }
            )
    lead = _field_changes(before, after, LEAD_FIELDS)
    if lead:
        entry = {**base, "_id": ObjectId(), "model": None, "changes": lead, "explanation": []}
        if "stage" in lead:
            entry["transitions"] = list(transitions)
        out.append(entry)
    return out


# ---------------------------------------------------------------- replay


@dataclass
class AsOf:
    """A lead as it was at ``time``: with the rules then live (``rules="then"``) or with
    today's rules over the interactions known then (``"live"``), and how that was found."""

    time: datetime
    rules: str
    rules_version: str | None
    stage: str | None
    sales_ready: bool
    scores: list[dict[str, Any]]
    explanation: list[str] = field(default_factory=list)


def undo(lead: Mapping[str, Any], entries: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """``lead`` with ``entries`` (newest first) undone: each field and rule set back to its
    value before the entry; a model that had no score before it is dropped."""
    out = {**lead, "scores": [dict(s) for s in lead.get("scores") or []]}
    for e in entries:
        if e.get("model") is None:
            for f, change in e.get("changes", {}).items():
                out[f] = change.get("before")
            continue
        scores = {s["model"]: s for s in out["scores"]}
        s = scores.setdefault(e["model"], {"model": e["model"], "explanation": []})
        for f, change in e.get("changes", {}).items():
            s[f] = change.get("before")
        points = _points(s.get("explanation"))
        for d in e.get("explanation") or []:
            if d.get("before") is None:
                points.pop(d["rule"], None)
            else:
                points[d["rule"]] = d["before"]
        s["explanation"] = [{"rule": r, "points": p} for r, p in points.items()]
        s["rulesVersion"] = None  # known again from the entry before, if any
        s["scoredAt"] = None
        out["scores"] = [x for x in scores.values() if x.get("score") is not None]
    return out


def describe_entry(e: dict[str, Any]) -> str:
    """One line about one history entry (for replay explanations)."""
    cause = e.get("cause") or {}
    why = cause.get("kind", "?")
    if cause.get("interactionId") is not None:
        why += f" {cause['interactionId']}"
    if cause.get("by"):
        why += f" by {cause['by']}"
    if cause.get("reason"):
        why += f" ({cause['reason']})"
    what = ", ".join(
        f"{f} {c.get('before')!r} -> {c.get('after')!r}" for f, c in e.get("changes", {}).items()
    )
    rules = ", ".join(
        f"{d['rule']} {d.get('before')} -> {d.get('after')}" for d in e.get("explanation") or []
    )
    subject = e.get("model") or "lead"
    return (
        f"{e['at'].isoformat()} {subject}: {what or 'explanation'}"
        f"{'; rules ' + rules if rules else ''} [{why}; rules {e.get('rulesVersion')}]"
    )


@dataclass
class Write:
    """One lead write of the funnel: the lead as read, the rev-guarded update, the lead after
    it, why, and the lifecycle transitions it takes (names)."""

    before: dict[str, Any]
    update: dict[str, Any]
    after: dict[str, Any]
    cause: Cause
    transitions: list[str] = field(default_factory=list)
    #: the write's events: those given (a hand-off's ``lead.assigned``), then the persist's
    #: ``lead.scored`` / ``lead.stage_changed``; emptied when the write lost its race
    events: list[Event] = field(default_factory=list)


class History:
    """The score history of one database, written with one rule set."""

    def __init__(
        self, db: AsyncDatabase, ruleset: RuleSet | None, pm: PluginManager | None = None
    ) -> None:
        self.db = db
        self.ruleset = ruleset
        self.pm = pm
        self._rules_kept = False

    async def persist(
        self, writes: list[Write], at: datetime, session: Session | None = None
    ) -> set[ObjectId]:
        """The funnel's one persist point: apply the rev-guarded ``writes``, then append the
        history of what they changed and their events (``lead.scored``,
        ``lead.stage_changed``; each write's are left in ``Write.events`` for the caller to
        deliver once they are stored).

        Each lead's update also stores its history entries and its events in the lead
        (``historyOutbox``, ``eventsOutbox``, replaced at every change that has some),
        atomically with the change itself; the entries are then inserted into
        ``lead_history`` and the events into ``events``, one unordered insert each.  If an
        insert fails or the process dies in between, the change is kept and :meth:`repair`
        (run at start-up) inserts what is still missing.  (Not a transaction: the outbox makes
        the change and its record one atomic document write without the transaction's extra
        round trips on the capture path.)  Given the ``session`` of a transaction (a breached
        SLA's, with the claim and the owner's turn), it all goes in it, and a failure aborts it.

        Returns the ids of the leads another writer changed meanwhile (nothing written).
        """
        pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
        entries: dict[ObjectId, list[dict[str, Any]]] = {}
        records: dict[ObjectId, list[dict[str, Any]]] = {}
        if not writes:
            return set()
        must_hear = await dispatch.hearing(self.db, self.pm)
        for w in writes:
            found = self.record(w, at)
            sets = dict(w.update.get("$set", {}))
            if found:
                entries[w.before["_id"]] = found
                sets[OUTBOX] = found
            if w.events:
                records[w.before["_id"]] = docs = [
                    events.document(e, must_hear(e)) for e in w.events
                ]
                sets[EVENTS_OUTBOX] = docs
            pairs.append((w.before, {**w.update, "$set": sets} if sets else w.update))
        if entries:
            await self.keep_rules(at)
        lost = await leads.write_revisions(self.db, pairs, session)
        for w in writes:
            if w.before["_id"] in lost:
                w.events = []
        kept = [e for oid, found in entries.items() if oid not in lost for e in found]
        stored = [e for oid, docs in records.items() if oid not in lost for e in docs]
        try:
            await store.append(self.db, kept, session)
            await events.append_documents(self.db, stored, session)
        except PyMongoError:
            if session is not None:
                raise  # the change is stored; its entries wait in the lead's outbox
            log.exception(
                "score history or events of %d lead(s) not written; repaired at start-up",
                len(entries) + len(records),
            )
        return lost

    def record(self, w: Write, at: datetime) -> list[dict[str, Any]]:
        """The record of the lead write ``w`` at ``at``: its history entries (returned) and its
        events (``lead.scored``, ``lead.stage_changed``, added to ``w.events``); what the
        persist point stores with the write, and a capture with the lead it scores in its own
        transaction (:mod:`leadgraph.services.first_score`)."""
        version = self.ruleset.version if self.ruleset is not None else None
        w.events = [*w.events, *lead_events(w.before, w.after, version, w.transitions)]
        return changes(
            w.before,
            w.after,
            at=at,
            rules_version=version,
            cause=w.cause,
            transitions=w.transitions,
        )

    async def repair(self, since: datetime) -> int:
        """Insert the history entries and events a lead's last change kept in its outbox but
        that never reached ``lead_history`` / ``events`` (leads changed since ``since``); how
        many were missing."""
        missing = 0
        async for outboxes in leads.history_outboxes(self.db, OUTBOX, since):
            found = [e for box in outboxes for e in box]
            stored = await store.existing_ids(self.db, [e["_id"] for e in found])
            todo = [e for e in found if e["_id"] not in stored]
            await store.append(self.db, todo)
            missing += len(todo)
        async for outboxes in leads.history_outboxes(self.db, EVENTS_OUTBOX, since):
            docs = [e for box in outboxes for e in box]
            stored = await events.existing_ids(self.db, [e["_id"] for e in docs])
            todo = [e for e in docs if e["_id"] not in stored]
            await events.append_documents(self.db, todo)
            missing += len(todo)
        return missing

    async def page(
        self,
        lead_id: ObjectId,
        model: str | None,
        *,
        first: int | None,
        after: str | None,
        last: int | None,
        before: str | None,
    ) -> Page:
        """A page of a lead's changes (of one scoring ``model``), oldest first."""
        return await store.page(
            self.db, lead_id, model, first=first, after=after, last=last, before=before
        )

    async def count(self, lead_id: ObjectId, model: str | None = None) -> int:
        return await store.count(self.db, lead_id, model)

    async def keep_rules(self, at: datetime) -> None:
        """Keep the content of the rules this history is written with (once per process)."""
        if self._rules_kept or self.ruleset is None:
            return
        await store.save_rules(self.db, self.ruleset.version, list(self.ruleset.sources), at)
        self._rules_kept = True

    async def as_of(
        self,
        lead: Mapping[str, Any],
        t: datetime,
        rules: str = "then",
    ) -> AsOf | None:
        """The lead at time ``t`` (None: it did not exist yet) with the rules then live
        (``rules="then"``) or today's (``"live"``); see the module.

        :raises Conflict: ``live`` while no valid rules are loaded.
        :raises PluginFailed: ``live`` and a plugin failed evaluating the rules.
        """
        if lead["createdAt"] > t:
            return None
        later = await store.after_time(self.db, lead["_id"], t)
        then = undo(lead, later)
        earlier = await store.latest_until(self.db, lead["_id"], t)
        lines = [describe_entry(e) for e in reversed(earlier)]
        if later:
            lines.append(f"({len(later)} later change(s) undone)")
        version = _version_at(lead, earlier, later)
        for s in then["scores"]:
            if s.get("scoredAt") is None or s["scoredAt"] > t:  # known from its last change
                last = next((e for e in earlier if e.get("model") == s["model"]), None)
                s["rulesVersion"] = last.get("rulesVersion") if last else None
                s["scoredAt"] = last["at"] if last else None
        if rules == "then":
            return AsOf(
                time=t,
                rules="then",
                rules_version=version,
                stage=then.get("stage"),
                sales_ready=bool(then.get("salesReady")),
                scores=then["scores"],
                explanation=[_stored_line(t, version), *lines],
            )
        return await self._live(then, t)

    async def _live(self, then: dict[str, Any], t: datetime) -> AsOf:
        if self.ruleset is None:
            raise Conflict("no valid rules are loaded (see rulesStatus)")
        facts = (await gather_facts(self.db, [then], until=t))[then["_id"]]
        e = evaluate(self.ruleset, facts, (), t)
        if e.failure is not None:
            raise PluginFailed(e.failure)
        after = applied(then, e.update)
        lines = [
            f"rules {self.ruleset.version} (live) over {len(facts['interactions'])} "
            f"interaction(s) up to {t.isoformat()}, from stage {then.get('stage')!r}"
        ]
        for r in e.results:
            rules = ", ".join(f"{rule} {points:+g}" for rule, points in r.explanation)
            lines.append(f"{r.model}: {r.score:g} ({rules or 'no points'})")
        lines += [f"transition {tr.name}: -> {tr.to}" for tr in e.transitions]
        return AsOf(
            time=t,
            rules="live",
            rules_version=self.ruleset.version,
            stage=after.get("stage"),
            sales_ready=bool(after.get("salesReady")),
            scores=list(after.get("scores") or []),
            explanation=lines,
        )


def _stored_line(t: datetime, version: str | None) -> str:
    """The first line of a ``then`` replay; says what is known when no version was recorded."""
    if version is not None:
        return f"as stored at {t.isoformat()}, rules {version}"
    return (
        f"as stored at {t.isoformat()}; no rules version is recorded for the lead at that time "
        "(it was written before versions were kept, or without score history), so which rules "
        "scored it is unknown; --rules live (asOf(rules: LIVE)) recomputes it with today's "
        "rules over the interactions known then"
    )


def _version_at(
    lead: Mapping[str, Any], earlier: list[dict[str, Any]], later: list[dict[str, Any]]
) -> str | None:
    """The rules version the lead was last written with at the time asked about."""
    if earlier:
        return earlier[0].get("rulesVersion")
    if not later:
        return lead.get("funnelVersion")
    return None
