"""Issue 9 point 3: rule files cannot make the loader build more than its bounds.

A 1 KB file of YAML aliases used to grow the server from 68 MB to 3.1 GB; now the composer
counts every alias at the size of what it repeats and stops at ``file:line:col`` before
anything is constructed or validated.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
from click.testing import CliRunner
from leadgraph.cli.main import cli
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from rules.helpers import copy_rules
from rules.live import live_server, reload_rules, rules_status

MB = 1 << 20


def alias_bomb(levels: int = 10, fanout: int = 10) -> str:
    """The trial's file: segments, each ``all:`` of ``fanout`` aliases of the previous one."""
    lines = [
        "segments:",
        "  - name: s0",
        "    where: &s0 {fact: contact.role, op: eq, value: user}",
    ]
    for i in range(1, levels + 1):
        refs = ", ".join([f"*s{i - 1}"] * fanout)
        lines += [f"  - name: s{i}", f"    where: &s{i} {{all: [{refs}]}}"]
    return "\n".join(lines) + "\n"


def check(
    directory: Path, env: dict[str, str] | None = None, *, traced: bool = True
) -> tuple[int, str, int]:
    """``leadgraph rules check DIR`` in process: exit code, output and peak traced memory
    (0 when not ``traced``: tracing every allocation makes a big parse many times slower)."""
    if traced:
        tracemalloc.start()
    try:
        result = CliRunner().invoke(
            cli,
            ["rules", "check", str(directory)],
            env={
                "MONGODB_URI": "",
                "LEADGRAPH_DATA_DIR": str(directory.parent / "no-data"),
                **(env or {}),
            },
        )
        peak = tracemalloc.get_traced_memory()[1] if traced else 0
    finally:
        if traced:
            tracemalloc.stop()
    return result.exit_code, result.output, peak


def test_the_alias_bomb_is_refused_at_its_line_without_expanding(tmp_path: Path) -> None:
    text = alias_bomb()
    assert len(text) < 1200  # 10**10 conditions once expanded
    (tmp_path / "bomb.yaml").write_text(text)
    code, output, peak = check(tmp_path)
    assert code == 1, output
    # the alias that crosses 100,000 expanded nodes: segment s5's list (10**5 leaves below it)
    assert "bomb.yaml:13:" in output, output
    assert "limit exceeded: the file expands to more than 100000 YAML nodes" in output
    assert peak < 40 * MB, f"peak {peak / MB:.1f} MB"


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        pytest.param(
            "segments:\n"
            + "".join(
                f"  - {{name: a{i}, where: &a{i} {{fact: contact.role}}}}\n" for i in range(10)
            )
            + "tests:\n  - name: t\n    given:\n      contact:\n        refs: ["
            + ", ".join(f"*a{i % 10}" for i in range(300))
            + "]\n    expect: {}\n",
            "many.yaml:16:",
            "limit exceeded: more than 256 aliases in one file",
            id="too-many-aliases",
        ),
        pytest.param(
            "segments:\n  - name: deep\n    where: "
            + "{not: " * 3000
            + "{fact: contact.role}"
            + "}" * 3000
            + "\n",
            "deep.yaml:3:",
            "limit exceeded: nested deeper than 100 levels",
            id="not-x3000",
        ),
        pytest.param(
            "[" * 5000 + "\n",
            "brackets.yaml:1:101:",
            "limit exceeded: nested deeper than 100 levels",
            id="bracket-x5000",
        ),
        pytest.param(
            "segments:\n  - name: deep\n    where: "
            + "{not: " * 40
            + "{fact: contact.role}"
            + "}" * 40
            + "\n",
            "conditions.yaml:3:",
            "condition nested deeper than 32 levels",
            id="condition-depth",
        ),
        pytest.param(
            "tests:\n  - name: loop\n    given:\n      contact: &me {self: [*me]}\n"
            "    expect: {}\n",
            "loop.yaml:4:",
            "limit exceeded: alias *me is used inside its own anchor",
            id="recursive-alias",
        ),
        pytest.param(
            "segments:\n  - name: wide\n    where: &w {all: ["
            + ", ".join(["{fact: contact.role}"] * 2000)
            + "]}\n  - name: copies\n    where: {any: ["
            + ", ".join(["*w"] * 60)
            + "]}\n",
            "wide.yaml:5:",
            "limit exceeded: the file expands to more than 100000 YAML nodes",
            id="wide-anchor",
        ),
    ],
)
def test_every_bound_is_a_rule_error_at_its_place(
    tmp_path: Path, text: str, where: str, message: str
) -> None:
    name = where.split(":")[0]
    (tmp_path / name).write_text(text)
    code, output, peak = check(tmp_path)
    assert code == 1, output
    lines = [line for line in output.splitlines() if line.startswith(where)]
    assert any(message in line for line in lines), output
    assert "Traceback" not in output
    assert peak < 40 * MB, f"peak {peak / MB:.1f} MB"


def test_an_oversized_file_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "big.yaml").write_text("# padding\n" * 120_000)  # 1.2 MB of comments
    code, output, _ = check(tmp_path)
    assert code == 1
    assert "big.yaml:1:1: rule file too large: 1200000 bytes (at most 1048576)" in output
    # the bound is configurable
    code, output, _ = check(tmp_path, {"LEADGRAPH_RULES_MAX_FILE_BYTES": str(2 * MB)}, traced=False)
    assert code == 0, output


def test_shipped_rules_are_far_below_the_bounds() -> None:
    root = Path(__file__).resolve().parents[2]
    code, output, _ = check(root / "rules")
    assert code == 0, output


async def test_the_bomb_through_hot_reload_keeps_the_last_good_rules(
    tmp_path: Path, db: AsyncDatabase, mongo_client: AsyncMongoClient, mongo_uri: str
) -> None:
    directory = copy_rules(tmp_path / "rules")
    async with live_server(directory, db, mongo_client, mongo_uri) as (api, state):
        good = (await rules_status(api))["version"]
        assert good
        tracemalloc.start()
        try:
            (directory / "bomb.yaml").write_text(alias_bomb())
            status = await reload_rules(api)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert status["version"] == good
        errors = [e for e in status["errors"] if e["file"] == "bomb.yaml"]
        assert errors and errors[0]["line"] == 13, status["errors"]
        assert "limit exceeded" in errors[0]["message"]
        assert peak < 60 * MB, f"peak {peak / MB:.1f} MB"
        assert state.rules.current is not None and state.rules.current.version == good
