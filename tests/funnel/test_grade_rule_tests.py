"""The ``tests:`` blocks of ``grades_rules/`` (grades, decay by half-life, several models) run
through ``leadgraph rules test``, and a wrong grade or decayed score is reported as such."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner
from leadgraph.cli.rules import rules

RULES = Path(__file__).parent / "grades_rules"


def test_grade_and_decay_examples_pass_through_the_cli() -> None:
    result = CliRunner().invoke(rules, ["test", str(RULES)])
    assert result.exit_code == 0, result.output
    assert "5 passed, 0 failed" in result.output
    assert "PASS scoring.yaml :: an open two weeks old counts half" in result.output


def test_a_wrong_grade_or_decayed_score_fails_with_the_reason(tmp_path: Path) -> None:
    directory = tmp_path / "rules"
    shutil.copytree(RULES, directory)
    text = (directory / "scoring.yaml").read_text()
    text = text.replace("grade: {fit: A, engagement: null}", "grade: {fit: B}")
    text = text.replace("score: {engagement: 17.5}", "score: {engagement: 30}")
    (directory / "scoring.yaml").write_text(text)
    result = CliRunner().invoke(rules, ["test", str(directory)])
    assert result.exit_code != 0
    assert (
        "grade of fit: expected B, got A (decision maker at a company of 250 or more)"
        in result.output
    )
    assert "score of engagement: expected 30, got 17.5" in result.output
