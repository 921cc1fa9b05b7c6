"""The rule files leadgraph ships, and the rules directories made from them.

The shipped rules are package data: ``leadgraph/default_rules/*.yaml`` in an installed
package, built from the top-level ``rules/`` of the source checkout (pyproject.toml maps one to
the other), which is where an editable install finds them.  Nobody edits them in place: an
admin's rules live in a rules project (``leadgraph init DIR``, a directory with the shipped
files, their ``tests:``, a README and a CI job) or in the data directory's ``rules/``, made
from the shipped files the first time the server (or a command that reads the rules) starts
without ``--rules`` / ``LEADGRAPH_RULES_DIR``.  See docs/rules.md "Rules directories".
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from importlib import metadata
from pathlib import Path

from .config import Settings

log = logging.getLogger("leadgraph")

_PACKAGED = Path(__file__).resolve().parent / "default_rules"  # an installed wheel
_CHECKOUT = Path(__file__).resolve().parent.parent / "rules"  # a source checkout


def default_rules_dir() -> Path:
    """The directory of the shipped rule files (read them; copy them to change them)."""
    return _PACKAGED if _PACKAGED.is_dir() else _CHECKOUT


def shipped_files() -> list[Path]:
    """The shipped rule files, sorted by name."""
    return sorted(default_rules_dir().glob("*.yaml"))


def copy_defaults(target: Path) -> Path:
    """Copy the shipped rule files into ``target`` (made if missing); returns ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    for path in shipped_files():
        shutil.copyfile(path, target / path.name)
    return target


def rules_dir_of(settings: Settings) -> Path:
    """The rules directory ``settings`` name: ``--rules`` / ``LEADGRAPH_RULES_DIR`` as given;
    else the data directory's ``rules/``, made from the shipped files when it does not exist
    yet (said in the log, once).  A directory given explicitly is never created or filled."""
    if settings.rules_dir is not None:
        return settings.rules_dir
    directory = settings.rules_directory
    if not directory.exists() and _made_from_defaults(directory):
        log.warning(
            "rules directory %s created from the shipped rules: edit it (the server reloads "
            "it), or keep your rules in a project of their own (leadgraph init DIR) and serve "
            "them with --rules DIR",
            directory,
        )
    return directory


def _made_from_defaults(directory: Path) -> bool:
    """Make ``directory`` a copy of the shipped rules, whole or not at all: the files are
    copied beside it and the copy renamed into place, so a server starting at the same time
    never reads half a file.  False when another process made it first."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".rules-", dir=directory.parent))
    copy_defaults(staging)
    try:
        staging.replace(directory)  # rename(2): refused when another copy is there
    except OSError:  # there now: another process's copy won
        shutil.rmtree(staging, ignore_errors=True)
        return False
    return True


def version() -> str:
    """The installed leadgraph's version (what a rules project's CI should install)."""
    try:
        return metadata.version("leadgraph")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a bare source tree
        return "0.1.0"


class ProjectExists(Exception):
    """``leadgraph init`` refuses a directory that already holds files."""


def init_project(target: Path) -> list[Path]:
    """Make the rules project ``target`` (a new or empty directory): the shipped rule files
    with their ``tests:``, ``rules.schema.json`` for editors, a README and a CI job
    (GitHub Actions) running ``leadgraph rules check`` and ``leadgraph rules test``.
    Returns the files written, relative to ``target``."""
    from .rules.jsonschema import schema_text

    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ProjectExists(f"{target} exists and is not an empty directory")
    copy_defaults(target)
    for path in target.glob("*.yaml"):  # the schema sits beside the files in a project
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace(SCHEMA_IN_CHECKOUT, SCHEMA_IN_PROJECT, 1), encoding="utf-8")
    pinned = version()
    extra = {
        "README.md": README.format(version=pinned, check=CHECK),
        ".github/workflows/leadgraph-rules.yml": WORKFLOW.format(version=pinned, check=CHECK),
        "rules.schema.json": schema_text(),
    }
    for name, text in extra.items():
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return sorted(p.relative_to(target) for p in target.rglob("*") if p.is_file())


#: The editor hint the shipped files start with (the checkout's schema is one level up).
SCHEMA_IN_CHECKOUT = "# yaml-language-server: $schema=../rules.schema.json"
SCHEMA_IN_PROJECT = "# yaml-language-server: $schema=rules.schema.json"

#: The CI line: every file valid (and its own tests passing), then the tests with their names.
CHECK = "leadgraph rules check . && leadgraph rules test ."

README = """\
# Rules for leadgraph

The rule files of a leadgraph server (made by `leadgraph init` from the rules leadgraph
{version} ships): matching, scoring, the lead lifecycle, segments, survivorship. Each file
ends with `tests:`, examples of what the rules must do; a server refuses a version whose own
tests fail and keeps the last good one live.

Change a file, then check it like CI does:

```bash
{check}
leadgraph rules diff .     # what these rules would change in the database (nothing written)
```

Serve these rules (the server reloads them when a file changes):

```bash
leadgraph serve --rules .  # or LEADGRAPH_RULES_DIR=$PWD leadgraph serve
```

CI: `.github/workflows/leadgraph-rules.yml` runs the check on every push and pull request.
Anywhere else, install the leadgraph the server runs (`pip install "leadgraph=={version}"`)
and run `{check}`.

`rules.schema.json` is the files' JSON Schema (`leadgraph rules schema`) for editor
completion. The rule language is described in leadgraph's docs/rules.md.
"""

WORKFLOW = """\
# Checks the rule files and runs their tests: leadgraph rules check / test (leadgraph init).
name: leadgraph rules
on: [push, pull_request]
jobs:
  check:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.12"
      # the leadgraph (and the plugins) the server runs, so both agree on what is valid
      - run: pip install "leadgraph=={version}"
      - run: {check}
"""
