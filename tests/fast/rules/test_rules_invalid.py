"""Deliberately invalid rule files (``tests/rules/invalid/``): each mistake is reported at its
file, line and column, and the rules that were live stay live."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from leadgraph.rules.manager import RulesManager
from rules.helpers import INVALID, copy_rules

FIXTURES = sorted(INVALID.glob("*.yml"))


def test_there_is_a_fixture_per_kind_of_mistake() -> None:
    names = {p.stem for p in FIXTURES}
    assert {
        "unknown_field",
        "wrong_type",
        "unknown_stage",
        "unknown_fact",
        "duplicate_name",
        "unknown_strategy",
        "bad_yaml",
    } <= names


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.stem)
def test_invalid_file_is_reported_and_last_good_rules_stay_live(
    fixture: Path, tmp_path: Path
) -> None:
    directory = copy_rules(tmp_path / "rules")
    manager = RulesManager(directory)
    assert manager.reload(), manager.errors
    live = manager.current
    assert live is not None

    text = fixture.read_text()
    expected = re.search(r"^# expect: (.+)$", text, re.M)
    assert expected, f"{fixture.name} needs an '# expect: file:line:col: message' line"
    replaces = re.search(r"^# replaces: (\S+)$", text, re.M)
    if replaces:
        (directory / replaces.group(1)).unlink()
    shutil.copy(fixture, directory / fixture.name)

    assert manager.reload() is False
    reported = [str(e) for e in manager.errors]
    assert any(r.startswith(expected.group(1)) for r in reported), reported
    assert all(re.match(r"^[\w.-]+:\d+:\d+: .+", r) for r in reported), reported
    # the previous rules are untouched and still answer
    assert manager.current is live
    assert manager.version == live.version
    assert manager.current.matching.lead_strategy_for(None).name == "lead-email-form"


def test_fixing_the_file_loads_the_new_version(tmp_path: Path) -> None:
    directory = copy_rules(tmp_path / "rules")
    manager = RulesManager(directory)
    assert manager.reload()
    first = manager.version
    shutil.copy(INVALID / "unknown_fact.yml", directory / "extra.yaml")
    assert not manager.reload()
    assert manager.errors[0].file == "extra.yaml"
    (directory / "extra.yaml").write_text(
        "segments:\n  - name: it-directors\n"
        "    where: {fact: contact.jobTitle, op: contains, value: director}\n"
    )
    assert manager.reload()
    assert manager.errors == []
    assert manager.version != first
    assert manager.current is not None and manager.current.segment("it-directors") is not None
