"""Rules projects live outside the checkout (issue 19 point 9): ``leadgraph init DIR`` makes
one from the shipped rules (package data), ``serve`` reads ``--rules`` /
``LEADGRAPH_RULES_DIR`` or the data directory's rules (made from the shipped ones on first
start), and the suite reads the packaged rules, never a directory an admin edits."""

from __future__ import annotations

import re
import tomllib
import uuid
from pathlib import Path

import httpx
import yaml
from click.testing import CliRunner
from conftest import ROOT, Api, serving
from leadgraph.cli.main import cli
from leadgraph.config import Settings
from leadgraph.defaults import (
    CHECK,
    SCHEMA_IN_CHECKOUT,
    SCHEMA_IN_PROJECT,
    default_rules_dir,
    rules_dir_of,
    shipped_files,
)
from leadgraph.rules.ruleset import load_rules
from pymongo import AsyncMongoClient
from shipped import SHIPPED

NAMES = sorted(p.name for p in shipped_files())
WORKFLOW = ".github/workflows/leadgraph-rules.yml"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env={"MONGODB_URI": ""})
    return result.exit_code, result.output


def test_init_makes_a_project_whose_rules_check_and_test(tmp_path: Path) -> None:
    project = tmp_path / "crm-rules"
    code, output = run("init", str(project))
    assert code == 0, output
    written = sorted(str(p.relative_to(project)) for p in project.rglob("*") if p.is_file())
    assert written == sorted([*NAMES, WORKFLOW, "README.md", "rules.schema.json"])
    for name in NAMES:  # the shipped files, their tests: included (the schema beside them)
        shipped = (default_rules_dir() / name).read_text()
        assert (project / name).read_text() == shipped.replace(
            SCHEMA_IN_CHECKOUT, SCHEMA_IN_PROJECT, 1
        )
    assert (default_rules_dir() / "lifecycle.yaml").read_text().startswith(SCHEMA_IN_CHECKOUT)
    assert (project / "lifecycle.yaml").read_text().startswith(SCHEMA_IN_PROJECT)
    assert "tests:" in (project / "lifecycle.yaml").read_text()
    readme = (project / "README.md").read_text()
    assert CHECK in readme and "leadgraph serve --rules ." in readme
    steps = yaml.safe_load((project / WORKFLOW).read_text())["jobs"]["check"]["steps"]
    assert {"run": CHECK} in steps
    assert any(s.get("run", "").startswith('pip install "leadgraph==') for s in steps)

    # what the CI job runs passes on a fresh project
    assert run("rules", "check", str(project))[0] == 0
    code, output = run("rules", "test", str(project))
    assert code == 0 and "0 failed" in output

    # an existing project (or any non-empty directory) is never overwritten
    (project / "scoring.yaml").write_text("scoring: []\n")
    code, output = run("init", str(project))
    assert code != 0 and "not an empty directory" in output
    assert (project / "scoring.yaml").read_text() == "scoring: []\n"


async def test_serve_without_rules_uses_the_data_directorys_made_from_the_shipped_ones(
    tmp_path: Path, mongo_client: AsyncMongoClient, mongo_uri: str
) -> None:
    data = tmp_path / "data"
    name = f"t_{uuid.uuid4().hex[:12]}"
    async with (
        serving(mongo_client, mongo_uri, name, None, data_dir=data) as app,  # type: ignore[arg-type]
        httpx.AsyncClient(timeout=60) as http,
    ):
        api = Api(base_url=app.base_url, http=http, db=mongo_client[name])
        status = await api.gql("{ rulesStatus { version directory errors { message } } }")
        assert status["rulesStatus"] == {
            "version": load_rules(SHIPPED).version,
            "directory": str(data / "rules"),
            "errors": [],
        }
    await mongo_client.drop_database(name)
    assert sorted(p.name for p in (data / "rules").iterdir()) == NAMES

    # it is the admin's from then on: an edit is kept, never replaced by the shipped files
    edited = (data / "rules" / "scoring.yaml").read_text().replace("points: 20", "points: 21")
    (data / "rules" / "scoring.yaml").write_text(edited)
    assert rules_dir_of(Settings(data_dir=data)) == data / "rules"
    assert (data / "rules" / "scoring.yaml").read_text() == edited


def test_rules_and_the_environment_name_a_directory_that_is_never_made(tmp_path: Path) -> None:
    given = tmp_path / "mine"
    env = {"LEADGRAPH_RULES_DIR": str(given), "LEADGRAPH_DATA_DIR": str(tmp_path / "data")}
    settings = Settings.from_env(env)
    assert settings.rules_directory == given
    assert rules_dir_of(settings) == given and not given.exists()
    assert not (tmp_path / "data" / "rules").exists()
    assert Settings.from_env({"LEADGRAPH_DATA_DIR": str(tmp_path)}).rules_directory == (
        tmp_path / "rules"
    )


async def test_a_missing_rules_directory_is_reported_not_created(
    tmp_path: Path, mongo_client: AsyncMongoClient, mongo_uri: str
) -> None:
    name = f"t_{uuid.uuid4().hex[:12]}"
    missing = tmp_path / "typo"
    async with serving(mongo_client, mongo_uri, name, missing) as app:
        manager = app.state.leadgraph.rules
        assert manager.current is None
        assert "rules directory not found" in manager.errors[0].message
    await mongo_client.drop_database(name)
    assert not missing.exists()


def test_the_suite_reads_the_packaged_rules_never_an_admins_directory() -> None:
    # the copy every test server serves: the package's shipped files, outside the checkout
    assert {"lifecycle.yaml", "matching.yaml", "scoring.yaml", "segments.yaml"} <= set(NAMES)
    assert sorted(p.name for p in SHIPPED.iterdir()) == NAMES
    for path in shipped_files():
        assert (SHIPPED / path.name).read_bytes() == path.read_bytes()
    assert not SHIPPED.resolve().is_relative_to(ROOT)
    assert not SHIPPED.resolve().is_relative_to(Settings().data_dir.resolve())
    # and no test names a rules directory of its own: they read SHIPPED or a copy of it
    named = re.compile(r"""(ROOT|parents?\[?\d?\]?|parent\.parent)\s*/\s*["']rules["']""")
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in sorted((ROOT / "tests").rglob("*.py"))
        if path.name != "test_rules_projects.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if named.search(line)
    ]
    assert offenders == []


def test_the_wheel_carries_every_package_and_the_shipped_rules() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    roots = {"leadgraph": ROOT / "server", "leadgraph.plugins": ROOT / "plugins"}
    found = {
        ".".join([name, *init.parent.relative_to(base).parts])
        for name, base in roots.items()
        for init in base.rglob("__init__.py")
    }
    assert found <= set(setuptools["packages"]), sorted(found - set(setuptools["packages"]))
    assert setuptools["package-dir"]["leadgraph.default_rules"] == "rules"
    assert "leadgraph.default_rules" in setuptools["packages"]
    assert setuptools["package-data"]["leadgraph.default_rules"] == ["*.yaml"]


def test_two_first_starts_at_once_leave_one_whole_copy(tmp_path: Path) -> None:
    from leadgraph.defaults import _made_from_defaults

    target = tmp_path / "rules"
    assert _made_from_defaults(target)  # the first process's copy goes in whole
    (target / "scoring.yaml").write_text("scoring: []\n")  # and is the admin's at once
    assert not _made_from_defaults(target)  # the second one's loses, and is cleaned away
    assert (target / "scoring.yaml").read_text() == "scoring: []\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rules"]
