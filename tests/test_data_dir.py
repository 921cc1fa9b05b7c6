"""Which database a command uses: the one named in MONGODB_URI's path, and without MONGODB_URI
one embedded database per user, whatever directory the command is run from."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner
from leadgraph.cli.main import cli
from leadgraph.db import _own_embedded
from pymongo import MongoClient
from serving import free_port

LEADGRAPH = str(Path(sys.executable).parent / "leadgraph")


def _with_path(uri: str, name: str) -> str:
    """``mongodb://host:port/?opts`` -> ``mongodb://host:port/name?opts``."""
    base, _, options = uri.partition("?")
    return f"{base.rstrip('/')}/{name}?{options}"


def test_the_database_named_in_the_uri_is_the_default(mongo_uri, tmp_path):
    named, explicit = f"uri_{uuid.uuid4().hex[:10]}", f"env_{uuid.uuid4().hex[:10]}"
    env = {
        "MONGODB_URI": _with_path(mongo_uri, named),
        "LEADGRAPH_DB_NAME": None,
        "LEADGRAPH_DATA_DIR": str(tmp_path),
    }
    runner = CliRunner()
    with MongoClient[dict[str, Any]](mongo_uri) as client:
        try:
            made = runner.invoke(cli, ["keys", "create", "--role", "sales", "--name", "a"], env=env)
            assert made.exit_code == 0, made.output
            assert [k["name"] for k in client[named].api_keys.find()] == ["a"]
            # LEADGRAPH_DB_NAME, when set, wins over the URI's path
            env["LEADGRAPH_DB_NAME"] = explicit
            made = runner.invoke(cli, ["keys", "create", "--role", "sales", "--name", "b"], env=env)
            assert made.exit_code == 0, made.output
            assert [k["name"] for k in client[explicit].api_keys.find()] == ["b"]
            assert client[named].api_keys.count_documents({}) == 1
        finally:
            client.drop_database(named)
            client.drop_database(explicit)


def _leadgraph(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [LEADGRAPH, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=180
    )


def _no_database_env(tmp_path: Path) -> dict[str, str]:
    """No MONGODB_URI, no LEADGRAPH_DATA_DIR: the per-user default, under a fake home."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("MONGODB_URI", "LEADGRAPH_DATA_DIR", "LEADGRAPH_DB_NAME")
    }
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    return env


def test_commands_run_anywhere_share_one_per_user_database(tmp_path):
    env = _no_database_env(tmp_path)
    made = _leadgraph(tmp_path / "one", env, "keys", "create", "--role", "admin", "--name", "ops")
    assert made.returncode == 0, made.stderr
    listed = _leadgraph(tmp_path / "elsewhere", env, "keys", "list")
    assert listed.returncode == 0, listed.stderr
    assert "\tops\tadmin\t" in listed.stdout  # the key made from the other directory
    assert (tmp_path / "xdg" / "leadgraph" / "db").is_dir()
    assert not (tmp_path / "one" / ".leadgraph").exists()
    assert not (tmp_path / "elsewhere" / ".leadgraph").exists()


def test_an_older_checkout_database_is_kept_with_a_message(tmp_path):
    env = _no_database_env(tmp_path)
    checkout = tmp_path / "checkout"
    (checkout / ".leadgraph" / "db").mkdir(parents=True)
    made = _leadgraph(checkout, env, "keys", "create", "--role", "admin", "--name", "old")
    assert made.returncode == 0, made.stderr
    assert "older leadgraph" in made.stderr and "LEADGRAPH_DATA_DIR" in made.stderr
    # the key is in ./.leadgraph, where the server started from that checkout looks
    env["LEADGRAPH_DATA_DIR"] = str(checkout / ".leadgraph")
    listed = _leadgraph(tmp_path, env, "keys", "list")
    assert "\told\tadmin\t" in listed.stdout, listed.stderr
    assert not (tmp_path / "xdg" / "leadgraph").exists()


def test_a_command_holding_the_embedded_database_refuses_another(tmp_path):
    data = tmp_path / "data"
    held = _own_embedded(data, serving=False)  # what a running `leadgraph seed demo` holds
    assert held is not None
    try:
        result = CliRunner().invoke(
            cli, ["keys", "list"], env={"MONGODB_URI": None, "LEADGRAPH_DATA_DIR": str(data)}
        )
        assert result.exit_code == 1
        assert f"pid {os.getpid()}" in result.output and str(data) in result.output
        assert "leadgraph serve" in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert not (data / "db").exists()  # nothing opened twice
    finally:
        os.close(held)
    again = _own_embedded(data, serving=False)  # free again once released
    assert again is not None
    os.close(again)


def test_a_key_made_in_another_directory_works_on_the_running_server(tmp_path):
    """The trial's complaint: `leadgraph keys create` run elsewhere made a key in a new empty
    database, and the running server rejected it."""
    env = _no_database_env(tmp_path)
    port = free_port()
    (tmp_path / "checkout").mkdir()
    server = subprocess.Popen(
        [LEADGRAPH, "serve", "--port", str(port)],
        cwd=tmp_path / "checkout",
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert server.poll() is None, "leadgraph serve exited"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/readyz").status_code == 200:
                    break
            time.sleep(0.2)
        made = _leadgraph(tmp_path / "home", env, "keys", "create", "--role", "read-only")
        assert made.returncode == 0, made.stderr
        key = made.stdout.strip()
        answer = httpx.post(
            f"{url}/graphql",
            json={"query": "{ contacts(first: 1) { totalCount } }"},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert answer.status_code == 200 and answer.json()["data"]["contacts"]["totalCount"] == 0
        children = _children(server.pid)
        assert children, "the server runs the embedded database as its child"
    finally:
        server.terminate()  # SIGTERM, as a service manager stops it
        server.wait(timeout=60)
    # ... and stops its embedded database on the way out (uvicorn re-raises SIGTERM after its
    # shutdown; with the default action the process died there and left the child running)
    deadline = time.monotonic() + 30
    while any(_alive(c) for c in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [c for c in children if _alive(c)], "the embedded database outlived the server"


def _children(pid: int) -> set[int]:
    """The child processes of ``pid`` (Linux ``/proc``)."""
    return {
        int(child)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    }


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's wait is missing
