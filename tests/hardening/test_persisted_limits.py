"""Persisted-query storage is bounded (issue 16 point 5): a registered text's size counts every
byte (comments too), each API key registers at most its quota (concurrent registrations
included), a key over its quota leaves the others free, and a caller without a key registers
nothing."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import httpx
from conftest import Api
from leadgraph.store import keys

from .ws import tuned


def apq(query: str) -> dict[str, Any]:
    digest = hashlib.sha256(query.encode()).hexdigest()
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


async def register(api: Api, key: str, query: str) -> httpx.Response:
    return await api.http.post(
        f"{api.base_url}/graphql",
        json={"query": query, "extensions": apq(query)},
        headers={"Authorization": f"Bearer {key}"},
    )


def code(response: httpx.Response) -> str | None:
    errors = response.json().get("errors") or [{}]
    return (errors[0].get("extensions") or {}).get("code")


async def test_a_comment_padded_query_of_7_mb_is_refused_before_it_runs(api: Api) -> None:
    key = await api.key("read-only")
    padded = "{ __typename }\n" + ("# padding padding padding padding\n" * 210_000)
    assert len(padded) > 7_000_000  # under the 8 MB body limit, few tokens: only size stops it
    refused = await register(api, key, padded)
    assert refused.status_code == 400, refused.text
    assert code(refused) == "PERSISTED_QUERY_TOO_LARGE"
    assert "comments" in refused.json()["errors"][0]["message"]
    assert await api.db.persisted_queries.count_documents({}) == 0
    assert await api.db.persisted_query_quotas.count_documents({}) == 0  # nothing counted


async def test_the_size_limit_counts_bytes_comments_included(api: Api, server: Any) -> None:
    key = await api.key("read-only")
    base = "{ __typename }\n#"
    with tuned(server, max_persisted_query_bytes=200):
        fits = base + "é" * ((200 - len(base.encode())) // 2)  # two bytes each
        assert len(fits.encode()) <= 200
        assert (await register(api, key, fits)).status_code == 200
        over = fits + "x" * (201 - len(fits.encode()))
        assert len(over) < 200 < len(over.encode())  # fewer characters than bytes
        assert code(await register(api, key, over)) == "PERSISTED_QUERY_TOO_LARGE"
    assert await api.db.persisted_queries.count_documents({}) == 1


async def test_a_read_only_key_registers_its_quota_then_is_refused_and_another_key_is_not(
    api: Api, server: Any
) -> None:
    first = await api.key("read-only")
    second, _ = await keys.create(api.db, "read-only", "second front end")
    queries = [f"query Q{i} {{ __typename }}" for i in range(6)]
    with tuned(server, max_persisted_queries_per_key=5):
        for query in queries[:5]:
            answer = await register(api, first, query)
            assert answer.status_code == 200 and "errors" not in answer.json(), answer.text
        again = await register(api, first, queries[0])  # already registered: costs nothing
        assert again.status_code == 200 and "errors" not in again.json()
        over = await register(api, first, queries[5])
        assert over.status_code == 400
        assert code(over) == "PERSISTED_QUERY_QUOTA_EXCEEDED"
        # a hit of a registered hash still runs for the full key
        hit = await api.http.post(
            f"{api.base_url}/graphql",
            json={"extensions": apq(queries[1])},
            headers={"Authorization": f"Bearer {first}"},
        )
        assert hit.json()["data"] == {"__typename": "Query"}
        other = await register(api, second, queries[5])
        assert other.status_code == 200 and "errors" not in other.json(), other.text
    owners = {doc["_id"]: doc["registeredBy"] async for doc in api.db.persisted_queries.find({})}
    assert len(owners) == 6
    assert list(owners.values()).count(owners[hashlib.sha256(queries[0].encode()).hexdigest()]) == 5


async def test_concurrent_registrations_never_pass_the_quota(api: Api, server: Any) -> None:
    key = await api.key("read-only")
    queries = [f"query Race{i} {{ __typename }}" for i in range(12)]
    with tuned(server, max_persisted_queries_per_key=3):
        answers = await asyncio.gather(*(register(api, key, q) for q in queries))
    assert all(a.status_code in (200, 400) for a in answers)
    assert {code(a) for a in answers if a.status_code == 400} <= {"PERSISTED_QUERY_QUOTA_EXCEEDED"}
    assert await api.db.persisted_queries.count_documents({}) == 3
    quota = await api.db.persisted_query_quotas.find_one({})
    assert quota is not None and quota["count"] == 3


async def test_a_caller_without_a_key_runs_its_query_but_registers_nothing(api: Api) -> None:
    query = "query Centre { __typename }"
    answer = await api.http.post(
        f"{api.base_url}/graphql", json={"query": query, "extensions": apq(query)}
    )
    assert answer.status_code == 200 and answer.json()["data"] == {"__typename": "Query"}
    assert await api.db.persisted_queries.count_documents({}) == 0
