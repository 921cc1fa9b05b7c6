"""Persisted documents by id (GraphQL over HTTP): ``{"documentId": "sha256:<hex>"}`` by POST,
GET and inside a batch, for documents ``leadgraph persisted add`` registered from Relay's
persisted map; unknown, malformed and doubled ids are typed errors."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from conftest import Api
from leadgraph.cli.main import cli
from test_persisted_queries import get, persisted_only, post, seed_contacts

NAMES = "query Names($n: Int!) { contacts(first: $n) { edges { node { lastName } } } }"
COUNT = "query Count { contacts(first: 1) { totalCount } }"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def add(api: Api, mongo_uri: str, path: Path) -> Any:
    env = {"MONGODB_URI": mongo_uri, "LEADGRAPH_DB_NAME": api.db.name}
    return await asyncio.to_thread(
        CliRunner().invoke, cli, ["persisted", "add", str(path)], env=env
    )


async def test_documents_from_relays_map_run_by_id(
    api: Api, server: Any, mongo_uri: str, tmp_path: Path
) -> None:
    await seed_contacts(api, 2)
    relay = tmp_path / "persisted_queries.json"  # relay-compiler persistConfig, SHA256
    relay.write_text(json.dumps({sha(NAMES): NAMES, f"sha256:{sha(COUNT)}": COUNT}))
    added = await add(api, mongo_uri, relay)
    assert added.exit_code == 0, added.output

    by_post = await post(api, {"documentId": f"sha256:{sha(NAMES)}", "variables": {"n": 1}})
    assert by_post.status_code == 200, by_post.text
    assert by_post.json()["data"]["contacts"]["edges"][0]["node"]["lastName"] == "Person 0"
    bare = await post(api, {"documentId": sha(COUNT).upper()})  # Relay's bare ids
    assert bare.json()["data"] == {"contacts": {"totalCount": 2}}

    by_get = await get(api, {"documentId": f"sha256:{sha(COUNT)}"})
    assert by_get.status_code == 200, by_get.text
    assert by_get.json()["data"] == {"contacts": {"totalCount": 2}}
    assert by_get.headers["etag"] and "private" in by_get.headers["cache-control"]

    batch = await api.http.post(
        f"{api.base_url}/graphql",
        json=[{"documentId": f"sha256:{sha(COUNT)}"}, {"documentId": f"sha256:{'0' * 64}"}],
        headers={"Authorization": f"Bearer {await api.key('admin')}"},
    )
    first, second = batch.json()
    assert first["data"] == {"contacts": {"totalCount": 2}}
    assert second["errors"][0]["extensions"]["code"] == "PERSISTED_DOCUMENT_NOT_FOUND"

    with persisted_only(server):  # the allow-list runs documents by id too
        allowed = await post(api, {"documentId": f"sha256:{sha(COUNT)}"})
        assert allowed.json()["data"] == {"contacts": {"totalCount": 2}}


async def test_unknown_malformed_and_doubled_ids_are_typed_errors(api: Api) -> None:
    unknown = await post(api, {"documentId": f"sha256:{'ab' * 32}"})
    assert unknown.status_code == 400
    error = unknown.json()["errors"][0]
    assert error["extensions"]["code"] == "PERSISTED_DOCUMENT_NOT_FOUND"
    assert "ab" * 32 in error["message"]
    for bad in ("md5:0123", "sha256:xyz", "", 5, None, ["sha256:" + "0" * 64], {"id": 1}):
        response = await post(api, {"documentId": bad})
        assert response.status_code == 400, (bad, response.text)
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST", bad
    both = await post(api, {"documentId": f"sha256:{sha(COUNT)}", "query": COUNT})
    assert both.status_code == 400
    assert "one of them" in both.json()["errors"][0]["message"]
    assert await api.db.persisted_queries.count_documents({}) == 0  # an id never registers
    # a variable named documentId is a variable, not an id
    plain = await post(
        api,
        {
            "query": "query($documentId: Int) { contacts(first: $documentId) { totalCount } }",
            "variables": {"documentId": 1},
        },
    )
    assert plain.json()["data"] == {"contacts": {"totalCount": 0}}


async def test_relay_ids_that_are_not_sha256_are_named(
    api: Api, mongo_uri: str, tmp_path: Path
) -> None:
    relay = tmp_path / "md5.json"
    relay.write_text(json.dumps({hashlib.md5(COUNT.encode()).hexdigest(): COUNT}))
    refused = await add(api, mongo_uri, relay)
    assert refused.exit_code != 0
    assert "MD5 or SHA-1" in refused.output and "SHA256" in refused.output
    assert await api.db.persisted_queries.count_documents({}) == 0
