"""Issue 16 point 1: a 1 KB query must not stop a server.

Each fragment spreading the next twice, 30 levels deep, stands for 2^30 fields.  The limits
(depth, aliases, selections after expansion) and the cost are computed from each fragment's
definition once, multiplied by its spreads, before graphql-core's validation runs; the
answer is a typed error, and the server keeps answering meanwhile.  Every request has a
deadline (``request_deadline``) for its validation and, for a query, its execution.
"""

from __future__ import annotations

import asyncio
from typing import Any

from graphql import parse
from leadgraph.web.validation import document_shape

from .test_cost import error_of, serve
from .ws import tuned


def fan_out(levels: int, leaf: str = "__typename") -> str:
    """``query { ...F0 }``, each fragment spreading the next twice, the last selecting leaf."""
    parts = ["query { ...F0 }"]
    parts += [f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)]
    parts.append(f"fragment F{levels} on Query {{ {leaf} }}")
    return " ".join(parts)


async def answered_with_server_alive(api: Any, query: str) -> dict[str, Any]:
    """The (single) error of ``query`` from a read-only key, with /healthz asked at the same
    time and after: both must answer."""
    response, health = await asyncio.gather(
        api.post(query, role="read-only"), api.http.get(f"{api.base_url}/healthz")
    )
    assert health.status_code == 200
    assert (await api.http.get(f"{api.base_url}/healthz")).status_code == 200
    return error_of(response)


async def test_fragment_fan_out_is_refused_without_being_expanded(api):
    for levels in (30, 60):
        query = fan_out(levels)
        assert len(query) < 2600  # about 1.2 KB for 30 levels
        error = await answered_with_server_alive(api, query)
        assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED", error
        assert "selections once its fragments are expanded" in error["message"]
        assert "at most 5,000 allowed" in error["message"]
        # the measure walks the document, not its expansion: each node at most twice
        shape = document_shape(parse(query))
        assert shape.total.selections == 3 * 2**levels - 1  # what it stands for
        assert shape.visited <= 2 * (2 * levels + 2)


async def test_fan_out_under_the_selection_limit_is_priced_without_expanding(mongo_uri, db):
    # with no selection bound to stop it, the cost check refuses it, just as fast
    async with serve(mongo_uri, db, max_selections=10**30) as api:
        await api.key("cost tests")  # the key lookup is not what we count
        api.commands.clear()
        for levels in (30, 60):
            query = fan_out(levels, "contacts(first: 100) { totalCount }")
            error = error_of(await api.post(query))
            assert error["extensions"]["code"] == "COST_LIMIT_EXCEEDED"
            assert error["extensions"]["cost"] == 2**levels * 101
            assert api.commands.reads() == []  # refused before anything ran
            health = await api.http.get(f"{api.base_url}/healthz")
            assert health.status_code == 200


async def test_a_wide_legal_fragment_query_runs_and_costs_its_inlined_equivalent(api):
    leaf = "contacts(first: 2) { totalCount }"
    fragments = await api.post(fan_out(7, leaf))  # 128 copies of the leaf once expanded
    inlined = await api.post("{ " + " ".join([leaf] * 128) + " }")
    for response in (fragments, inlined):
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body
        assert body["data"] == {"contacts": {"totalCount": 0}}
    cost = inlined.json()["extensions"]["cost"]
    assert cost == {"requested": 128 * 3, "budget": 50_000}
    assert fragments.json()["extensions"]["cost"] == cost


async def test_aliases_and_depth_count_after_expansion(api):
    # 32 aliases once expanded (one written): over the 30 allowed
    error = error_of(await api.post(fan_out(5, "a: __typename")))
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert error["message"] == "32 aliases found. Allowed: 30"
    assert "errors" not in (await api.post(fan_out(4, "a: __typename"))).json()  # 16
    # field depth counts through fragments: 11 levels pass, 13 do not (12 allowed)
    assert "errors" not in (await api.post(deep("id"))).json()
    assert document_shape(parse(deep("id"))).operations["Deep"].depth == 11
    error = error_of(await api.post(deep("account { contacts { totalCount } }")))
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert error["message"] == "'Deep' exceeds maximum operation depth of 12"


def deep(leaf: str) -> str:
    """contacts > edges > node, then twice account > contacts > edges > node (through two
    fragments), then ``leaf``: 11 levels of fields before the leaf."""
    hop = "account {{ contacts {{ edges {{ node {{ {} }} }} }} }}"
    return (
        "query Deep { contacts { edges { node { ...N } } } } "
        f"fragment N on Contact {{ {hop.format('...M')} }} "
        f"fragment M on Contact {{ {hop.format(leaf)} }}"
    )


async def test_cycles_and_long_chains_are_typed_errors(api):
    cycle = "query { ...A } fragment A on Query { ...B } fragment B on Query { ...A __typename }"
    error = error_of(await api.post(cycle))
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert error["message"] == "Cannot spread fragment 'A' within itself via 'B'."
    # 450 fragments in a chain (within the tokens): too deep to validate, said so
    chain = "query { ...F0 } " + " ".join(
        f"fragment F{i} on Query {{ ...F{i + 1} }}" for i in range(450)
    )
    chain += " fragment F450 on Query { __typename }"
    error = error_of(await api.post(chain))
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert error["message"].startswith("the document is too complex to validate")


async def test_the_request_deadline_is_a_setting_with_a_typed_error(api, server):
    query = "{ contacts(first: 1) { totalCount } }"
    assert (await api.gql(query))["contacts"]["totalCount"] == 0  # validated and kept
    with tuned(server, request_deadline=1e-6):
        # the kept validation is reused: the query's execution is what runs out of time
        error = error_of(await api.post(query))
        assert error["extensions"] == {"code": "REQUEST_TIMEOUT", "deadline": 1e-6}
        assert error["message"] == "the request did not finish within its deadline of 1e-06 s"
        # a document never validated runs out of time in its validation
        error = error_of(await api.post("{ accounts(first: 1) { totalCount } }"))
        assert error["extensions"]["code"] == "REQUEST_TIMEOUT"
    with tuned(server, request_deadline=0):  # 0: no deadline
        assert (await api.gql("{ accounts(first: 1) { totalCount } }"))["accounts"]
    assert (await api.gql(query))["contacts"]["totalCount"] == 0
