"""``leadgraph replay --lead ID --at TIME [--rules then|live]``: a lead as it was at a past
time, with its explanation (the same answer as ``Lead.asOf`` over GraphQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from bson import ObjectId
from strawberry import relay

from ..db import Connection
from ..defaults import rules_dir_of
from ..errors import UserError
from ..rules.manager import RulesManager
from ..services import Services
from ..services.history import AsOf
from ..store import leads
from .common import settings_of, with_database


def lead_id(value: str) -> ObjectId:
    """A lead's id: its GraphQL global id or the stored ObjectId in hex."""
    if ObjectId.is_valid(value):
        return ObjectId(value)
    try:
        gid = relay.GlobalID.from_id(value)
        if gid.type_name == "Lead":
            return ObjectId(gid.node_id)
    except Exception:  # strawberry raises GlobalIDValueError on garbage
        pass
    raise click.BadParameter(f"{value!r} is not a lead id", param_hint="--lead")


def when(value: str) -> datetime:
    """An ISO 8601 time; without a zone, UTC."""
    try:
        t = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time", param_hint="--at") from exc
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def render(got: AsOf) -> list[str]:
    """The lines ``leadgraph replay`` prints."""
    lines = [
        f"at {got.time.isoformat()} with the rules {got.rules} ({got.rules_version or 'unknown'})",
        f"stage: {got.stage}",
        f"salesReady: {str(got.sales_ready).lower()}",
    ]
    for s in got.scores:
        ready = " (sales-ready)" if s.get("salesReady") else ""
        lines.append(f"score {s['model']}: {s.get('score', 0):g}{ready}")
        for e in s.get("explanation") or []:
            lines.append(f"  {e['rule']}: {e['points']:+g}")
    lines.append("explanation:")
    lines += [f"  {line}" for line in got.explanation]
    return lines


@click.command()
@click.option("--lead", "lead", required=True, help="The lead's global id (or ObjectId).")
@click.option("--at", "at", required=True, help="The time, ISO 8601 (UTC without a zone).")
@click.option(
    "--rules",
    "rules",
    type=click.Choice(["then", "live"]),
    default="then",
    show_default=True,
    help="then: as stored, with the rules then live; live: today's rules over the "
    "interactions known at that time.",
)
@with_database
async def replay(conn: Connection, lead: str, at: str, rules: str) -> None:
    """Show a lead's scores, stage and sales-ready flag as they were at a past time."""
    oid, t = lead_id(lead), when(at)
    settings = settings_of(click.get_current_context())
    manager = RulesManager(rules_dir_of(settings), limits=settings.rule_limits)
    if not manager.reload() and rules == "live":
        raise click.ClickException(f"the rules in {manager.directory} are not valid")
    doc = await leads.get(conn.db, oid)
    if doc is None:
        raise click.ClickException(f"no lead with id {lead}")
    services = Services(conn.db, manager.current, manager.pm)
    try:
        got = await services.history.as_of(doc, t, rules)
    except UserError as exc:
        raise click.ClickException(str(exc)) from exc
    if got is None:
        raise click.ClickException(f"the lead did not exist yet at {t.isoformat()}")
    click.echo("\n".join(render(got)))
