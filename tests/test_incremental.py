"""Incremental delivery (issue 19 point 7): ``@defer`` / ``@stream`` behind
LEADGRAPH_INCREMENTAL_DELIVERY, answered as multipart/mixed over HTTP; refused where its parts
cannot be sent; the later parts' errors coded and masked like the first part's; the request
deadline ends the parts still pending (leadgraph.web.incremental)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator
from typing import Any

import pytest
from conftest import serving
from graphql import GraphQLError
from graphql.execution import (
    ExperimentalIncrementalExecutionResults,
    InitialIncrementalExecutionResult,
    PendingResult,
    SubsequentIncrementalExecutionResult,
)
from leadgraph.web import incremental

MULTIPART = "multipart/mixed;deferSpec=20220824, application/json"
PLAIN = """{ contacts(first: 10) { edges { node { lastName
  leads { edges { node { topic } } } } } } }"""
DEFERRED = """{ contacts(first: 10) { edges { node { lastName
  ... @defer(label: "leads") { leads { edges { node { topic } } } } } } } }"""
STREAMED = """{ contacts(first: 10) { edges @stream(initialCount: 1) { node { lastName
  leads { edges { node { topic } } } } } } }"""


def parts(body: bytes) -> list[dict[str, Any]]:
    """The JSON parts of a multipart/mixed body (``---`` boundaries, then ``-----``)."""
    assert body.startswith(b"---") and body.endswith(b"---\r\n"), body[-20:]
    pieces = body.removeprefix(b"---").split(b"\r\n---")[:-1]
    return [json.loads(piece.partition(b"\r\n\r\n")[2]) for piece in pieces]


def merged(answers: list[dict[str, Any]]) -> dict[str, Any]:
    """The initial data with every later part applied at its pending path."""
    data, paths = answers[0]["data"], {}
    for answer in answers:
        paths.update({p["id"]: p["path"] for p in answer.get("pending") or []})
        for item in answer.get("incremental") or []:
            target: Any = data
            for key in paths[item["id"]] + item.get("subPath", []):
                target = target[key]
            if "items" in item:
                target.extend(item["items"])
            else:
                target.update(item["data"])
    return data


@pytest.fixture
async def on(api, mongo_client, mongo_uri):
    """A server with LEADGRAPH_INCREMENTAL_DELIVERY on, over the test's database."""
    async with serving(mongo_client, mongo_uri, api.db.name, incremental_delivery=True) as app:
        yield app.base_url


async def post(api, url: str, body: Any, accept: str = MULTIPART) -> Any:
    headers = {"Authorization": f"Bearer {await api.key('admin')}", "Accept": accept}
    return await api.http.post(f"{url}/graphql", json=body, headers=headers)


async def people(api, n: int) -> None:
    for i in range(n):
        contact = await api.gql(
            "mutation($i: CreateContactInput!) { createContact(input: $i) {"
            " ... on ContactPayload { contact { id } } } }",
            {"i": {"lastName": f"Ng{i}", "email": f"ng{i}@example.com"}},
        )
        parent = contact["createContact"]["contact"]["id"]
        await api.gql(
            "mutation($i: CreateLeadInput!) { createLead(input: $i) { __typename } }",
            {"i": {"topic": f"Contoso {i}", "parentContact": parent}},
        )


async def test_defer_and_stream_answer_the_same_data_in_parts(api, on):
    await people(api, 3)
    plain = await post(api, on, {"query": PLAIN})
    assert plain.headers["content-type"].startswith("application/json")
    expected = plain.json()["data"]

    deferred = await post(api, on, {"query": DEFERRED})
    assert deferred.status_code == 200, deferred.text
    assert deferred.headers["content-type"].startswith("multipart/mixed")
    answers = parts(deferred.content)
    first = answers[0]
    assert first["hasNext"] is True and first["pending"][0]["label"] == "leads"
    assert [e["node"] for e in first["data"]["contacts"]["edges"]] == [
        {"lastName": f"Ng{i}"} for i in range(3)
    ]
    assert answers[-1]["hasNext"] is False
    assert merged(answers) == expected

    streamed = parts((await post(api, on, {"query": STREAMED})).content)
    assert len(streamed[0]["data"]["contacts"]["edges"]) == 1
    assert merged(streamed) == expected


async def test_where_parts_cannot_be_sent_the_operation_does_not_run(api, on):
    create = (
        'mutation { createAccount(input: {name: "Fabrikam"}) { __typename'
        " ... @defer { ... on AccountPayload { account { name } } } } }"
    )
    refused = await post(api, on, {"query": create}, accept="application/json")
    assert refused.status_code == 200
    body = refused.json()
    assert "data" not in body or body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "NOT_ACCEPTABLE"

    batch = await post(api, on, [{"query": PLAIN}, {"query": create}])
    assert batch.status_code == 200, batch.text
    answered, alone = batch.json()
    assert answered["data"] == {"contacts": {"edges": []}}
    assert alone["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert "batch" in alone["errors"][0]["message"]
    assert await api.db.accounts.count_documents({}) == 0  # neither ran the mutation


async def test_the_later_parts_errors_are_coded_and_masked(api, on):
    await people(api, 1)
    # a stored contact the API cannot build (no createdAt): an unexpected error, masked
    lead = await api.db.leads.find_one({})
    await api.db.contacts.update_one({"_id": lead["parentContactId"]}, {"$unset": {"createdAt": 1}})
    query = """{ leads(first: 5) { edges { node { topic
      ... @defer { parentContact { lastName } } } } }
      ... @defer { node(id: "not-a-global-id") { id } } }"""
    answers = parts((await post(api, on, {"query": query})).content)
    errors = [
        error
        for answer in answers[1:]
        for piece in (answer.get("incremental") or []) + (answer.get("completed") or [])
        for error in piece.get("errors") or []
    ]
    codes = {e["extensions"]["code"]: e["message"] for e in errors}
    assert codes["INTERNAL_SERVER_ERROR"] == "Internal server error"  # no KeyError text
    assert "BAD_USER_INPUT" in codes
    assert "createdAt" not in json.dumps(answers)


async def test_without_the_setting_the_directives_are_unknown(api):
    response = await api.post(DEFERRED)
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "defer" in error["message"]


async def test_the_deadline_ends_the_parts_still_pending() -> None:
    never = asyncio.Event()

    async def source() -> AsyncGenerator[SubsequentIncrementalExecutionResult, None]:
        await never.wait()  # a deferred fragment that does not finish
        yield SubsequentIncrementalExecutionResult()

    initial = InitialIncrementalExecutionResult(
        data={}, pending=[PendingResult("0", ["contacts"]), PendingResult("1", [])], has_next=True
    )
    results = ExperimentalIncrementalExecutionResults(initial, source())
    past = (time.monotonic() - 1.0, 5.0)  # the request's deadline has passed
    guarded = incremental.guarded(results, list, lambda errors: None, lambda e: None, past)
    last = [part async for part in guarded.subsequent_results]
    assert len(last) == 1 and last[0].has_next is False
    assert [c.id for c in last[0].completed or []] == ["0", "1"]
    error = (last[0].completed or [])[0].errors[0]  # type: ignore[index]
    assert isinstance(error, GraphQLError)
    assert (error.extensions or {}).get("code") == "REQUEST_TIMEOUT"
    assert incremental.accepts_multipart(MULTIPART)
    assert not incremental.accepts_multipart("application/json")
    assert not incremental.accepts_multipart("multipart/mixed;q=0, application/json")
