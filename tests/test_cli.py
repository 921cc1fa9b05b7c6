"""The command line: keys create/list/revoke and seed demo against the test database server."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from typing import Any

import pytest
from click.testing import CliRunner
from leadgraph.cli.main import cli
from leadgraph.store.keys import hash_key
from pymongo import MongoClient


@pytest.fixture
def env(mongo_uri, tmp_path):
    name = f"cli_{uuid.uuid4().hex[:12]}"
    env = {
        "MONGODB_URI": mongo_uri,
        "LEADGRAPH_DB_NAME": name,
        "LEADGRAPH_DATA_DIR": str(tmp_path / "data"),
    }
    with MongoClient[dict[str, Any]](mongo_uri, tz_aware=True) as client:
        yield env, client[name]
        client.drop_database(name)


def run(env, *args):
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    return result


def test_keys_create_list_revoke(env):
    env, db = env
    created = run(env, "keys", "create", "--role", "marketer", "--name", "ci bot")
    assert created.exit_code == 0, created.output
    key = created.stdout.strip()
    assert created.stdout == key + "\n"  # only the key on stdout
    assert key.startswith("lg_") and len(key) > 40
    (doc,) = db.api_keys.find({})
    assert doc["hash"] == hash_key(key) and key not in str(doc)  # stored hashed
    assert doc["role"] == "marketer" and doc["name"] == "ci bot" and doc["revokedAt"] is None

    listed = run(env, "keys", "list")
    assert listed.exit_code == 0
    (line,) = listed.stdout.strip().splitlines()
    assert str(doc["_id"]) in line and "ci bot" in line and "marketer" in line
    assert "revoked:-" in line and key not in line

    revoked = run(env, "keys", "revoke", "ci bot")
    assert revoked.exit_code == 0 and "revoked" in revoked.stdout
    assert db.api_keys.find_one({})["revokedAt"] is not None
    assert "revoked:-" not in run(env, "keys", "list").stdout
    again = run(env, "keys", "revoke", str(doc["_id"]))
    assert again.exit_code != 0  # nothing live left to revoke

    second = run(env, "keys", "create", "--role", "sales").stdout.strip()
    assert run(env, "keys", "revoke", second).exit_code == 0
    assert db.api_keys.count_documents({"revokedAt": None}) == 0


def test_keys_create_refuses_unknown_roles(env):
    env, db = env
    result = CliRunner().invoke(cli, ["keys", "create", "--role", "root"], env=env)
    assert result.exit_code == 2
    assert db.api_keys.count_documents({}) == 0


def test_seed_demo(env):
    env, db = env
    result = run(env, "seed", "demo", "--contacts", "20")
    assert result.exit_code == 0, result.output
    assert db.contacts.count_documents({}) == 20
    assert db.accounts.count_documents({}) == 4
    assert db.leads.count_documents({}) == 50
    assert db.interactions.count_documents({}) > 0
    contact = db.contacts.find_one({})
    assert contact["emailNormalized"] and contact["insights"]["total"] == (
        db.interactions.count_documents({"contactId": contact["_id"]})
    )


def test_keys_create_as_a_process_prints_only_the_key(env):
    env, db = env
    exe = os.path.join(os.path.dirname(sys.executable), "leadgraph")
    out = subprocess.run(
        [exe, "keys", "create", "--role", "read-only"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    key = out.stdout.strip()
    assert out.stdout == key + "\n" and key.startswith("lg_")
    assert db.api_keys.find_one({"hash": hash_key(key)})["role"] == "read-only"
