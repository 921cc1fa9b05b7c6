"""Plugins without a restart (issue 19 point 10): a partner plugin installed while the server
runs is loaded by the next rules reload, so its scoring kind is accepted where it said
"unknown scoring kind" before, and `leadgraph rules check` agrees; a plugin already loaded
whose installed version changed is refused with "restart the server to load plugin X".

Installing a real distribution is heavy: the test writes one the way pip leaves it, a module
and its ``.dist-info`` (METADATA, entry_points.txt) in a directory on sys.path, which
importlib.metadata finds like any installed distribution."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from leadgraph.cli.main import cli
from leadgraph.plugin_manager import get_plugin_manager
from leadgraph.rules.manager import RulesManager
from shipped import SHIPPED

PLUGIN = """
from leadgraph import hookimpl
from leadgraph.plugins.scoring_points import PointsKind


@hookimpl
def leadgraph_scoring_kinds():
    return {"titlefit": PointsKind()}
"""
MODEL = """scoring:
  - name: titles
    kind: titlefit
    threshold: 10
    rules:
      - name: a founder
        when: {fact: contact.jobTitle, op: contains, value: founder}
        points: 10
"""


def install(site: Path, version: str) -> None:
    """What ``pip install titlefit==<version>`` leaves in ``site``."""
    (site / "titlefit_plugin.py").write_text(PLUGIN)
    for old in site.glob("titlefit-*.dist-info"):
        shutil.rmtree(old)
    info = site / f"titlefit-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: titlefit\nVersion: {version}\n")
    (info / "entry_points.txt").write_text("[leadgraph]\ntitlefit = titlefit_plugin\n")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "site-packages"
    path.mkdir()
    monkeypatch.syspath_prepend(str(path))
    monkeypatch.delitem(sys.modules, "titlefit_plugin", raising=False)
    return path


def rules(tmp_path: Path) -> Path:
    directory = tmp_path / "rules"
    directory.mkdir()
    for path in SHIPPED.glob("*.yaml"):
        (directory / path.name).write_bytes(path.read_bytes())
    (directory / "titles.yaml").write_text(MODEL)
    return directory


def check(directory: Path) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli,
        ["rules", "check", str(directory)],
        env={"MONGODB_URI": "", "LEADGRAPH_DATA_DIR": str(directory.parent / "no-data")},
    )
    return result.exit_code, result.output


def test_a_plugin_installed_while_running_loads_on_the_next_reload(tmp_path, site) -> None:
    directory = rules(tmp_path)
    manager = RulesManager(directory, get_plugin_manager())
    assert not manager.reload()
    assert "unknown scoring kind 'titlefit'" in manager.errors[0].message
    assert check(directory)[0] == 1  # the CLI agrees: not installed yet

    install(site, "1.0")
    assert manager.reload(), manager.errors
    assert manager.current is not None
    assert manager.current.registry.scoring_kinds["titlefit"].plugin == "titlefit"
    assert check(directory)[0] == 0  # and agrees again once it is


def test_a_changed_plugin_says_to_restart(tmp_path, site) -> None:
    install(site, "1.0")
    directory = rules(tmp_path)
    manager = RulesManager(directory, get_plugin_manager())
    assert manager.reload(), manager.errors
    install(site, "1.1")
    assert not manager.reload()
    (error,) = manager.errors
    assert "titlefit 1.1 is installed but 1.0 is running" in error.message
    assert "restart the server to load plugin 'titlefit'" in error.message
    assert manager.current is not None  # the running rules stay live
