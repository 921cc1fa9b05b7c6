"""Batching proof: a page of contacts with account, leads and last interactions costs a constant
number of database round trips (DataLoaders with ``$in`` finds), whatever the page size."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import listening
from leadgraph.services.seed import seed_demo
from leadgraph.store import batches
from pymongo import monitoring

READS = {"find", "aggregate", "getMore", "count"}

PAGE = """
query($n: Int!) {
  contacts(first: $n) {
    edges { node {
      id
      account { name }
      leads { edges { node { topic stage } } }
      interactions(last: 5) { edges { node { type occurredAt } } }
    } }
  }
}
"""


PAGE_COLLECTIONS = {"api_keys", "contacts", "accounts", "leads", "interactions"}


class Reads(monitoring.CommandListener):
    """Counts the read commands sent to one database."""

    def __init__(self, db_name: str) -> None:
        self.db_name = db_name
        self.counts: Counter[str] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.database_name != self.db_name or event.command_name not in READS:
            return
        # only what the page reads: the server's periodic sweeps (events, captures, webhook
        # deliveries, leases) share the client and may run during the request
        key = "collection" if event.command_name == "getMore" else event.command_name
        target = event.command.get(key)
        if target in PAGE_COLLECTIONS or target == 1:  # 1: a database aggregate ($documents)
            self.counts[event.command_name] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
async def counted(server: Any, api: Any, mongo_uri: str, monkeypatch: Any) -> AsyncIterator[Reads]:
    """Point the server at a client whose commands to the test database are counted.  The key is
    read on every request (the cache of verified keys off: the worst case, counted alike for
    every page)."""
    monkeypatch.setattr(server.state.leadgraph.verified_keys, "ttl", 0.0)
    async with listening(server, api, mongo_uri, Reads(api.db.name)) as listener:
        yield listener


async def _reads_for(api: Any, counted: Reads, n: int) -> Counter[str]:
    await api.key("admin")  # created before counting (the key lookup is one find per request)
    counted.counts.clear()
    data = await api.gql(PAGE, {"n": n})
    edges = data["contacts"]["edges"]
    assert len(edges) == n
    # the page really has nested data to batch
    assert sum(len(e["node"]["interactions"]["edges"]) for e in edges) > n
    assert sum(len(e["node"]["leads"]["edges"]) for e in edges) > 0
    assert any(e["node"]["account"] for e in edges)
    return Counter(counted.counts)


@pytest.mark.parametrize("children", ["lookup", "in-find"])
async def test_round_trips_do_not_grow_with_page_size(api, counted, children, monkeypatch):
    if children == "in-find":  # the loader's fallback for servers without $documents
        monkeypatch.setattr(batches.ServerFeatures, "documents_stage", False)
    await seed_demo(api.db, n_contacts=120, interactions_per_contact=6)  # ~600 a page: > one batch
    small = await _reads_for(api, counted, 10)
    large = await _reads_for(api, counted, 100)
    assert small == large, (small, large)
    if children == "lookup":
        assert large["aggregate"] == 2 and large["find"] == 3, large  # leads, interactions
    else:
        assert large["aggregate"] == 0 and large["find"] == 5, large
    # key lookup, contacts page, accounts, leads, interactions: nothing per row, no getMore
    assert large["getMore"] == 0, large
    assert sum(large.values()) <= 5, large


async def test_nested_interactions_are_the_latest_five_oldest_first(api):
    await seed_demo(api.db, n_contacts=12, interactions_per_contact=12)
    data = await api.gql(PAGE, {"n": 12})
    from bson import ObjectId
    from strawberry.relay import GlobalID

    for edge in data["contacts"]["edges"]:
        oid = ObjectId(GlobalID.from_id(edge["node"]["id"]).node_id)
        stored = (
            await api.db.interactions.find({"contactId": oid})
            .sort([("occurredAt", 1), ("_id", 1)])
            .to_list()
        )
        got = [n["node"] for n in edge["node"]["interactions"]["edges"]]
        want = stored[-5:]
        assert [g["type"] for g in got] == [w["type"].upper() for w in want]
        assert [g["occurredAt"][:19] for g in got] == [
            w["occurredAt"].isoformat()[:19] for w in want
        ]
        leads = await api.db.leads.count_documents({"parentContactId": oid})
        assert len(edge["node"]["leads"]["edges"]) == leads
