"""Rule-change previews: what a rule set would change if it went live and every lead were
rescored, computed without writing anything.

Every lead is evaluated by the funnel's one pure ``evaluate`` (the same facts, counted by the
database as a rescore counts them, the same triggers and time), and the result is compared
with the lead as stored: scores per model (with their grade when a model gives one),
``salesReady`` and the stage.  So a preview's counts are what ``leadgraph rescore`` would then
change.  Segments are compared as the live and the candidate rules define them, each counted
by the segment query over the records as stored.

Used by ``previewRules`` (GraphQL), ``leadgraph rules diff DIR`` and ``leadgraph rescore
--dry-run`` (the live rules against the stored state).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pluggy
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from ..contracts import PluginFailure
from ..rules.evaluate import applied, evaluate
from ..rules.limits import DEFAULT_LIMITS, RuleLimits
from ..rules.loader import RuleError, RulesInvalid
from ..rules.ruleset import RuleSet, load_rules
from ..store import leads
from ..store.clock import now as db_now
from ..store.segment_query import member_ids
from ..types import PluginManager
from .facts import count_all, gather

#: A candidate rule file's name: a plain file name ending in .yaml or .yml.
FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}\.ya?ml")
BUCKET = 10.0  # width of a score distribution's buckets


# ---------------------------------------------------------------- the report


@dataclass
class Distribution:
    """How the scores of one model spread over the leads it scores."""

    count: int = 0
    mean: float | None = None
    minimum: float | None = None
    p25: float | None = None
    p50: float | None = None
    p75: float | None = None
    p90: float | None = None
    maximum: float | None = None
    #: ``(low, high, leads)``: leads with ``low <= score < high``, buckets of ``BUCKET``.
    buckets: list[tuple[float, float, int]] = field(default_factory=list)

    @classmethod
    def of(cls, scores: list[float]) -> Distribution:
        if not scores:
            return cls()
        ordered = sorted(scores)

        def rank(q: float) -> float:
            return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]

        counts: dict[float, int] = {}
        for s in ordered:
            low = (s // BUCKET) * BUCKET
            counts[low] = counts.get(low, 0) + 1
        return cls(
            count=len(ordered),
            mean=round(sum(ordered) / len(ordered), 6),
            minimum=ordered[0],
            p25=rank(0.25),
            p50=rank(0.5),
            p75=rank(0.75),
            p90=rank(0.9),
            maximum=ordered[-1],
            buckets=[(low, low + BUCKET, n) for low, n in sorted(counts.items())],
        )


@dataclass
class RuleChange:
    """One rule of one model: on how many leads its points change, and its points in all."""

    model: str
    rule: str
    leads: int = 0
    points_before: float = 0.0
    points_after: float = 0.0


@dataclass
class ModelChange:
    """One scoring model across the leads: how many scores change, the distributions before
    and after, sales-ready flips and the changes per rule."""

    model: str
    changed: int
    sales_ready_on: int
    sales_ready_off: int
    before: Distribution
    after: Distribution
    rules: list[RuleChange]


@dataclass
class StageMove:
    from_stage: str | None
    to_stage: str | None
    leads: int


@dataclass
class SegmentChange:
    """A segment's members under the live and the candidate rules (None: not defined)."""

    name: str
    before: int | None
    after: int | None
    added: int
    removed: int
    added_ids: list[ObjectId]
    removed_ids: list[ObjectId]


@dataclass
class ScoreChange:
    model: str
    before: dict[str, Any] | None  # the stored score entry
    after: dict[str, Any] | None  # the entry the candidate rules give


@dataclass
class LeadChange:
    """One changed lead, before and after, with its explanations."""

    lead: dict[str, Any]  # as stored
    after: dict[str, Any]  # as the candidate rules would leave it
    scores: list[ScoreChange]


@dataclass
class PreviewReport:
    live_version: str | None
    rules_version: str
    now: datetime
    leads: int = 0
    changed: int = 0
    score_changed: int = 0
    sales_ready_on: int = 0
    sales_ready_off: int = 0
    stage_moves: list[StageMove] = field(default_factory=list)
    models: list[ModelChange] = field(default_factory=list)
    segments: list[SegmentChange] = field(default_factory=list)
    samples: list[LeadChange] = field(default_factory=list)
    failed: int = 0
    failures: list[PluginFailure] = field(default_factory=list)


# ---------------------------------------------------------------- comparing one lead


def entries(lead: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A lead's score entries by model."""
    return {s["model"]: s for s in lead.get("scores") or [] if isinstance(s, dict)}


def _essence(entry: dict[str, Any] | None) -> tuple[Any, ...] | None:
    """What of a score entry a change is about: score, salesReady, grade."""
    if entry is None:
        return None
    return (entry.get("score"), bool(entry.get("salesReady")), entry.get("grade"))


def _points(entry: dict[str, Any] | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in (entry or {}).get("explanation") or []:
        out[item["rule"]] = out.get(item["rule"], 0.0) + float(item["points"])
    return out


def changed(lead: dict[str, Any], after: dict[str, Any]) -> bool:
    """Whether a lead's outcome changed: a model's score, grade or ``salesReady``, the lead's
    ``salesReady`` or its stage (the one definition a preview and a rescore count by)."""
    old, new = entries(lead), entries(after)
    if any(_essence(old.get(m)) != _essence(new.get(m)) for m in dict.fromkeys([*old, *new])):
        return True
    ready = bool(lead.get("salesReady")) != bool(after.get("salesReady"))
    return ready or lead.get("stage") != after.get("stage")


@dataclass
class _Tally:
    """Running totals of a preview."""

    report: PreviewReport
    sample: int
    before: dict[str, list[float]] = field(default_factory=dict)
    after: dict[str, list[float]] = field(default_factory=dict)
    changed: dict[str, int] = field(default_factory=dict)
    ready_on: dict[str, int] = field(default_factory=dict)
    ready_off: dict[str, int] = field(default_factory=dict)
    rules: dict[tuple[str, str], RuleChange] = field(default_factory=dict)
    moves: dict[tuple[str | None, str | None], int] = field(default_factory=dict)

    def add(self, lead: dict[str, Any], after: dict[str, Any]) -> None:
        r = self.report
        r.leads += 1
        old, new = entries(lead), entries(after)
        changes: list[ScoreChange] = []
        for model in dict.fromkeys([*old, *new]):
            b, a = old.get(model), new.get(model)
            if b is not None and isinstance(b.get("score"), int | float):
                self.before.setdefault(model, []).append(float(b["score"]))
            if a is not None:
                self.after.setdefault(model, []).append(float(a["score"]))
            if _essence(b) == _essence(a):
                continue
            changes.append(ScoreChange(model, b, a))
            self.changed[model] = self.changed.get(model, 0) + 1
            was, now = bool(b and b.get("salesReady")), bool(a and a.get("salesReady"))
            if now and not was:
                self.ready_on[model] = self.ready_on.get(model, 0) + 1
            elif was and not now:
                self.ready_off[model] = self.ready_off.get(model, 0) + 1
            pb, pa = _points(b), _points(a)
            for rule in dict.fromkeys([*pb, *pa]):
                if pb.get(rule, 0.0) == pa.get(rule, 0.0):
                    continue
                rc = self.rules.setdefault((model, rule), RuleChange(model, rule))
                rc.leads += 1
                rc.points_before += pb.get(rule, 0.0)
                rc.points_after += pa.get(rule, 0.0)
        ready_before, ready_after = bool(lead.get("salesReady")), bool(after.get("salesReady"))
        moved = lead.get("stage") != after.get("stage")
        if changes:
            r.score_changed += 1
        if ready_after and not ready_before:
            r.sales_ready_on += 1
        elif ready_before and not ready_after:
            r.sales_ready_off += 1
        if moved:
            key = (lead.get("stage"), after.get("stage"))
            self.moves[key] = self.moves.get(key, 0) + 1
        if changes or moved or ready_before != ready_after:
            r.changed += 1
            if len(r.samples) < self.sample:
                r.samples.append(LeadChange(lead=lead, after=after, scores=changes))

    def finish(self) -> PreviewReport:
        r = self.report
        r.stage_moves = [
            StageMove(a, b, n)
            for (a, b), n in sorted(self.moves.items(), key=lambda kv: (-kv[1], str(kv[0])))
        ]
        models = dict.fromkeys([*self.before, *self.after, *self.changed])
        r.models = [
            ModelChange(
                model=m,
                changed=self.changed.get(m, 0),
                sales_ready_on=self.ready_on.get(m, 0),
                sales_ready_off=self.ready_off.get(m, 0),
                before=Distribution.of(self.before.get(m, [])),
                after=Distribution.of(self.after.get(m, [])),
                rules=sorted(
                    (rc for (model, _), rc in self.rules.items() if model == m),
                    key=lambda rc: (-rc.leads, rc.rule),
                ),
            )
            for m in models
        ]
        return r


# ---------------------------------------------------------------- the service


def candidate_rules(
    files: list[tuple[str, str]],
    pm: pluggy.PluginManager | None,
    limits: RuleLimits = DEFAULT_LIMITS,
) -> RuleSet:
    """A candidate rule set from ``(file name, content)`` pairs, loaded and checked as a rules
    directory would be (errors at ``file:line:column``).

    :raises RulesInvalid: a bad file name, a duplicate, or anything the loader refuses.
    """
    errors: list[RuleError] = []
    seen: set[str] = set()
    for name, _ in files:
        if not FILE_NAME.fullmatch(name):
            errors.append(
                RuleError(name, 1, 1, "not a rule file name: a plain name ending in .yaml/.yml")
            )
        elif name in seen:
            errors.append(RuleError(name, 1, 1, "the same file name is given twice"))
        seen.add(name)
    if not files:
        errors.append(RuleError("(files)", 1, 1, "no rule files given"))
    if errors:
        raise RulesInvalid(errors)
    with tempfile.TemporaryDirectory(prefix="leadgraph-preview-") as tmp:
        for name, content in files:
            Path(tmp, name).write_text(content, encoding="utf-8")
        return load_rules(tmp, pm, limits)


class Preview:
    """Previews of rule sets over one database, against its live rules."""

    def __init__(self, db: AsyncDatabase, live: RuleSet | None, pm: PluginManager | None) -> None:
        self.db = db
        self.live = live
        self.pm = pm

    async def run(
        self,
        candidate: RuleSet,
        *,
        sample: int = 10,
        batch: int = 500,
        progress: Callable[[int], None] | None = None,
        segments: bool = True,
        now: datetime | None = None,
    ) -> PreviewReport:
        """What rescoring every lead with ``candidate`` would change (nothing is written).

        ``sample``: how many changed leads to report in full; ``progress(n)`` after each
        batch of ``n`` leads; ``segments``: compare the segments of the live rules with the
        candidate's.
        """
        t = now or db_now()
        report = PreviewReport(
            live_version=self.live.version if self.live else None,
            rules_version=candidate.version,
            now=t,
        )
        tally = _Tally(report, sample)
        counted = await count_all(self.db, candidate, t)
        async for chunk in leads.batches(self.db, {}, batch):
            known = await gather(self.db, chunk, candidate, t, counted)
            for doc in chunk:
                e = evaluate(candidate, known[doc["_id"]], (), t)
                if e.failure is not None:
                    report.failed += 1
                    if e.failure not in report.failures:
                        report.failures.append(e.failure)
                tally.add(doc, applied(doc, e.update))  # a failed model: its score as it was
            if progress is not None:
                progress(len(chunk))
        if segments:
            report.segments = await self.segments(candidate, t, sample)
        return tally.finish()

    async def segments(self, candidate: RuleSet, now: datetime, sample: int) -> list[SegmentChange]:
        """Each segment of the live or the candidate rules: its members under both (by the
        segment query, over the records as stored), who joins and who leaves."""
        live = self.live
        defined = [*(live.segments if live else ()), *candidate.segments]
        names = dict.fromkeys(s.name for s in defined)
        out: list[SegmentChange] = []
        for name in names:
            old = live.segment(name) if live else None
            new = candidate.segment(name)
            before = set(await member_ids(self.db, live, name, now)) if old and live else None
            if old is not None and new is not None and old.where == new.where:
                after = before
            else:
                after = set(await member_ids(self.db, candidate, name, now)) if new else None
            added = sorted((after or set()) - (before or set()))
            removed = sorted((before or set()) - (after or set()))
            out.append(
                SegmentChange(
                    name=name,
                    before=len(before) if before is not None else None,
                    after=len(after) if after is not None else None,
                    added=len(added),
                    removed=len(removed),
                    added_ids=added[:sample],
                    removed_ids=removed[:sample],
                )
            )
        return out
