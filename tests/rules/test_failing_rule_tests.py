"""A rule file whose own ``tests:`` fail (issue 20 point 12) is reported on reload like an
invalid file (its file, the test's line, the failure; in ``rulesStatus`` and the log) and the
last good rules stay live; ``leadgraph rules check`` runs the tests too and refuses such rules."""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from conftest import Api, serving
from leadgraph.cli.main import cli
from pymongo import AsyncMongoClient

from .helpers import copy_rules

STATUS = "{ version errors { file line column message } }"
GOOD = "    expect:\n      matches: true\n"
BAD = "    expect:\n      matches: false\n"
NAME = "contacts match by email whatever its case and spacing"


def _break_a_test(directory: Path) -> tuple[int, str]:
    """Make the matching file's "case and spacing" test expect the wrong answer; its line and
    the file as it was."""
    path = directory / "matching.yaml"
    text = path.read_text()
    assert text.count(GOOD) == 1
    path.write_text(text.replace(GOOD, BAD))
    return next(n for n, line in enumerate(text.splitlines(), 1) if NAME in line), text


def _check(directory: Path) -> tuple[int, str]:
    """``leadgraph rules check DIRECTORY`` (in a thread of its own: it runs its own loop)."""
    result = CliRunner().invoke(cli, ["rules", "check", str(directory)], env={"MONGODB_URI": ""})
    return result.exit_code, result.output


async def test_rules_whose_tests_fail_stay_out_and_the_last_good_rules_stay_live(
    tmp_path: Path,
    mongo_client: AsyncMongoClient,
    mongo_uri: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    directory = copy_rules(tmp_path / "rules")
    name = f"t_{uuid.uuid4().hex[:12]}"
    async with (
        serving(mongo_client, mongo_uri, name, directory) as app,
        httpx.AsyncClient(timeout=60) as http,
    ):
        api = Api(base_url=app.base_url, http=http, db=mongo_client[name])
        good = (await api.gql(f"{{ rulesStatus {STATUS} }}"))["rulesStatus"]
        assert good["version"] and good["errors"] == []
        line, text = _break_a_test(directory)

        with caplog.at_level(logging.ERROR, logger="leadgraph.rules"):
            status = (await api.gql(f"mutation {{ reloadRules {STATUS} }}"))["reloadRules"]
        assert status["version"] == good["version"]  # the last good rules stay live
        (error,) = status["errors"]
        assert (error["file"], error["line"]) == ("matching.yaml", line)
        assert error["message"].startswith(f"test {NAME!r} fails: match under ")
        assert "expected False, got True" in error["message"]
        assert (await api.gql(f"{{ rulesStatus {STATUS} }}"))["rulesStatus"] == status
        logged = [r.getMessage() for r in caplog.records if r.name == "leadgraph.rules"]
        assert any(f"matching.yaml:{line}:" in m and NAME in m for m in logged), logged

        # the CLI agrees: the same error, and a failing exit
        code, output = await asyncio.to_thread(_check, directory)
        assert code == 1
        assert f"matching.yaml:{line}:{error['column']}: test {NAME!r} fails" in output

        # the test fixed (and the file otherwise changed): the new version goes live
        (directory / "matching.yaml").write_text(text + "# reviewed\n")
        fixed = (await api.gql(f"mutation {{ reloadRules {STATUS} }}"))["reloadRules"]
        assert fixed["errors"] == [] and fixed["version"] != good["version"]
        assert (await asyncio.to_thread(_check, directory))[0] == 0
    await mongo_client.drop_database(name)
