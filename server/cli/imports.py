"""``leadgraph import contacts|leads|accounts FILE`` and ``leadgraph import link-orphans``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..config import Settings
from ..db import Connection
from ..defaults import rules_dir_of
from ..services import Services
from ..services.importing import FORMATS, ImportFailed, count_rows, detect_format, run_import
from .common import err, progress_bar, with_database


async def _rules_and_plugins(conn: Connection) -> tuple[Any, Any]:
    """The plugins and rules the server would use (invalid rules: the default strategies)."""
    from ..plugin_manager import get_plugin_manager
    from ..rules.manager import RulesManager

    ctx = click.get_current_context(silent=True)
    settings = (ctx.find_object(Settings) if ctx else None) or Settings.from_env()
    pm = get_plugin_manager()
    rules = RulesManager(rules_dir_of(settings), pm)
    if rules.directory.is_dir():
        rules.reload()
    if rules.current is None:
        err.print(f"[yellow]no valid rules in {rules.directory}: default strategies apply")
    return rules, pm


def _import_command(kind: str) -> click.Command:
    @click.command(kind, help=f"Import {kind} from a CSV or JSON-lines FILE, through matching.")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--format", "fmt", type=click.Choice(FORMATS), default=None)
    @click.option("--form", "form_id", default=None, help="Use this form's matching strategies.")
    @click.option("--batch-size", type=click.IntRange(1), default=2000, show_default=True)
    @click.option("--restart", is_flag=True, help="Start over instead of resuming.")
    @with_database
    async def command(
        conn: Connection,
        file: Path,
        fmt: str | None,
        form_id: str | None,
        batch_size: int,
        restart: bool,
    ) -> None:
        data = file.read_bytes()
        fmt = fmt or detect_format(file.name)
        rules, pm = await _rules_and_plugins(conn)
        services = Services(conn.db, rules.current, pm)
        try:
            with progress_bar() as bar:
                task = bar.add_task(kind, total=count_rows(data, fmt))
                summary = await run_import(
                    conn.db,
                    kind,
                    data,
                    name=file.name,
                    fmt=fmt,
                    funnel=services.funnel,
                    matching=services.matching,
                    form_id=form_id,
                    batch=batch_size,
                    progress=lambda n: bar.update(task, advance=n),
                    restart=restart,
                )
                bar.update(task, completed=bar.tasks[0].total)
        except ImportFailed as exc:
            err.print(f"[red]{exc}[/]")
            err.print("the rows before it are imported; run the same command again to resume")
            raise SystemExit(1) from None
        if summary.already_done:
            err.print(
                f"{file.name} was already imported ({summary.import_id}); --restart redoes it"
            )
        elif summary.resumed_from_line:
            err.print(f"resumed after line {summary.resumed_from_line}")
        for failure in summary.plugin_failures:
            err.print(
                f"[red]plugin {failure.plugin!r} failed in {failure.hook}:[/] {failure.message}"
            )
        for row in summary.rejected_rows:
            err.print(f"[red]rejected[/] line {row['line']}: {row['reason']}")
        for row in summary.skipped_rows:
            err.print(f"skipped line {row['line']}: {row['reason']}")
        click.echo(
            f"created {summary.created}, updated {summary.updated}, "
            f"skipped {summary.skipped}, rejected {summary.rejected}"
            + (f"; contacts created {summary.contacts_created}" if kind == "leads" else "")
            + (f"; accounts created {summary.accounts_created}" if kind != "accounts" else "")
        )
        if summary.unmapped_columns:
            names = ", ".join(repr(c) for c in summary.unmapped_columns)
            click.echo(f"unmapped columns, not imported: {names}")

    return command


@click.group("import")
def import_() -> None:
    """Import contacts, leads or accounts; link orphan leads."""


for _kind in ("contacts", "leads", "accounts"):
    import_.add_command(_import_command(_kind))


@click.command("link-orphans")
@click.option("--limit", type=click.IntRange(1), default=None)
@with_database
async def link_orphans(conn: Connection, limit: int | None) -> None:
    """Give every lead without a parent contact one (matched, or created marketingOnly)."""
    from ..services.orphans import link_orphans as run

    rules, pm = await _rules_and_plugins(conn)
    services = Services(conn.db, rules.current, pm)
    out = await run(services.matching, services.funnel, limit=limit)
    click.echo(
        f"linked {out.linked} leads: {out.contacts_created} marketingOnly contacts created, "
        f"{out.contacts_matched} existing contacts matched"
    )
    for failure in dict.fromkeys(out.plugin_failures):
        err.print(f"[red]plugin {failure.plugin!r} failed in {failure.hook}:[/] {failure.message}")


import_.add_command(link_orphans)
