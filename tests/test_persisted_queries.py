"""Persisted queries over HTTP: the APQ round trip (miss, register, hit by POST and by GET),
refusals (hash mismatch, mutation over GET), HTTP caching of GET answers, the allow-list mode
with `leadgraph persisted add`, and gzip on large answers."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from conftest import Api
from leadgraph.cli.main import cli
from leadgraph.web.persisted import PersistedQueries

QUERY = "query Names($n: Int!) { contacts(first: $n) { edges { node { lastName email } } } }"
MUTATION = 'mutation { createContact(input: {lastName: "Nope"}) { __typename } }'


def sha(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


def apq(query: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha(query)}}


async def post(api: Api, body: dict[str, Any], **headers: str) -> httpx.Response:
    return await api.http.post(
        f"{api.base_url}/graphql",
        json=body,
        headers={"Authorization": f"Bearer {await api.key('admin')}", **headers},
    )


async def get(api: Api, params: dict[str, Any], **headers: str) -> httpx.Response:
    encoded = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in params.items()}
    return await api.http.get(
        f"{api.base_url}/graphql",
        params=encoded,
        headers={"Authorization": f"Bearer {await api.key('admin')}", **headers},
    )


def error(response: httpx.Response) -> dict[str, Any]:
    (err,) = response.json()["errors"]
    return err


async def seed_contacts(api: Api, n: int) -> None:
    for i in range(n):
        await api.gql(
            "mutation($l: String!, $e: String!) "
            "{ createContact(input: {lastName: $l, email: $e}) { __typename } }",
            {"l": f"Person {i}", "e": f"p{i}@example.com"},
        )


async def test_apq_miss_register_then_hit_by_post_and_get(api: Api) -> None:
    await seed_contacts(api, 2)
    variables = {"n": 10}

    miss = await post(api, {"variables": variables, "extensions": apq(QUERY)})
    assert miss.status_code == 200
    assert error(miss)["message"] == "PersistedQueryNotFound"
    assert error(miss)["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert "no-cache" in miss.headers["cache-control"]  # a miss is never cached
    assert await api.db.persisted_queries.count_documents({}) == 0

    registered = await post(api, {"query": QUERY, "variables": variables, "extensions": apq(QUERY)})
    assert registered.status_code == 200, registered.text
    names = {e["node"]["lastName"] for e in registered.json()["data"]["contacts"]["edges"]}
    assert names == {"Person 0", "Person 1"}
    stored = await api.db.persisted_queries.find_one({"_id": sha(QUERY)})
    assert stored is not None and stored["query"] == QUERY and stored["source"] == "client"

    hit = await post(api, {"variables": variables, "extensions": apq(QUERY)})
    assert hit.status_code == 200
    assert hit.json()["data"] == registered.json()["data"]

    by_get = await get(
        api, {"extensions": apq(QUERY), "variables": variables, "operationName": "Names"}
    )
    assert by_get.status_code == 200, by_get.text
    assert by_get.json()["data"] == registered.json()["data"]
    assert by_get.headers["cache-control"] == "private, no-cache"
    assert "Authorization" in by_get.headers["vary"]
    etag = by_get.headers["etag"]

    unchanged = await get(
        api, {"extensions": apq(QUERY), "variables": variables}, **{"If-None-Match": etag}
    )
    assert unchanged.status_code == 304 and unchanged.content == b""
    await seed_contacts(api, 3)  # the answer changes: the old ETag no longer matches
    changed = await get(
        api, {"extensions": apq(QUERY), "variables": variables}, **{"If-None-Match": etag}
    )
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert len(changed.json()["data"]["contacts"]["edges"]) == 5


async def test_a_hit_is_served_from_the_store_by_any_process(api: Api, server: Any) -> None:
    """The registration is in MongoDB: a process that never saw it (a fresh cache) runs it."""
    await post(api, {"query": QUERY, "variables": {"n": 1}, "extensions": apq(QUERY)})
    state = server.state.leadgraph
    previous = state.persisted
    state.persisted = PersistedQueries()  # another process: nothing cached
    try:
        hit = await post(api, {"variables": {"n": 1}, "extensions": apq(QUERY)})
        assert hit.status_code == 200 and "errors" not in hit.json(), hit.text
    finally:
        state.persisted = previous


async def test_hash_mismatch_bad_version_and_invalid_queries_are_refused(api: Api) -> None:
    other = "{ contacts(first: 1) { totalCount } }"
    mismatch = await post(api, {"query": other, "extensions": apq(QUERY)})
    assert mismatch.status_code == 400
    assert error(mismatch)["message"] == "provided sha does not match query"
    assert error(mismatch)["extensions"]["code"] == "BAD_REQUEST"

    version = await post(
        api, {"query": QUERY, "extensions": {"persistedQuery": {"version": 2, "sha256Hash": "0"}}}
    )
    assert version.status_code == 400 and error(version)["extensions"]["code"] == "BAD_REQUEST"
    garbage = await post(
        api, {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "nothex"}}}
    )
    assert garbage.status_code == 400 and error(garbage)["extensions"]["code"] == "BAD_REQUEST"

    broken = "{ contacts(first: 1) { noSuchField } }"
    invalid = await post(api, {"query": broken, "extensions": apq(broken)})
    assert error(invalid)["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert await api.db.persisted_queries.count_documents({}) == 0  # never registered


async def test_a_persisted_mutation_is_refused_over_get(api: Api) -> None:
    registered = await post(api, {"query": MUTATION, "extensions": apq(MUTATION)})
    assert registered.status_code == 200, registered.text
    before = await api.db.contacts.count_documents({})
    refused = await get(api, {"extensions": apq(MUTATION)})
    assert refused.status_code == 405
    assert error(refused)["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    assert await api.db.contacts.count_documents({}) == before  # nothing written


@contextlib.contextmanager
def persisted_only(server: Any) -> Iterator[None]:
    """The server as started with LEADGRAPH_PERSISTED_ONLY=1."""
    state = server.state.leadgraph
    previous = state.persisted
    state.persisted = PersistedQueries(persisted_only=True)
    try:
        yield
    finally:
        state.persisted = previous


async def test_allow_list_mode_runs_only_queries_added_by_the_cli(
    api: Api, server: Any, mongo_uri: str, tmp_path: Path
) -> None:
    await seed_contacts(api, 1)
    front_end = tmp_path / "names.graphql"
    front_end.write_text(QUERY)
    env = {"MONGODB_URI": mongo_uri, "LEADGRAPH_DB_NAME": api.db.name}
    added = await asyncio.to_thread(
        CliRunner().invoke, cli, ["persisted", "add", str(front_end)], env=env
    )
    assert added.exit_code == 0, added.output
    assert added.stdout.split("\t")[:2] == [sha(QUERY), "added"]
    listed = await asyncio.to_thread(CliRunner().invoke, cli, ["persisted", "list"], env=env)
    assert sha(QUERY) in listed.stdout and "cli" in listed.stdout and "Names" in listed.stdout

    with persisted_only(server):
        arbitrary = await post(api, {"query": "{ contacts(first: 1) { totalCount } }"})
        assert arbitrary.status_code == 400
        assert error(arbitrary)["extensions"]["code"] == "PERSISTED_QUERY_REQUIRED"

        other = "{ contacts(first: 2) { totalCount } }"
        register = await post(api, {"query": other, "extensions": apq(other)})
        assert error(register)["extensions"]["code"] == "PERSISTED_QUERY_NOT_ALLOWED"
        assert await api.db.persisted_queries.count_documents({"_id": sha(other)}) == 0

        allowed = await post(api, {"variables": {"n": 5}, "extensions": apq(QUERY)})
        assert allowed.status_code == 200, allowed.text
        assert allowed.json()["data"]["contacts"]["edges"][0]["node"]["lastName"] == "Person 0"
        by_get = await get(api, {"variables": {"n": 5}, "extensions": apq(QUERY)})
        assert by_get.status_code == 200 and by_get.json()["data"] == allowed.json()["data"]


async def test_cli_refuses_a_manifest_with_a_wrong_hash_or_an_invalid_query(
    api: Api, mongo_uri: str, tmp_path: Path
) -> None:
    env = {"MONGODB_URI": mongo_uri, "LEADGRAPH_DB_NAME": api.db.name}
    good = "{ contacts(first: 1) { totalCount } }"
    manifest = tmp_path / "manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "format": "apollo-persisted-query-manifest",
                "version": 1,
                "operations": [
                    {"id": sha(good), "body": good, "name": None, "type": "query"},
                    {"id": sha("other"), "body": QUERY, "name": "Names", "type": "query"},
                ],
            }
        )
    )
    wrong = await asyncio.to_thread(
        CliRunner().invoke, cli, ["persisted", "add", str(manifest)], env=env
    )
    assert wrong.exit_code != 0 and "is not the SHA-256 of its query" in wrong.output
    invalid = tmp_path / "bad.graphql"
    invalid.write_text("{ contacts { noSuchField } }")
    refused = await asyncio.to_thread(
        CliRunner().invoke, cli, ["persisted", "add", str(invalid)], env=env
    )
    assert refused.exit_code != 0 and "noSuchField" in refused.output
    assert await api.db.persisted_queries.count_documents({}) == 0  # nothing half registered

    relay_map = tmp_path / "queries.json"
    relay_map.write_text(json.dumps({sha(good): good, sha(QUERY): QUERY}))
    ok = await asyncio.to_thread(
        CliRunner().invoke, cli, ["persisted", "add", str(relay_map)], env=env
    )
    assert ok.exit_code == 0, ok.output
    assert await api.db.persisted_queries.count_documents({}) == 2


async def test_large_answers_are_gzipped_small_ones_are_not(api: Api) -> None:
    await seed_contacts(api, 30)
    query = "{ contacts(first: 30) { edges { node { id lastName email createdAt } } } }"
    headers = {"Authorization": f"Bearer {await api.key('admin')}", "Accept-Encoding": "gzip"}
    async with httpx.AsyncClient(timeout=60) as raw:  # read the body as sent
        request = raw.build_request(
            "POST", f"{api.base_url}/graphql", json={"query": query}, headers=headers
        )
        large = await raw.send(request, stream=True)
        body = b"".join([chunk async for chunk in large.aiter_raw()])
        await large.aclose()
    assert large.headers["content-encoding"] == "gzip"
    data = json.loads(gzip.decompress(body))
    assert len(data["data"]["contacts"]["edges"]) == 30

    small = await api.http.post(
        f"{api.base_url}/graphql",
        json={"query": "{ contacts(first: 1) { totalCount } }"},
        headers=headers,
    )
    assert "content-encoding" not in small.headers
    assert small.json()["data"]["contacts"]["totalCount"] == 30


def test_persisted_only_is_read_from_the_environment() -> None:
    from leadgraph.config import Settings
    from leadgraph.web.app import create_app

    on = create_app(Settings.from_env({"LEADGRAPH_PERSISTED_ONLY": "1", "LEADGRAPH_SECRET": "s"}))
    assert on.state.leadgraph.persisted.persisted_only is True
    off = create_app(Settings.from_env({"LEADGRAPH_SECRET": "s"}))
    assert off.state.leadgraph.persisted.persisted_only is False
    with pytest.raises(ValueError, match="LEADGRAPH_PERSISTED_ONLY"):  # stops the start-up
        Settings.from_env({"LEADGRAPH_PERSISTED_ONLY": "maybe"})
