"""``leadgraph webhooks deliver``: a webhook delivery worker of its own (beside, or instead
of, the one in ``leadgraph serve``; run with ``LEADGRAPH_WEBHOOK_WORKER=0`` to keep serving
processes out of it)."""

from __future__ import annotations

import asyncio
import logging

import click

from ..db import Connection
from ..plugin_manager import get_plugin_manager
from ..services.delivery import Worker
from .common import err, settings_of, unwind_on_sigterm, with_database


@click.group()
def webhooks() -> None:
    """Webhooks (register them through the API: createWebhook)."""


@webhooks.command("deliver")
@click.option(
    "--until-idle",
    is_flag=True,
    help="Attempt what is due now, then exit (instead of running until stopped).",
)
def deliver(until_idle: bool) -> None:
    """Deliver webhooks until stopped (Ctrl-C, SIGTERM): leased, so any number of workers
    and servers may deliver from one database."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    unwind_on_sigterm()
    _deliver(until_idle)


@with_database
async def _deliver(conn: Connection, until_idle: bool) -> None:
    settings = settings_of(click.get_current_context())
    async with Worker(conn.db, settings, get_plugin_manager()) as worker:
        if until_idle:
            err.print(f"attempted {await worker.drain()} webhook deliveries")
            return
        err.print("delivering webhooks (Ctrl-C to stop)")
        await worker.run(asyncio.Event())
