"""An accounts page asking for each account's leads and insights costs a constant number of
database commands (the request's loaders batch them), and answers what one account at a time
would: the account's own and its contacts' leads, each once, in order, paged by cursor."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from bson import ObjectId
from conftest import listening
from leadgraph.services.seed import seed_demo
from leadgraph.store import batches, contacts
from strawberry.relay import GlobalID
from test_nested_batching import Reads

PAGE = """
query($n: Int!, $leads: Int!) {
  accounts(first: $n) {
    edges { node {
      id
      insights { total lastActivityAt counts { type count } }
      leads(first: $leads) {
        totalCount
        pageInfo { hasNextPage endCursor }
        edges { node { id } }
      }
    } }
  }
}
"""

MORE = """
query($id: ID!, $after: String) {
  node(id: $id) { ... on Account { leads(first: 3, after: $after) {
    pageInfo { hasNextPage endCursor } edges { node { id } }
  } } }
}
"""


@pytest.fixture
async def counted(server: Any, api: Any, mongo_uri: str, monkeypatch: Any) -> AsyncIterator[Reads]:
    monkeypatch.setattr(server.state.leadgraph.verified_keys, "ttl", 0.0)
    async with listening(server, api, mongo_uri, Reads(api.db.name)) as listener:
        yield listener


async def _page(api: Any, counted: Reads, n: int) -> tuple[list[Any], Counter[str]]:
    await api.key("admin")  # created before counting (the key lookup is one find per request)
    counted.counts.clear()
    data = await api.gql(PAGE, {"n": n, "leads": 3})
    edges = [e["node"] for e in data["accounts"]["edges"]]
    assert len(edges) == n
    return edges, Counter(counted.counts)


async def _expected_leads(db: Any, account: ObjectId) -> list[str]:
    members = await contacts.member_ids(db, account)
    query = {"$or": [{"parentAccountId": account}, {"parentContactId": {"$in": members}}]}
    docs = await db.leads.find(query).sort([("createdAt", 1), ("_id", 1)]).to_list()
    return [str(GlobalID("Lead", str(d["_id"]))) for d in docs]


@pytest.mark.parametrize("children", ["lookup", "in-find"])
async def test_accounts_page_leads_and_insights_cost_constant_commands(
    api: Any, counted: Reads, children: str, monkeypatch: Any
) -> None:
    if children == "in-find":  # the loaders' fallback for servers without $documents
        monkeypatch.setattr(batches.ServerFeatures, "documents_stage", False)
    await seed_demo(api.db, n_contacts=120, interactions_per_contact=2)
    # an account-based lead whose parent contact works at the same account: listed once
    contact = await api.db.contacts.find_one({"accountId": {"$ne": None}})
    assert contact is not None
    lead = await api.db.leads.find_one({"parentContactId": contact["_id"]})
    assert lead is not None
    await api.db.leads.update_one(
        {"_id": lead["_id"]}, {"$set": {"parentAccountId": contact["accountId"]}}
    )
    _, few = await _page(api, counted, 3)
    large, many = await _page(api, counted, 20)
    assert few == many, (few, many)
    # key, accounts page; leads: members + leads, members + counts; insights: 2 aggregations
    assert sum(many.values()) <= 8, many
    assert many["getMore"] == 0, many
    for node in large:
        oid = ObjectId(GlobalID.from_id(node["id"]).node_id)
        want = await _expected_leads(api.db, oid)
        got = node["leads"]
        assert got["totalCount"] == len(want)
        assert [e["node"]["id"] for e in got["edges"]] == want[:3]
        assert got["pageInfo"]["hasNextPage"] == (len(want) > 3)
        summed = await contacts.insights_summed(api.db, {"accountId": oid})
        assert node["insights"]["total"] == summed["total"]
        assert {c["type"]: c["count"] for c in node["insights"]["counts"]} == summed["counts"]
    assert any(n["leads"]["totalCount"] > 3 for n in large)
    assert any(n["insights"]["total"] > 0 for n in large)


async def test_account_leads_page_on_by_cursor(api: Any) -> None:
    await seed_demo(api.db, n_contacts=60, interactions_per_contact=1)
    data = await api.gql(PAGE, {"n": 12, "leads": 3})
    busiest = max(
        (e["node"] for e in data["accounts"]["edges"]), key=lambda n: n["leads"]["totalCount"]
    )
    want = await _expected_leads(api.db, ObjectId(GlobalID.from_id(busiest["id"]).node_id))
    assert len(want) > 3
    seen: list[str] = []
    after = None
    for _ in range(len(want)):
        page = (await api.gql(MORE, {"id": busiest["id"], "after": after}))["node"]["leads"]
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == want
