"""What every command shares: the error console, the settings of the invocation, running an
async body with an open database (acting as the CLI's user), SIGTERM unwinding, progress bars,
and the services over the valid rules."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import getpass
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .. import events
from ..config import Settings
from ..db import Connection, open_database
from ..defaults import rules_dir_of
from ..embedded import EmbeddedDatabaseError
from ..rules.manager import RulesManager
from ..services import Services

err = Console(stderr=True)
T = TypeVar("T")


def settings_of(ctx: click.Context) -> Settings:
    return ctx.find_object(Settings) or Settings.from_env()


def with_database(fn: Callable[..., Awaitable[T]]) -> Callable[..., T]:
    """Run an async command body with an open database as its first argument."""

    @click.pass_context
    @functools.wraps(fn)
    def wrapper(ctx: click.Context, *args: Any, **kwargs: Any) -> T:
        async def main() -> T:
            act_for_the_command_line()
            async with open_database(settings_of(ctx)) as conn:
                return await fn(conn, *args, **kwargs)

        with refusing_embedded_errors():
            return asyncio.run(main())

    return wrapper


def act_for_the_command_line() -> None:
    """The events a command writes are the CLI's, named by the user who ran it (the audit
    log's actor ``{name: <user>, via: "cli"}``)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        user = f"uid {os.getuid()}"
    events.act_as(events.Actor(user, None, "cli"))


def unwind_on_sigterm() -> None:
    """Make SIGTERM unwind the process like Ctrl-C does.

    uvicorn catches SIGTERM, shuts down, then raises the signal again; with the default action
    the process would die right there, before ``open_database`` stops the embedded database it
    started, leaving that child running.  Exiting by ``SystemExit`` runs every cleanup.
    """
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


@contextlib.contextmanager
def refusing_embedded_errors() -> Iterator[None]:
    """The embedded database could not be had (not installed, or held by another command):
    a one-line error and exit status 1, not a traceback."""
    try:
        yield
    except EmbeddedDatabaseError as exc:
        raise click.ClickException(str(exc)) from None


def progress_bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description:<13}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    )


def services_of(conn: Connection, settings: Settings) -> Services:
    """The services over ``conn`` with the valid rules of the settings' rules directory."""
    rules = RulesManager(rules_dir_of(settings), limits=settings.rule_limits)
    if not rules.reload() or rules.current is None:
        for error in rules.errors:
            err.print(f"[red]{error}[/]")
        raise click.ClickException(f"the rules in {rules.directory} are not valid")
    return Services(conn.db, rules.current, rules.pm)
