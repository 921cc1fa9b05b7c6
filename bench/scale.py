"""Scale benchmark: the same reads on a 1,000-contact database and on an N-contact one.

Seeds two databases with ``leadgraph seed demo`` (bulk, scored with the shipped rules; N
contacts get N/5 accounts, 2.5 leads each and about a million interactions at 100,000),
serves each with ``leadgraph serve`` in its own process, and times, round-robin:

- the README's nested page: ``contacts(first: 100, filter: {marketingOnly: false})`` with
  account, leads with scores and explanations, and the last 5 interactions;
- a filtered page: ``leads(first: 20, filter: {salesReady: true})``;
- ``totalCount`` of all contacts and of the sales-ready leads.

Prints p50 at both sizes and their ratio for each, then, last, ``ratio: R`` for the worst of
the three (target <= 1.2: latency should not grow with the database).

    python bench/scale.py [--contacts 100000] [--small 1000] [--reps 15]

Uses ``MONGODB_URI`` when set (throw-away databases on it), else an in-memory embedded server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from _server import leadgraph_server
from leadgraph.db import make_client
from leadgraph.embedded import EmbeddedMongo
from leadgraph.store import keys
from pymongo.asynchronous.database import AsyncDatabase

NESTED = """{
  contacts(first: 100, filter: { marketingOnly: false }) {
    pageInfo { hasNextPage endCursor }
    edges { node {
      id firstName lastName email
      preferences { allowBulkEmail allowEmail allowPrefill trackEmail }
      consent { level isChild guardian }
      account { name domain }
      leads { edges { node {
        topic stage salesReady scores { model score explanation { rule points } }
      } } }
      interactions(last: 5) { edges { node { type occurredAt } } }
    } }
  }
}"""
SALES_READY = """{
  leads(first: 20, filter: { salesReady: true }) {
    pageInfo { hasNextPage endCursor }
    edges { node { id topic stage salesReady scores { model score } } }
  }
}"""
TOTALS = """{
  contacts(first: 1) { totalCount }
  leads(first: 1, filter: { salesReady: true }) { totalCount }
}"""
QUERIES = {"nested page": NESTED, "salesReady page": SALES_READY, "totalCount": TOTALS}


def seed(uri: str, db_name: str, contacts: int) -> float:
    """``leadgraph seed demo --contacts N`` as a user runs it (its progress bar on stderr);
    returns the seconds it took."""
    env = {**os.environ, "MONGODB_URI": uri, "LEADGRAPH_DB_NAME": db_name}
    exe = str(Path(sys.executable).parent / "leadgraph")
    t = time.perf_counter()
    subprocess.run([exe, "seed", "demo", "--contacts", str(contacts)], env=env, check=True)
    return time.perf_counter() - t


async def client_for(
    url: str, key: str, http: httpx.AsyncClient
) -> Callable[[str], Awaitable[Any]]:
    async def run(query: str) -> dict[str, Any]:
        r = await http.post(
            f"{url}/graphql", json={"query": query}, headers={"Authorization": f"Bearer {key}"}
        )
        r.raise_for_status()
        body = r.json()
        assert "errors" not in body, body["errors"]
        return dict(body["data"])

    return run


def p50(values: list[float]) -> float:
    return statistics.median(values)


async def run(args: argparse.Namespace, uri: str) -> None:
    client = make_client(uri)
    sizes = {"small": args.small, "large": args.contacts}
    dbs: dict[str, AsyncDatabase] = {
        label: client[f"bench_scale_{label}_{uuid.uuid4().hex[:8]}"] for label in sizes
    }
    try:
        for label, n in sizes.items():
            took = seed(uri, dbs[label].name, n)
            counts = {
                c: await dbs[label][c].estimated_document_count()
                for c in ("contacts", "leads", "interactions")
            }
            print(f"{label}: seeded {counts} in {took:.1f}s", flush=True)
        key = {label: (await keys.create(db, "admin", "bench"))[0] for label, db in dbs.items()}
        async with (
            leadgraph_server(uri, dbs["small"].name) as small_url,
            leadgraph_server(uri, dbs["large"].name) as large_url,
            httpx.AsyncClient(timeout=600) as http,
        ):
            gql = {
                "small": await client_for(small_url, key["small"], http),
                "large": await client_for(large_url, key["large"], http),
            }
            ready = await gql["large"](TOTALS)
            assert ready["leads"]["totalCount"] > 0, "no sales-ready lead: nothing to page"
            print(
                f"large: {ready['contacts']['totalCount']} contacts, "
                f"{ready['leads']['totalCount']} sales-ready leads"
            )
            times: dict[tuple[str, str], list[float]] = {}
            for rep in range(args.warmup + args.reps):
                for name, query in QUERIES.items():
                    for label in sizes:
                        t = time.perf_counter()
                        await gql[label](query)
                        if rep >= args.warmup:
                            times.setdefault((name, label), []).append(
                                (time.perf_counter() - t) * 1000
                            )
        print(f"\n{args.reps} reps after {args.warmup} warm-up; p50 in ms")
        print(f"  {'read':<18} {args.small:>10,} {args.contacts:>12,}   ratio")
        worst = 0.0
        for name in QUERIES:
            small, large = p50(times[name, "small"]), p50(times[name, "large"])
            ratio = large / small
            worst = max(worst, ratio)
            print(f"  {name:<18} {small:>10.1f} {large:>12.1f}   {ratio:5.2f}")
        print(f"worst of the three (target <= 1.2): {'OK' if worst <= 1.2 else 'ABOVE TARGET'}")
        print(f"ratio: {worst:.2f}")
    finally:
        for db in dbs.values():
            await client.drop_database(db.name)
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000, help="contacts, large database")
    parser.add_argument("--small", type=int, default=1000, help="contacts, small database")
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    uri = os.environ.get("MONGODB_URI")
    if uri:
        asyncio.run(run(args, uri))
        return
    with EmbeddedMongo(":memory:") as embedded:
        asyncio.run(run(args, embedded.uri))


if __name__ == "__main__":
    main()
