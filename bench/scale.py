"""Scale benchmark: what leadgraph asks of the database per request, at several sizes.

Seeds one database per size (``--sizes``, default 1,000 and 5,000 contacts; add 20000 for the
issue's size) with the demo data set: every database holds the same oldest ``min(sizes)``
contacts (with their accounts, leads and interactions, scored with the shipped rules), the
larger ones as many newer contacts again as they need. So each request asks for the same
documents at every size, and what differs is only how much else the database holds.

Serves each database with the app in this process (ASGI, lifespan included), through a client
whose commands are recorded, and prints for each request:

- every command sent (the server's periodic sweeps of other collections aside) and the
  documents the database returned for it;
- for each read, the index the equality, sort, range rule picks from the declared indexes
  (``leadgraph.store.INDEXES``) for the command's filter and sort, and whether that index's key
  order gives the requested sort without a sort stage on MongoDB (``bench/_plans.py``; derived
  from the command, not from SecantusDB's ``explain``, which shows a SORT stage even when the
  index gives the order);

then times the requests round-robin and prints their p50 at each size (information: the
embedded server walks every index match before ``limit`` and counts by reading every row; see
the README), and last ``same_work_at_both_sizes: yes`` when the commands, documents and plans
are the same at every size.

    python bench/scale.py [--sizes 1000,5000,20000] [--reps 10]

Uses ``MONGODB_URI`` when set (throw-away databases on it), else an in-memory embedded server.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from _harness import api_key, empty, indexes, percentile, run_on_database, setup, timed
from _plans import plan
from leadgraph.config import Settings
from leadgraph.db import Connection, make_client
from leadgraph.plugin_manager import get_plugin_manager
from leadgraph.rules.manager import RulesManager
from leadgraph.services import Services
from leadgraph.services.seed import interactions_per_contact_for, seed_demo
from leadgraph.store import INDEXES
from leadgraph.web.app import create_app
from pymongo import UpdateOne, monitoring
from pymongo.asynchronous.database import AsyncDatabase

ROOT = Path(__file__).resolve().parent.parent
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
CONTACTS_COUNT = "{ contacts(first: 1) { totalCount } }"
SALES_READY_COUNT = "{ leads(first: 1, filter: { salesReady: true }) { totalCount } }"
QUERIES = {
    "nested page (100 contacts)": NESTED,
    "salesReady leads page (20)": SALES_READY,
    "contacts totalCount": CONTACTS_COUNT,
    "salesReady totalCount": SALES_READY_COUNT,
}
# collections only the server's periodic sweeps touch: not the request's work
BACKGROUND = {"events", "leases", "pending_captures", "webhook_deliveries"}
CORE_AGE = timedelta(days=1000)  # the shared contacts are older than every added one


class Recorder(monitoring.CommandListener):
    """Records, while ``on``, the commands sent to one database and the documents returned."""

    def __init__(self, db_name: str) -> None:
        self.db_name = db_name
        self.on = False
        self.sent: dict[int, tuple[str, dict[str, Any]]] = {}
        self.done: list[tuple[str, dict[str, Any], int]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if not self.on or event.database_name != self.db_name:
            return
        name = event.command_name
        target = event.command.get("collection" if name == "getMore" else name)
        if target in BACKGROUND or name in ("endSessions", "hello", "ping"):
            return
        self.sent[event.request_id] = (name, dict(event.command))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        if event.request_id in self.sent:
            name, command = self.sent.pop(event.request_id)
            reply = event.reply
            cursor = reply.get("cursor") or {}
            docs = len(cursor.get("firstBatch", cursor.get("nextBatch", [])))
            if name == "count":
                docs = 1
            self.done.append((name, command, docs))

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self.sent.pop(event.request_id, None)


def _sort(spec: Any) -> list[tuple[str, int]]:
    return [(str(k), int(v)) for k, v in dict(spec or {}).items()]


def work_of(name: str, command: dict[str, Any], docs: int) -> str:
    """One line for one command: what it is, the plan of its read, the documents returned."""
    if name == "find":
        coll = command["find"]
        how = plan(command.get("filter") or {}, _sort(command.get("sort")), INDEXES.get(coll, []))
        limit = f", limit {command['limit']}" if "limit" in command else ""
        return f"find {coll}{limit}: {how.describe()} -> {docs} docs"
    if name == "count":
        coll = command["count"]
        if not command.get("query"):
            return f"count {coll}: collection metadata, no index read -> 1 doc"
        how = plan(command["query"], [], INDEXES.get(coll, []))
        return f"count {coll}: {how.describe()}, counts the matching keys -> 1 doc"
    if name == "aggregate":
        return _aggregate(command, docs)
    if name == "getMore":
        return f"getMore {command['collection']} -> {docs} docs"
    return f"{name} {command.get(name)}"


def _aggregate(command: dict[str, Any], docs: int) -> str:
    stages = command["pipeline"]
    if command["aggregate"] == 1 and "$documents" in stages[0]:  # parents joined to children
        parents = len(stages[0]["$documents"])
        look = next(s["$lookup"] for s in stages if "$lookup" in s)
        inner = look.get("pipeline", [])
        query = {look["foreignField"]: "<parent>"}
        for stage in inner:
            query.update(stage.get("$match", {}))
        sort = next((_sort(s["$sort"]) for s in inner if "$sort" in s), [])
        limit = next((f", limit {s['$limit']} each" for s in inner if "$limit" in s), "")
        how = plan(query, sort, INDEXES.get(look["from"], []))
        return (
            f"aggregate $documents({parents} parents) $lookup {look['from']}{limit}: "
            f"{how.describe()} per parent -> {docs} docs"
        )
    coll = command["aggregate"]
    query = stages[0].get("$match", {}) if stages else {}
    sort = _sort(stages[1]["$sort"]) if len(stages) > 1 and "$sort" in stages[1] else []
    grouped = any("$group" in s or "$count" in s for s in stages)
    tail = ", counts the matching keys" if grouped else ""
    how = plan(query, sort, INDEXES.get(coll, []))
    return f"aggregate {coll}: {how.describe()}{tail} -> {docs} docs"


async def seed(db: AsyncDatabase, core: int, contacts: int, now: datetime) -> dict[str, int]:
    """The shared ``core`` contacts (scored as of ``now``, then dated ``CORE_AGE`` earlier so
    that they come first in the pages' order), then ``contacts - core`` newer ones."""
    pm = get_plugin_manager()
    rules = RulesManager(ROOT / "rules", pm)
    assert rules.reload() and rules.current is not None, rules.errors
    funnel = Services(db, rules.current, pm).funnel
    per = interactions_per_contact_for(core)
    await empty(db)
    counts = await seed_demo(
        db, n_contacts=core, interactions_per_contact=per, now=now, funnel=funnel
    )
    for coll in ("contacts", "leads"):  # the shared ones first in the pages' order (createdAt)
        older = [
            UpdateOne({"_id": d["_id"]}, {"$set": {"createdAt": d["createdAt"] - CORE_AGE}})
            async for d in db[coll].find({}, {"createdAt": 1})
        ]
        for start in range(0, len(older), 1000):
            await db[coll].bulk_write(older[start : start + 1000], ordered=False)
    if contacts > core:
        more = await seed_demo(db, n_contacts=contacts - core, seed=43, now=now, funnel=funnel)
        counts = {k: v + more[k] for k, v in counts.items()}
    return counts


@contextlib.asynccontextmanager
async def served(uri: str, db_name: str) -> AsyncIterator[tuple[Recorder, httpx.AsyncClient]]:
    """The app on ``db_name`` in this process, through a client whose commands are recorded."""
    recorder = Recorder(db_name)
    client = make_client(uri, event_listeners=[recorder])
    db = client[db_name]
    app = create_app(
        Settings(secret="bench-scale"), Connection(client=client, db=db, embedded=None, uri=uri)
    )
    transport = httpx.ASGITransport(app=app)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=600) as http,
        ):
            yield recorder, http
    finally:
        await client.close()


def caller(http: httpx.AsyncClient, key: str) -> Callable[[str], Awaitable[dict[str, Any]]]:
    async def run(query: str) -> dict[str, Any]:
        r = await http.post(
            "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {key}"}
        )
        r.raise_for_status()
        body = r.json()
        assert "errors" not in body, body["errors"]
        return dict(body["data"])

    return run


async def work(recorder: Recorder, gql: Callable[[str], Awaitable[Any]]) -> dict[str, list[str]]:
    """Per request, the lines of ``work_of`` for the commands it sent."""
    out = {}
    for name, query in QUERIES.items():
        await gql(query)  # warm (rules, caches)
        recorder.done.clear()
        recorder.on = True
        await gql(query)
        recorder.on = False
        out[name] = [work_of(*done) for done in recorder.done]
    return out


async def run(args: argparse.Namespace, uri: str) -> None:
    sizes = sorted({int(s) for s in args.sizes.split(",")})
    now = datetime.now(UTC).replace(microsecond=0)
    async with contextlib.AsyncExitStack() as stack:
        client = make_client(uri)
        stack.push_async_callback(client.close)
        gql: dict[int, Callable[[str], Awaitable[dict[str, Any]]]] = {}
        recorders: dict[int, Recorder] = {}
        for n in sizes:
            db = client[f"bench_scale_{n}_{now:%H%M%S}"]
            stack.push_async_callback(client.drop_database, db.name)
            await indexes(db)
            t = time.perf_counter()
            counts = await setup(f"seeding {n:,}", functools.partial(seed, db, sizes[0], n, now))
            print(f"{n:,}: seeded {counts} in {time.perf_counter() - t:.1f}s", flush=True)
            key = await api_key(db, "admin")
            recorders[n], http = await stack.enter_async_context(served(uri, db.name))
            gql[n] = caller(http, key)
        found = {n: await work(recorders[n], gql[n]) for n in sizes}
        times = await timed(
            {
                (name, n): functools.partial(gql[n], query)
                for name, query in QUERIES.items()
                for n in sizes
            },
            args.reps,
            args.warmup,
        )
    report(sizes, found, times, args)


def report(
    sizes: list[int],
    found: dict[int, dict[str, list[str]]],
    times: dict[tuple[str, int], list[float]],
    args: argparse.Namespace,
) -> None:
    same = True
    for name in QUERIES:
        lines = found[sizes[0]][name]
        print(f"\n{name}: {len(lines)} commands")
        for line in lines:
            print(f"  {line}")
        for n in sizes[1:]:
            if found[n][name] != lines:
                same = False
                print(f"  DIFFERENT at {n:,}:")
                for line in found[n][name]:
                    print(f"    {line}")
    head = "".join(f"{n:>10,}" for n in sizes)
    print(f"\n{args.reps} reps after {args.warmup} warm-up; wall-clock p50 in ms (information)")
    print(f"  {'request':<28}{head}   ratio largest/smallest")
    for name in QUERIES:
        p50 = [percentile(times[name, n], 50) for n in sizes]
        cells = "".join(f"{v:>10.1f}" for v in p50)
        print(f"  {name:<28}{cells}   {p50[-1] / p50[0]:.2f}")
    print(f"same_work_at_both_sizes: {'yes' if same else 'no'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000", help="contacts per database, commas")
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    run_on_database(run, parser.parse_args())


if __name__ == "__main__":
    main()
