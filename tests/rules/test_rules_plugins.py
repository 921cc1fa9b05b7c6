"""Plugins: a partner's package found through the ``leadgraph`` entry point adds a scoring
kind used from a rule file; a failing plugin is named and changes nothing."""

from __future__ import annotations

import importlib
import logging
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from installed import install_like_pip
from leadgraph import hookimpl
from leadgraph.events import LeadStageChanged
from leadgraph.plugin_manager import DEFAULT_PLUGINS, PluginError, get_plugin_manager
from leadgraph.rules.loader import RulesInvalid
from leadgraph.rules.manager import RulesManager
from leadgraph.rules.ruleset import load_rules
from leadgraph.rules.ruletests import run_tests
from leadgraph.rules.scoring import score_lead
from leadgraph.services.dispatch import hand_to_plugins

from .gen import NOW
from .helpers import ROOT, copy_rules

EXAMPLE = ROOT / "tests" / "example_plugin"

RECENCY_RULES = """\
scoring:
  - name: recent-engagement
    kind: recency
    threshold: 20
    options:
      half_life_days: 14
      weights: {email_opened: 2, event_attended: 20}

tests:
  - name: a fresh event visit is worth its full weight
    now: 2026-06-01T12:00:00Z
    given:
      lead: {parentContactId: c1}
      interactions:
        - {type: event_attended, ago: 0d}
        - {type: email_opened, ago: 14d}
    expect:
      score: {recent-engagement: 21}
      sales_ready: {recent-engagement: true}
"""


def _pip_install(target: Path, work: Path) -> bool:
    """``pip install`` the example package into ``target`` (from a copy, so the checkout gets
    no build litter). False when pip cannot build it (no index reachable)."""
    source = work / "example_plugin"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--disable-pip-version-check",
            "--target",
            str(target),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done.returncode == 0


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The example package pip-installed into a private directory put on ``sys.path``: its
    entry point is found exactly as it would be in site-packages."""
    work = tmp_path_factory.mktemp("example")
    target = work / "site"
    if not _pip_install(target, work):
        install_like_pip(EXAMPLE, target)
    sys.path.insert(0, str(target))
    importlib.invalidate_caches()
    try:
        yield
    finally:
        sys.path.remove(str(target))
        sys.modules.pop("leadgraph_recency", None)
        importlib.invalidate_caches()


def test_builtins_are_registered_like_plugins() -> None:
    pm = get_plugin_manager()
    assert [name for name in DEFAULT_PLUGINS if pm.get_plugin(name) is not None] == list(
        DEFAULT_PLUGINS
    )
    assert all(name.startswith("leadgraph.plugins.") for name in DEFAULT_PLUGINS)


def test_without_the_plugin_the_kind_is_unknown(tmp_path: Path) -> None:
    directory = copy_rules(tmp_path / "rules")
    (directory / "recency.yaml").write_text(RECENCY_RULES)
    with pytest.raises(RulesInvalid) as caught:
        load_rules(directory, get_plugin_manager(entry_points=False))
    assert "recency.yaml:3:11: unknown scoring kind 'recency'" in str(caught.value)


def test_entry_point_plugin_adds_a_scoring_kind(installed_example: None, tmp_path: Path) -> None:
    pm = get_plugin_manager()
    assert pm.get_plugin("recency") is not None  # registered under its entry-point name
    directory = copy_rules(tmp_path / "rules")
    (directory / "recency.yaml").write_text(RECENCY_RULES)
    ruleset = load_rules(directory, pm)
    assert ruleset.registry.scoring_kinds["recency"].plugin == "recency"

    facts = {
        "lead": {"parentContactId": "c1"},
        "contact": {"role": "user"},
        "account": None,
        "interactions": [
            {"type": "event_attended", "occurredAt": NOW},
            {"type": "email_opened", "occurredAt": NOW - timedelta(days=14)},
        ],
    }
    by_model = {r.model: r for r in score_lead(ruleset, facts, NOW)}
    recent = by_model["recent-engagement"]
    assert recent.score == 21
    assert recent.explanation == [("recent email_opened", 1.0), ("recent event_attended", 20.0)]
    assert recent.sales_ready and recent.rules_version == ruleset.version
    assert all(o.ok for o in run_tests(ruleset)), [str(o) for o in run_tests(ruleset)]


def test_plugin_option_errors_point_at_the_model(installed_example: None, tmp_path: Path) -> None:
    directory = copy_rules(tmp_path / "rules")
    (directory / "recency.yaml").write_text(RECENCY_RULES.replace("half_life_days: 14", "x: 1"))
    with pytest.raises(RulesInvalid) as caught:
        load_rules(directory, get_plugin_manager())
    assert "recency.yaml:2:5: scoring model 'recent-engagement': options:" in str(caught.value)


class Exploding:
    """A partner plugin whose scoring kind fails on every lead."""

    class Kind:
        def prepare(self, model: Any, conditions: Any) -> Any:
            def score(facts: Any, now: Any) -> Any:
                raise ZeroDivisionError("division by zero")

            return score

    @hookimpl
    def leadgraph_scoring_kinds(self) -> dict[str, Any]:
        return {"fragile": self.Kind()}


def test_failing_scoring_kind_names_the_plugin(tmp_path: Path) -> None:
    pm = get_plugin_manager()
    pm.register(Exploding(), name="acme-fragile")
    directory = copy_rules(tmp_path / "rules")
    (directory / "fragile.yaml").write_text(
        "scoring:\n  - {name: fragile-model, kind: fragile, threshold: 1}\n"
    )
    ruleset = load_rules(directory, pm)
    lead = {"parentContactId": "c1", "stage": "inquiry"}
    facts: dict[str, Any] = {"lead": lead, "contact": {}, "account": None, "interactions": []}
    with pytest.raises(PluginError) as caught:
        score_lead(ruleset, facts, NOW)
    assert caught.value.plugin == "acme-fragile"
    assert "fragile-model" in str(caught.value) and "ZeroDivisionError" in str(caught.value)
    assert lead == {"parentContactId": "c1", "stage": "inquiry"}  # nothing was touched


class BrokenProvider:
    @hookimpl
    def leadgraph_condition_facts(self) -> dict[str, str]:
        raise RuntimeError("cannot reach the CRM")


def test_failing_provider_hook_keeps_the_live_rules(tmp_path: Path) -> None:
    pm = get_plugin_manager()
    manager = RulesManager(copy_rules(tmp_path / "rules"), pm)
    assert manager.reload()
    live = manager.current
    broken = BrokenProvider()
    pm.register(broken, name="acme-broken")
    try:
        assert manager.reload() is False
        assert manager.current is live
        assert "plugin 'acme-broken'" in manager.errors[0].message
        assert "cannot reach the CRM" in manager.errors[0].message
    finally:
        pm.unregister(broken)
    assert manager.reload() and manager.errors == []


class Listener:
    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl
    def leadgraph_lead_stage_changed(self, event: LeadStageChanged) -> None:
        self.seen.append(f"{event.lead_id}->{event.to_stage}")


class FailingListener:
    @hookimpl
    def leadgraph_lead_stage_changed(self, event: LeadStageChanged) -> None:
        raise KeyError("boom")


async def test_failing_event_hook_is_logged_by_name_and_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pm = get_plugin_manager()
    listener = Listener()
    pm.register(listener, name="listener")
    pm.register(FailingListener(), name="acme-failing")
    with caplog.at_level(logging.ERROR, logger="leadgraph.events"):
        event = LeadStageChanged(
            lead_id=ObjectId("0" * 24),
            from_stage="inquiry",
            to_stage="sales_acceptance",
            transition="sales_ready",
            rules_version="v",
        )
        failures = await hand_to_plugins(pm, event)
    assert listener.seen == [f"{'0' * 24}->sales_acceptance"]
    assert [f.plugin for f in failures] == ["acme-failing"]
    assert "acme-failing" in caplog.text
