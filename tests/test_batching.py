"""Batched requests (a JSON array body, as Apollo's BatchHttpLink and urql send): answered in
order with an array, bounded in count and size, each element checked on its own, their costs
summed against one budget and the key's rate limit."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import serving
from test_mutations import CREATE_CONTACT

COUNT = {"query": "{ contacts(first: 1) { totalCount } }"}  # cost 2


async def post_batch(api: Any, body: Any, base_url: str | None = None, **headers: str) -> Any:
    hdrs = {"Authorization": f"Bearer {await api.key('admin')}", **headers}
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await api.http.post(
        f"{base_url or api.base_url}/graphql",
        content=content,
        headers={"Content-Type": "application/json", **hdrs},
    )


async def test_a_batch_runs_in_order_and_answers_an_array(api):
    create = {"query": CREATE_CONTACT, "variables": {"i": {"lastName": "Batch"}}}
    response = await post_batch(api, [COUNT, create, COUNT, {**create, "operationName": None}])
    assert response.status_code == 200, response.text
    answers = response.json()
    assert isinstance(answers, list) and len(answers) == 4
    assert answers[0]["data"] == {"contacts": {"totalCount": 0}}
    assert answers[1]["data"]["createContact"]["__typename"] == "ContactPayload"
    assert answers[2]["data"] == {"contacts": {"totalCount": 1}}  # after the mutation
    assert answers[3]["data"]["createContact"]["contact"]["lastName"] == "Batch"
    assert [a["extensions"]["cost"]["requested"] for a in answers] == [2, 34, 2, 34], answers
    assert await api.db.contacts.count_documents({}) == 2


async def test_more_operations_than_the_limit_is_a_typed_400_and_runs_none(api):
    create = {"query": CREATE_CONTACT, "variables": {"i": {"lastName": "Over"}}}
    response = await post_batch(api, [create] * 11)
    assert response.status_code == 400, response.text
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "BATCH_TOO_LARGE"
    assert "11" in error["message"] and "10" in error["message"]
    assert await api.db.contacts.count_documents({}) == 0
    full = await post_batch(api, [COUNT] * 10)
    assert full.status_code == 200 and len(full.json()) == 10


async def test_an_empty_batch_is_400(api):
    for body in (b"[]", b"  [ ]"):
        response = await post_batch(api, body)
        assert response.status_code == 400, response.text
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_each_element_is_checked_on_its_own(api):
    body = [
        [COUNT],  # a nested array
        1,
        "{ contacts { totalCount } }",
        None,
        {"query": 5},
        {"query": COUNT["query"], "variables": [1]},
        {"query": COUNT["query"], "extensions": "x"},
        {"query": COUNT["query"], "operationName": ["a"]},
        {"variables": {}},  # no query
        COUNT,
    ]
    response = await post_batch(api, body)
    assert response.status_code == 200, response.text
    answers = response.json()
    assert len(answers) == len(body)
    for index, answer in enumerate(answers[:-1]):
        assert "data" not in answer or answer["data"] is None, (index, answer)
        error = answer["errors"][0]
        assert error["extensions"]["code"] == "BAD_REQUEST", (index, answer)
        assert "Traceback" not in error["message"]
    assert "batch operation 0" in answers[0]["errors"][0]["message"]
    assert answers[-1]["data"] == {"contacts": {"totalCount": 0}}


async def test_one_refused_element_does_not_stop_the_others(api):
    miss = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}}
    subscription = {"query": "subscription { leadChanged { id } }"}
    response = await post_batch(api, [miss, subscription, {"query": "{ nope }"}, COUNT])
    assert response.status_code == 200, response.text
    codes = [a["errors"][0]["extensions"]["code"] for a in response.json()[:3]]
    assert codes == ["PERSISTED_QUERY_NOT_FOUND", "BAD_REQUEST", "GRAPHQL_VALIDATION_FAILED"]
    assert response.json()[3]["data"] == {"contacts": {"totalCount": 0}}


async def test_a_batch_needs_a_key(api):
    response = await api.http.post(f"{api.base_url}/graphql", json=[COUNT])
    assert response.status_code == 401


@pytest.fixture
async def small(api, mongo_client, mongo_uri):
    """A server with a cost budget of 5 (two of COUNT), 4 KiB bodies and batches of 3."""
    async with serving(
        mongo_client, mongo_uri, api.db.name, max_query_cost=5, max_body_bytes=4096, max_batch=3
    ) as app:
        yield app.base_url


async def test_costs_add_up_against_one_budget(api, small):
    response = await post_batch(api, [COUNT, COUNT, COUNT], small)
    assert response.status_code == 200, response.text
    first, second, third = response.json()
    assert first["data"] and second["data"]
    error = third["errors"][0]
    assert error["extensions"]["code"] == "COST_LIMIT_EXCEEDED"
    assert error["extensions"]["batchSpent"] == 4 and error["extensions"]["budget"] == 5
    # each request has its own budget: the next batch starts again
    again = await post_batch(api, [COUNT], small)
    assert again.json()[0]["data"] == {"contacts": {"totalCount": 0}}
    four = await post_batch(api, [COUNT] * 4, small)
    assert four.status_code == 400
    assert four.json()["errors"][0]["extensions"]["code"] == "BATCH_TOO_LARGE"


async def test_a_batch_over_the_body_size_is_413(api, small):
    padded = {"query": COUNT["query"] + " " * 1500}
    response = await post_batch(api, [padded, padded, padded], small)
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_a_batch_is_charged_to_the_rate_limit_as_its_sum(api, mongo_client, mongo_uri):
    async with serving(
        mongo_client, mongo_uri, api.db.name, rate_limit_burst=5, rate_limit_per_second=0.001
    ) as app:
        first = await post_batch(api, [COUNT, COUNT], app.base_url)  # 4 of 5
        assert first.status_code == 200 and all(a.get("data") for a in first.json())
        second = await post_batch(api, [COUNT, COUNT], app.base_url)
        assert second.status_code == 429, second.text
        assert int(second.headers["retry-after"]) >= 1
        codes = [a["errors"][0]["extensions"]["code"] for a in second.json()]
        assert codes == ["RATE_LIMITED", "RATE_LIMITED"]
