"""Issue 9 point 4: the rule watcher survives anything a file can hold.

Each hostile file used to kill the watcher silently (no log, no ``rulesStatus`` error, later
edits ignored, ``reloadRules`` an internal error). Now every failure of reading or parsing is a
reported rule error, the last good rules stay live, and the next good edit goes live.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from rules.helpers import copy_rules
from rules.live import live_server, reload_rules, rules_status, until

EXTRA = (
    "segments:\n  - name: {name}\n    where: {{fact: contact.role, op: eq, value: influencer}}\n"
)


def _write(text: str | bytes) -> Callable[[Path, Path], None]:
    def make(directory: Path, outside: Path) -> None:
        data = text.encode() if isinstance(text, str) else text
        (directory / "hostile.yaml").write_bytes(data)

    return make


def _fifo_inside(directory: Path, outside: Path) -> None:
    os.mkfifo(directory / "hostile.yaml")


def _symlink_to_fifo(directory: Path, outside: Path) -> None:
    os.mkfifo(outside / "pipe")
    (directory / "hostile.yaml").symlink_to(outside / "pipe")


def _symlink_to_device(directory: Path, outside: Path) -> None:
    (directory / "hostile.yaml").symlink_to("/dev/zero")


def _symlink_outside(directory: Path, outside: Path) -> None:
    (outside / "secret.yaml").write_text(EXTRA.format(name="from-outside"))
    (directory / "hostile.yaml").symlink_to(outside / "secret.yaml")


def _dangling_symlink(directory: Path, outside: Path) -> None:
    (directory / "hostile.yaml").symlink_to(outside / "missing.yaml")


HOSTILE: list[Any] = [
    pytest.param(_write(b"segments: []\n\x00"), "2:1", "control character #x0000", id="nul"),
    pytest.param(_write("a: \x1bb\n"), "1:4", "control character #x001b", id="escape"),
    pytest.param(_write(b"a: \xff\xfe\n"), "1:4", "not UTF-8", id="not-utf8"),
    pytest.param(_write("[" * 5000), "1:101", "nested deeper than 100", id="bracket-x5000"),
    pytest.param(
        _write("x: " + "{not: " * 3000 + "{fact: a}" + "}" * 3000),
        "1:",
        "nested deeper than 100",
        id="not-x3000",
    ),
    pytest.param(_write("a: [unclosed\n"), "2:1", "invalid YAML", id="bad-yaml"),
    pytest.param(_write("? [a, b]\n: c\n"), "1:3", "unhashable key", id="list-as-key"),
    pytest.param(_write("a: " + "9" * 5000 + "\n"), "1:4", "invalid value", id="huge-integer"),
    pytest.param(_write("a: 2001-13-45\n"), "1:4", "month must be in 1..12", id="bad-date"),
    pytest.param(_fifo_inside, "1:1", "not a regular file", id="fifo"),
    pytest.param(_symlink_to_fifo, "1:1", "outside the rules directory", id="symlink-fifo"),
    pytest.param(_symlink_to_device, "1:1", "outside the rules directory", id="symlink-device"),
    pytest.param(_symlink_outside, "1:1", "outside the rules directory", id="symlink-outside"),
    pytest.param(_dangling_symlink, "1:1", "cannot read the file", id="dangling-symlink"),
]


def _hostile_error(status: dict[str, Any]) -> dict[str, Any] | None:
    return next((e for e in status["errors"] if e["file"] == "hostile.yaml"), None)


@pytest.mark.parametrize(("make", "at", "message"), HOSTILE)
async def test_a_hostile_file_is_reported_and_the_watcher_goes_on(
    make: Callable[[Path, Path], None],
    at: str,
    message: str,
    tmp_path: Path,
    db: AsyncDatabase,
    mongo_client: AsyncMongoClient,
    mongo_uri: str,
) -> None:
    directory = copy_rules(tmp_path / "rules")
    outside = tmp_path / "outside"
    outside.mkdir()
    async with live_server(directory, db, mongo_client, mongo_uri) as (api, _state):
        good = (await rules_status(api))["version"]
        assert good

        make(directory, outside)

        async def reported() -> dict[str, Any] | None:
            return _hostile_error(await rules_status(api))

        error = await until(reported, "the watcher to report the hostile file")
        assert f"{error['line']}:{error['column']}".startswith(at), error
        assert message in error["message"], error
        assert (await rules_status(api))["version"] == good  # the last good rules stay live

        status = await reload_rules(api)  # answers a status, not an internal error
        assert status["version"] == good
        assert message in (_hostile_error(status) or {}).get("message", ""), status

        # later edits are still seen: remove the file, add a good one
        (directory / "hostile.yaml").unlink()
        (directory / "extra.yaml").write_text(EXTRA.format(name="after-the-storm"))

        async def next_version() -> dict[str, Any] | None:
            status = await rules_status(api)
            return status if status["version"] not in (good, None) else None

        status = await until(next_version, "the next good edit to go live")
        assert status["errors"] == []
        segments = await api.gql("{ segments { name } }")
        assert "after-the-storm" in [s["name"] for s in segments["segments"]]


async def test_a_symlink_to_a_file_inside_the_directory_is_read(
    tmp_path: Path, db: AsyncDatabase, mongo_client: AsyncMongoClient, mongo_uri: str
) -> None:
    directory = copy_rules(tmp_path / "rules")
    (directory / "shared").mkdir()
    (directory / "shared" / "segment.txt").write_text(EXTRA.format(name="linked"))
    (directory / "linked.yaml").symlink_to(directory / "shared" / "segment.txt")
    async with live_server(directory, db, mongo_client, mongo_uri) as (api, _state):
        status = await rules_status(api)
        assert status["errors"] == [] and status["version"]
        segments = await api.gql("{ segments { name } }")
        assert "linked" in [s["name"] for s in segments["segments"]]


async def test_the_watcher_follows_a_replaced_directory(
    tmp_path: Path, db: AsyncDatabase, mongo_client: AsyncMongoClient, mongo_uri: str
) -> None:
    """Deploy tools replace the whole directory; its watch dies with it and must be renewed."""
    directory = copy_rules(tmp_path / "rules")
    async with live_server(directory, db, mongo_client, mongo_uri) as (api, state):
        good = (await rules_status(api))["version"]
        shutil.rmtree(directory)

        async def missing() -> bool:
            status = await rules_status(api)
            return any("rules directory not found" in e["message"] for e in status["errors"])

        await until(missing, "the vanished directory to be reported")
        assert state.rules.version == good  # still serving the last good rules

        staging = copy_rules(tmp_path / "staging")
        (staging / "extra.yaml").write_text(EXTRA.format(name="redeployed"))
        staging.rename(directory)

        async def redeployed() -> dict[str, Any] | None:
            status = await rules_status(api)
            return status if status["version"] not in (good, None) else None

        status = await until(redeployed, "the replaced directory to be loaded")
        assert status["errors"] == []

        (directory / "more.yaml").write_text(EXTRA.format(name="edited-after"))
        version = status["version"]

        async def edited() -> bool:
            return (await rules_status(api))["version"] not in (version, None)

        await until(edited, "an edit of the new directory to be seen")
