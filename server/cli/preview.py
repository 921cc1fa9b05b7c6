"""``leadgraph rules diff DIR`` and ``leadgraph rescore --dry-run``: a rule-change preview
printed as text (progress on stderr, the report on stdout)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..db import Connection
from ..rules.ruleset import RuleSet
from ..services.preview import Distribution, PreviewReport, entries
from ..services.report import changed_leads
from ..store import leads
from .common import progress_bar, services_of, settings_of, with_database
from .rules import load_or_exit


def _num(x: float | None) -> str:
    if x is None:
        return "-"
    return str(int(x)) if float(x).is_integer() else f"{x:.2f}"


def _dist(d: Distribution) -> str:
    if not d.count:
        return "no leads"
    return (
        f"{d.count} leads, mean {_num(d.mean)}, min {_num(d.minimum)}, p25 {_num(d.p25)}, "
        f"p50 {_num(d.p50)}, p75 {_num(d.p75)}, p90 {_num(d.p90)}, max {_num(d.maximum)}"
    )


def _explained(entry: dict[str, Any] | None) -> str:
    if entry is None:
        return "not scored"
    parts = ", ".join(f"{e['rule']} {_num(e['points'])}" for e in entry.get("explanation") or [])
    ready = " sales-ready" if entry.get("salesReady") else ""
    return f"{_num(entry.get('score'))}{ready} ({parts or 'no rule'})"


def render(r: PreviewReport) -> list[str]:
    """The report as lines of text."""
    out = [
        f"rules {r.rules_version} (live: {r.live_version or 'none'}) over {r.leads} leads "
        f"at {r.now.isoformat()}; nothing was written",
        f"{changed_leads(r.changed, would=True)}: {r.score_changed} scores, "
        f"{r.sales_ready_on} become sales-ready, {r.sales_ready_off} stop being sales-ready, "
        f"{sum(m.leads for m in r.stage_moves)} move stage",
    ]
    if r.stage_moves:
        out.append("stage moves:")
        out += [f"  {m.from_stage} -> {m.to_stage}: {m.leads}" for m in r.stage_moves]
    for m in r.models:
        out.append(
            f"model {m.model}: {m.changed} scores change, "
            f"+{m.sales_ready_on} / -{m.sales_ready_off} sales-ready"
        )
        out.append(f"  before: {_dist(m.before)}")
        out.append(f"  after:  {_dist(m.after)}")
        lows = sorted({b[0] for b in m.before.buckets} | {b[0] for b in m.after.buckets})
        if lows:
            was = {b[0]: b[2] for b in m.before.buckets}
            will = {b[0]: b[2] for b in m.after.buckets}
            out.append(
                "  buckets: "
                + "; ".join(
                    f"[{_num(lo)},{_num(lo + 10)}) {was.get(lo, 0)} -> {will.get(lo, 0)}"
                    for lo in lows
                )
            )
        for rc in m.rules:
            out.append(
                f"  rule {rc.rule!r}: {rc.leads} leads, "
                f"{_num(rc.points_before)} -> {_num(rc.points_after)} points"
            )
    if r.segments:
        out.append("segments:")
    for s in r.segments:
        line = (
            f"  {s.name}: {s.before if s.before is not None else 'undefined'} -> "
            f"{s.after if s.after is not None else 'undefined'} members (+{s.added} -{s.removed})"
        )
        if s.added_ids:
            line += "; added " + ", ".join(str(i) for i in s.added_ids)
        if s.removed_ids:
            line += "; removed " + ", ".join(str(i) for i in s.removed_ids)
        out.append(line)
    if r.samples:
        out.append("sample:")
    for c in r.samples:
        lead, after = c.lead, c.after
        out.append(
            f"  lead {lead['_id']} {lead.get('topic')!r}: stage {lead.get('stage')} -> "
            f"{after.get('stage')}, salesReady {bool(lead.get('salesReady'))} -> "
            f"{bool(after.get('salesReady'))}"
        )
        before_scores, after_scores = entries(lead), entries(after)
        for sc in c.scores:
            out.append(f"    {sc.model}: {_explained(before_scores.get(sc.model))}")
            out.append(f"    {' ' * len(sc.model)}  -> {_explained(after_scores.get(sc.model))}")
    if r.failed:
        plugins = ", ".join(f"{f.plugin!r} in {f.hook}" for f in r.failures)
        out.append(f"{r.failed} leads could not be evaluated: plugin {plugins} failed")
    return out


async def preview(conn: Connection, candidate: RuleSet | None, sample: int) -> PreviewReport:
    """Run the preview of ``candidate`` (None: the live rules against the stored state) with
    a progress bar, print it and return it."""
    settings = settings_of(click.get_current_context())
    services = services_of(conn, settings)
    live = services.ruleset
    assert live is not None
    total = await leads.estimated_count(conn.db)  # a bar's total: counting reads every row
    with progress_bar() as bar:
        task = bar.add_task("previewing", total=total)
        report = await services.preview.run(
            candidate or live,
            sample=sample,
            segments=candidate is not None,
            progress=lambda n: bar.update(task, advance=n),
        )
    for line in render(report):
        click.echo(line)
    return report


@click.command()
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option("--sample", type=click.IntRange(0, 1000), default=10, show_default=True)
@with_database
async def diff(conn: Connection, directory: Path, sample: int) -> None:
    """What the rules of DIRECTORY would change against the database if they went live:
    scores, sales-ready flips, stage moves and segment members (nothing is written)."""
    await preview(conn, load_or_exit(directory), sample)
