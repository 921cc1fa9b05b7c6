"""The ``leadgraph`` command line: serve, keys, seed (rules and import attach their groups)."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import click
from platformdirs import user_data_dir

from ..config import Settings, legacy_data_dir
from ..db import Connection, open_database
from ..defaults import rules_dir_of
from ..services import Services
from ..services.facts import count_uncounted_days
from ..services.funnel import Report
from ..services.report import changed_leads
from ..store import contacts, leads
from ..web.auth import ROLES
from .common import (
    err,
    progress_bar,
    refusing_embedded_errors,
    services_of,
    settings_of,
    unwind_on_sigterm,
    with_database,
)
from .imports import import_
from .persisted import persisted
from .preview import diff, preview
from .replay import replay
from .rules import init, rules
from .webhooks import webhooks


@click.group()
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    envvar="LEADGRAPH_DATA_DIR",
    help="Where the embedded database keeps its files (without MONGODB_URI).",
)
@click.option(
    "--rules",
    "rules_dir",
    type=click.Path(path_type=Path),
    envvar="LEADGRAPH_RULES_DIR",
    help="Directory of rule files.",
)
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None, rules_dir: Path | None) -> None:
    """leadgraph: contacts, accounts, leads and the lead funnel behind a GraphQL API."""
    ctx.obj = settings = Settings.from_env().with_overrides(data_dir=data_dir, rules_dir=rules_dir)
    legacy = legacy_data_dir()
    if settings.mongodb_uri is None and legacy is not None and settings.data_dir == legacy:
        err.print(
            f"[yellow]using the embedded database in {legacy} (made by an older leadgraph); "
            f"the default is now {user_data_dir('leadgraph')}: move it there or set "
            "LEADGRAPH_DATA_DIR[/]"
        )


# ---------------------------------------------------------------- serve


async def ensure_demo_admin_key(conn: Connection, settings: Settings) -> str:
    """The embedded demo's admin key: kept in the data dir so every start can print it."""
    from ..store import keys

    path = settings.data_dir / "admin.key"
    if path.exists():
        key = path.read_text().strip()
        if await keys.lookup(conn.db, key):
            return key
    key, _ = await keys.create(conn.db, "admin", "demo admin")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(key + "\n")
    os.chmod(path, 0o600)
    return key


@cli.command()
@click.option("--host", default=None, help="Interface to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to listen on (default 8000).")
@click.option(
    "--rules",
    "rules_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Directory of rule files.",
)
@click.option("--data-dir", type=click.Path(path_type=Path), default=None)
@click.option(
    "--demo/--no-demo", default=False, help="Fill an empty database with demo data first."
)
@click.pass_context
def serve(
    ctx: click.Context,
    host: str | None,
    port: int | None,
    rules_dir: Path | None,
    data_dir: Path | None,
    demo: bool,
) -> None:
    """Serve the GraphQL API (GraphiQL at /graphql)."""
    import uvicorn

    from ..web.app import create_app
    from ..web.http_limits import uvicorn_options

    settings = settings_of(ctx).with_overrides(
        host=host, port=port, rules_dir=rules_dir, data_dir=data_dir
    )
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    async def main() -> None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        async with open_database(settings, publish=True) as conn:
            where = (
                "embedded database " + str(settings.data_dir / "db")
                if conn.embedded
                else "MongoDB at MONGODB_URI"
            )
            if demo and await contacts.is_empty(conn.db):
                await _seed(conn, 1000, settings)
            key_line = ""
            if conn.embedded is not None:
                key_line = f"\n  admin API key: {await ensure_demo_admin_key(conn, settings)}"
            app = create_app(settings, connection=conn)
            url = f"http://{settings.host}:{settings.port}/graphql"
            err.print(
                f"[bold green]leadgraph[/] on {where}\n  rules: {rules_dir_of(settings)}\n"
                f"  GraphiQL: {url}{key_line}\n"
                f"  send it as: Authorization: Bearer <key>"
            )
            config = uvicorn.Config(
                app,
                host=settings.host,
                port=settings.port,
                log_level="info",
                ws="websockets-sansio",
                **uvicorn_options(settings.header_timeout),
            )
            await uvicorn.Server(config).serve()

    unwind_on_sigterm()
    with refusing_embedded_errors():
        asyncio.run(main())


# ---------------------------------------------------------------- keys


@cli.group()
def keys() -> None:
    """Manage API keys (stored hashed; each key has a role)."""


@keys.command("create")
@click.option("--role", type=click.Choice(sorted(ROLES)), required=True)
@click.option("--name", default=None, help="A label to recognise the key by.")
@with_database
async def keys_create(conn: Connection, role: str, name: str | None) -> None:
    """Create a key; prints only the key on stdout (it is not shown again)."""
    from ..store import keys as store

    key, _ = await store.create(conn.db, role, name)
    click.echo(key)


@keys.command("list")
@with_database
async def keys_list(conn: Connection) -> None:
    """List keys (id, name, role, prefix, created, revoked)."""
    from ..store import keys as store

    for doc in await store.list_keys(conn.db):
        revoked = doc["revokedAt"].isoformat() if doc.get("revokedAt") else "-"
        click.echo(
            f"{doc['_id']}\t{doc['name']}\t{doc['role']}\t{doc.get('prefix', '')}…\t"
            f"{doc['createdAt'].isoformat()}\trevoked:{revoked}"
        )


@keys.command("revoke")
@click.argument("key_or_id")
@with_database
async def keys_revoke(conn: Connection, key_or_id: str) -> None:
    """Revoke a key given its id, its name or the key itself."""
    from ..store import keys as store

    if not await store.revoke(conn.db, key_or_id):
        raise click.ClickException(f"no live key matches {key_or_id!r}")
    click.echo("revoked")


@keys.command("role")
@click.argument("key_or_id")
@click.argument("role", type=click.Choice(sorted(ROLES)))
@with_database
async def keys_role(conn: Connection, key_or_id: str, role: str) -> None:
    """Change a live key's role (open WebSockets pick it up within seconds)."""
    from ..store import keys as store

    if not await store.set_role(conn.db, key_or_id, role):
        raise click.ClickException(f"no live key matches {key_or_id!r}")
    click.echo(f"role: {role}")


# ---------------------------------------------------------------- privacy


@cli.group()
def privacy() -> None:
    """Data protection: subscription-centre links (see docs/privacy.md)."""


@privacy.command("token")
@click.argument("contact_id")
@click.option("--days", type=click.IntRange(1, 365), default=30, show_default=True)
@with_database
async def privacy_token(conn: Connection, contact_id: str, days: int) -> None:
    """Print a subscription-centre token for a contact (its id, or its global id), valid
    for DAYS, signed with the server secret; its expiry goes to stderr."""
    from datetime import timedelta

    from bson import ObjectId
    from bson.errors import InvalidId
    from strawberry.relay import GlobalID

    try:
        oid = ObjectId(contact_id)
    except InvalidId:
        try:
            oid = ObjectId(GlobalID.from_id(contact_id).node_id)
        except Exception:
            raise click.ClickException(f"{contact_id!r} is not a contact id") from None
    issued = await Services(conn.db, None, None).privacy.issue_token(oid, timedelta(days=days))
    if issued is None:
        raise click.ClickException(f"no contact {contact_id}")
    click.echo(issued[0])
    err.print(f"expires {issued[1].isoformat()}")


# ---------------------------------------------------------------- seed


async def _rescore(conn: Connection, settings: Settings, stale_only: bool = False) -> None:
    """Rescore leads with the rules of the settings' rules directory (a progress bar on stderr when
    it is a terminal); goes on past leads a plugin fails on, prints a summary and fails when
    any lead failed."""
    funnel = services_of(conn, settings).funnel
    await count_uncounted_days(conn.db)  # contacts stored before their days were counted
    query = leads.stale_query(funnel.version) if stale_only else {}
    if err.is_terminal:  # the bar's total: every lead's estimate, or the few stale ones
        total = await leads.count(conn.db, query) if query else await leads.estimated_count(conn.db)
        with progress_bar() as bar:
            task = bar.add_task("rescoring", total=total)
            report = await funnel.rescore_all(query, progress=lambda n: bar.update(task, advance=n))
    else:  # a log or a pipe: the summary alone, no bar redrawn into it
        report = await funnel.rescore_all(query)
    for line in rescore_summary(report.processed, funnel.version, report):
        click.echo(line, err=True)  # one line each, never wrapped to a width
    if report.failed:
        raise click.ClickException(
            f"{_leads(len(report.failed))} could not be rescored; they are marked stale "
            "(Lead.scoreError). Fix the plugin and run `leadgraph rescore --stale` to finish."
        )


def _leads(n: int) -> str:
    return f"{n} lead" if n == 1 else f"{n} leads"


def rescore_summary(total: int, version: str | None, report: Report) -> list[str]:
    """What ``leadgraph rescore`` says: the counts (a lead changed when its scores, its
    sales-ready flag or its stage did: the comparison ``rules diff`` counts with), then each
    plugin failure as a sentence."""
    lines = [
        f"rescored {_leads(total)} with rules {version}: {changed_leads(report.changed)}, "
        f"{report.unchanged} unchanged, {len(report.failed)} failed"
    ]
    by_plugin: dict[tuple[str, str], list[str]] = {}
    for failed in report.failed:
        f = failed.failure
        by_plugin.setdefault((f.plugin, f.hook), []).append(f.message)
    for (plugin, hook), messages in sorted(by_plugin.items()):
        lines.append(
            f"The plugin {plugin} failed in {hook} for {_leads(len(messages))}: "
            f"{messages[0].rstrip('.')}."
        )
    for f in dict.fromkeys(report.event_failures):
        lines.append(f"The plugin {f.plugin} failed handling {f.hook}: {f.message.rstrip('.')}.")
    return lines


@cli.command()
@click.option(
    "--stale",
    "stale_only",
    is_flag=True,
    help="Only leads not yet scored with the current rules, or marked stale by a failure.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Write nothing; print what a rescore would change (as `leadgraph rules diff`).",
)
@with_database
async def rescore(conn: Connection, stale_only: bool, dry_run: bool) -> None:
    """Rescore every lead with the current rules and apply automatic stage transitions."""
    if dry_run:
        await preview(conn, None, sample=10)
        return
    await _rescore(conn, settings_of(click.get_current_context()), stale_only)


async def _seed(conn: Connection, n_contacts: int, settings: Settings) -> dict[str, int]:
    """Demo data, its leads scored with the rules as they are written."""
    from ..services.seed import interactions_per_contact_for, seed_demo

    services = services_of(conn, settings)

    n_accounts = max(1, n_contacts // 5)
    totals = {
        "accounts": n_accounts,
        "contacts": n_contacts,
        "scoring": int(n_contacts * 2.5),
        "leads": int(n_contacts * 2.5),
        "interactions": n_contacts * interactions_per_contact_for(n_contacts),
    }
    with progress_bar() as bar:
        tasks = {k: bar.add_task(k, total=v) for k, v in totals.items()}

        def advance(stage: str, n: int) -> None:
            bar.update(tasks[stage], advance=n)

        counts = await seed_demo(
            conn.db,
            n_contacts=n_contacts,
            n_accounts=n_accounts,
            progress=advance,
            funnel=services.funnel,
        )
        for k, v in counts.items():
            bar.update(tasks[k], total=v, completed=v)
        bar.update(tasks["scoring"], total=counts["leads"], completed=counts["leads"])
    return counts


@cli.group()
def seed() -> None:
    """Fill the database with data."""


@seed.command("demo")
@click.option("--contacts", "n_contacts", type=click.IntRange(1), default=1000, show_default=True)
@with_database
async def seed_demo_cmd(conn: Connection, n_contacts: int) -> None:
    """Realistic demo data: N contacts, N/5 accounts, 2.5 leads and 25 interactions each
    (fewer above 40,000 contacts: about a million in all), scored with the current rules;
    written in bulk."""
    counts = await _seed(conn, n_contacts, settings_of(click.get_current_context()))
    err.print(", ".join(f"{v} {k}" for k, v in counts.items()))


rules.add_command(diff)
cli.add_command(rules)
cli.add_command(init)
cli.add_command(import_)
cli.add_command(replay)
cli.add_command(persisted)
cli.add_command(webhooks)


def main() -> None:
    cli(prog_name="leadgraph")
