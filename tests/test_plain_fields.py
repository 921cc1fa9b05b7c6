"""Plain fields answered in place (leadgraph.web.execution) give exactly the answers, errors and
paths of graphql-core's ordinary execution: the same requests over HTTP, once with each."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import Api
from leadgraph.services.seed import seed_demo
from leadgraph.web.execution import FastExecutionContext
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

PAGE = """
fragment Person on Contact {
  firstName lastName email role marketingOnly subscriptions unsubscribed segments
}
query Page($n: Int!, $skip: Boolean!) {
  contacts(first: $n) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges {
      cursor
      node {
        id __typename ...Person
        mail: email
        phone @skip(if: $skip)
        jobTitle @include(if: $skip)
        createdAt updatedAt marketingSource
        preferences { allowBulkEmail allowEmail allowPrefill trackEmail }
        consent { level isChild guardian }
        insights { total lastActivityAt counts { type count } }
        account {
          id name domain numberOfEmployees contacts(first: 2) { nodes { id } }
          scores { model score grade leadCount method }
        }
        leads { edges { cursor node {
          id topic stage salesReady status
          marketingContext { kind name }
          scores { model score salesReady grade gradeReason explanation { rule points detail } }
          stageHistory { stage enteredAt reason transition }
          owner salesAccepted { owner by at } stageFields { stage name value }
          scoreHistory(first: 2) { edges { node { model fields score grade cause { kind } } } }
        } } }
        interactions(last: 3) { nodes { id type customType occurredAt details } }
        ... on Node { id }
      }
    }
  }
}
"""

ERRORS = """
query {
  contacts(first: 3) {
    edges { node { lastName leads(after: "not-a-cursor") { edges { node { topic } } } } }
  }
  nodes(ids: ["Q29udGFjdDpub3Bl", "garbage"]) { id ... on Contact { email } }
}
"""


@contextlib.contextmanager
def ordinary_execution(server: Any) -> Iterator[None]:
    schema = server.state.leadgraph.schema
    assert schema.execution_context_class is FastExecutionContext
    schema.execution_context_class = StrawberryGraphQLCoreExecutionContext
    try:
        yield
    finally:
        schema.execution_context_class = FastExecutionContext


@pytest.mark.parametrize(
    ("query", "variables"),
    [(PAGE, {"n": 15, "skip": False}), (PAGE, {"n": 4, "skip": True}), (ERRORS, {})],
    ids=["page", "directives", "errors"],
)
async def test_answers_match_ordinary_execution(
    api: Api, server: Any, query: str, variables: dict[str, Any]
) -> None:
    await seed_demo(api.db, n_contacts=15)
    fast = await api.post(query, variables)
    with ordinary_execution(server):
        ordinary = await api.post(query, variables)
    assert fast.status_code == ordinary.status_code
    assert fast.json() == ordinary.json()
    body = fast.json()
    if query is ERRORS:
        codes = {e["extensions"]["code"] for e in body["errors"]}
        assert codes == {"BAD_USER_INPUT"}  # typed, located at their paths
        assert all(e.get("path") for e in body["errors"])
    else:
        edges = body["data"]["contacts"]["edges"]
        assert len(edges) == variables["n"] and all(e["node"]["id"] for e in edges)
