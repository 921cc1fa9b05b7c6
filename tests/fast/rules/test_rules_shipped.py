"""The shipped rules: they load, their ``tests:`` blocks pass (under pytest and through the
CLI), and ``rules.schema.json`` is the schema the code exports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from leadgraph.cli.rules import rules
from leadgraph.rules.jsonschema import SCHEMA_FILE, schema_text
from leadgraph.rules.ruleset import load_rules
from leadgraph.rules.ruletests import run_test
from rules.helpers import INVALID, SHIPPED, copy_rules

RULESET = load_rules(SHIPPED)


@pytest.mark.parametrize(
    ("file", "test"), RULESET.tests, ids=[f"{f}::{t.name}" for f, t in RULESET.tests]
)
def test_shipped_rule_file_tests(file: str, test: object) -> None:
    outcome = run_test(RULESET, file, test)  # type: ignore[arg-type]
    assert outcome.ok, str(outcome)


def test_every_rule_kind_ships_with_tests() -> None:
    files = {f for f, _ in RULESET.tests}
    assert {"matching.yaml", "scoring.yaml", "lifecycle.yaml", "segments.yaml"} <= files


def test_shipped_defaults_are_the_domain_defaults() -> None:
    ruleset = RULESET
    contact = ruleset.matching.contact_strategy_for("any-new-form")
    lead = ruleset.matching.lead_strategy_for("any-new-form")
    assert (contact.kind, contact.fields, contact.create) == ("exact", ["email"], True)
    assert (lead.kind, lead.fields, lead.create) == ("exact", ["email", "formId"], True)
    find_only = ruleset.matching.lead_strategy_for("partner-summit-registration")
    assert find_only.create is False
    assert ruleset.lifecycle is not None
    assert ruleset.lifecycle.stage_names == [
        "inquiry",
        "automated_marketing_qualification",
        "teleprospecting_acceptance",
        "teleprospecting_qualification",
        "sales_acceptance",
    ]
    assert [m.threshold for m in ruleset.scoring_models] == [60]
    assert ruleset.segment("contoso-conference-decision-makers") is not None


def test_version_is_a_content_hash(tmp_path: Path) -> None:
    copy = load_rules(copy_rules(tmp_path / "a"))
    assert copy.version == RULESET.version  # same text, same version, wherever it lives
    (tmp_path / "a" / "segments.yaml").write_text(
        (SHIPPED / "segments.yaml").read_text() + "\n# a comment\n"
    )
    assert load_rules(tmp_path / "a").version != RULESET.version


def test_cli_check_and_test_pass_on_shipped_rules() -> None:
    runner = CliRunner()
    checked = runner.invoke(rules, ["check", str(SHIPPED)])
    assert checked.exit_code == 0, checked.output
    assert RULESET.version in checked.output
    tested = runner.invoke(rules, ["test", str(SHIPPED)])
    assert tested.exit_code == 0, tested.output
    assert f"{len(RULESET.tests)} passed, 0 failed" in tested.output


def test_cli_check_reports_file_line_column(tmp_path: Path) -> None:
    directory = copy_rules(tmp_path / "rules")
    (directory / "bad.yaml").write_text((INVALID / "wrong_type.yml").read_text())
    result = CliRunner().invoke(rules, ["check", str(directory)])
    assert result.exit_code == 1
    assert "bad.yaml:9:17: points: input should be a valid number" in result.output


def test_cli_test_fails_on_a_wrong_expectation(tmp_path: Path) -> None:
    directory = copy_rules(tmp_path / "rules")
    text = (
        (directory / "scoring.yaml")
        .read_text()
        .replace("score: {engagement: 75}", "score: {engagement: 99}")
    )
    (directory / "scoring.yaml").write_text(text)
    result = CliRunner().invoke(rules, ["test", str(directory)])
    assert result.exit_code == 1
    assert "score of engagement: expected 99, got 75" in result.output


def test_json_schema_file_is_current() -> None:
    assert SCHEMA_FILE.read_text() == schema_text(), (
        "rules.schema.json is stale: run `leadgraph rules schema -o rules.schema.json`"
    )
    schema = json.loads(SCHEMA_FILE.read_text())
    assert set(schema["properties"]) == {
        "matching",
        "survivorship",
        "scoring",
        "lifecycle",
        "segments",
        "tests",
        "interaction_types",
        "fields",
        "contact_types",
    }
    assert schema["additionalProperties"] is False


def test_cli_schema_prints_the_schema() -> None:
    result = CliRunner().invoke(rules, ["schema"])
    assert result.exit_code == 0
    assert result.output == schema_text()
