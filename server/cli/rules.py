"""``leadgraph rules check DIR | test DIR | schema`` and ``leadgraph init DIR``."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from ..config import Settings
from ..defaults import CHECK, ProjectExists, init_project, version
from ..plugin_manager import PluginError
from ..rules.jsonschema import schema_text
from ..rules.loader import RulesInvalid
from ..rules.ruleset import RuleSet, load_rules
from ..rules.ruletests import failing_tests, run_tests
from ..services.stages import check_database


def load_or_exit(directory: Path) -> RuleSet:
    """The rule set of ``directory`` with the command's settings (rule limits, plugins); on
    invalid rules or a failing plugin, print the errors to stderr and exit with status 1."""
    settings = click.get_current_context().find_object(Settings) or Settings.from_env()
    try:
        return load_rules(directory, limits=settings.rule_limits)
    except RulesInvalid as exc:
        for error in exc.errors:
            click.echo(str(error), err=True)
        click.echo(f"{len(exc.errors)} error(s) in {directory}", err=True)
        sys.exit(1)
    except PluginError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)


@click.group()
def rules() -> None:
    """Check, test and describe rule files."""


@rules.command()
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.pass_context
def check(ctx: click.Context, directory: Path) -> None:
    """Validate the rule files of DIRECTORY (errors as file:line:column: message) and run
    their ``tests:`` (a failing test is an error, as on the server's reload).

    With a reachable database (MONGODB_URI, or a running server's embedded one) it also
    refuses rules that drop a stage still holding leads, as the server's reload does.
    """
    ruleset = load_or_exit(directory)
    settings = ctx.find_object(Settings) or Settings.from_env()
    errors = failing_tests(ruleset)  # the files' own tests, as the server's reload runs them
    checked = ""
    if not errors:
        errors, checked = asyncio.run(check_database(settings, ruleset))
    if errors:
        for error in errors:
            click.echo(str(error), err=True)
        click.echo(f"{len(errors)} error(s) in {directory}", err=True)
        sys.exit(1)
    click.echo(
        f"ok: {len(ruleset.files)} file(s), version {ruleset.version}: "
        f"{len(ruleset.matching.strategies)} strategies, "
        f"{len(ruleset.scoring_models)} scoring models, "
        f"{len(ruleset.lifecycle.stages) if ruleset.lifecycle else 0} stages, "
        f"{len(ruleset.segments)} segments, "
        f"{len(ruleset.interaction_types)} interaction types"
    )
    click.echo(checked)


@rules.command(name="test")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
def test_command(directory: Path) -> None:
    """Run the ``tests:`` blocks of the rule files of DIRECTORY."""
    ruleset = load_or_exit(directory)
    outcomes = run_tests(ruleset)
    failed = [o for o in outcomes if not o.ok]
    for outcome in outcomes:
        click.echo(("PASS " if outcome.ok else "FAIL ") + str(outcome))
    click.echo(f"{len(outcomes) - len(failed)} passed, {len(failed)} failed")
    if failed:
        sys.exit(1)


@rules.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write the schema to this file instead of standard output.",
)
def schema(output: Path | None) -> None:
    """Print (or write) the JSON Schema of rule files."""
    if output is None:
        click.echo(schema_text(), nl=False)
    else:
        output.write_text(schema_text(), encoding="utf-8")
        click.echo(f"wrote {output}", err=True)


@click.command()
@click.argument("directory", type=click.Path(path_type=Path))
def init(directory: Path) -> None:
    """Make the rules project DIRECTORY (new or empty): the shipped rule files with their
    ``tests:``, their JSON Schema, a README and a CI job running ``leadgraph rules check``
    and ``leadgraph rules test``.  Serve it with ``leadgraph serve --rules DIRECTORY``."""
    try:
        written = init_project(directory)
    except ProjectExists as exc:
        raise click.ClickException(f"{exc}: leadgraph init makes a new project") from exc
    for name in written:
        click.echo(f"  {name}")
    click.echo(
        f"rules project {directory} made from the rules of leadgraph {version()}; next:\n"
        f"  cd {directory} && {CHECK}\n"
        f"  leadgraph serve --rules {directory}"
    )
