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
import functools
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from _harness import percentile, run_on_database, scratch_database, timed
from _server import leadgraph_server
from leadgraph.store import keys

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


async def run(args: argparse.Namespace, uri: str) -> None:
    sizes = {"small": args.small, "large": args.contacts}
    async with (
        scratch_database(uri, "bench_scale_small") as small_db,
        scratch_database(uri, "bench_scale_large") as large_db,
    ):
        dbs = {"small": small_db, "large": large_db}
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
            times = await timed(
                {
                    (name, label): functools.partial(gql[label], query)
                    for name, query in QUERIES.items()
                    for label in sizes
                },
                args.reps,
                args.warmup,
            )
        print(f"\n{args.reps} reps after {args.warmup} warm-up; p50 in ms")
        print(f"  {'read':<18} {args.small:>10,} {args.contacts:>12,}   ratio")
        worst = 0.0
        for name in QUERIES:
            small, large = (percentile(times[name, label], 50) for label in ("small", "large"))
            ratio = large / small
            worst = max(worst, ratio)
            print(f"  {name:<18} {small:>10.1f} {large:>12.1f}   {ratio:5.2f}")
        print(f"worst of the three (target <= 1.2): {'OK' if worst <= 1.2 else 'ABOVE TARGET'}")
        print(f"ratio: {worst:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000, help="contacts, large database")
    parser.add_argument("--small", type=int, default=1000, help="contacts, small database")
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=2)
    run_on_database(run, parser.parse_args())


if __name__ == "__main__":
    main()
