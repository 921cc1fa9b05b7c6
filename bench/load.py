"""Load: concurrent clients mixing nested reads, form submissions and recorded interactions
against one server process on the embedded database (or ``--uri``), then the invariants.

- nested read: the README's page (contacts with account, leads and scores, last interactions);
- ``submitForm``: half of them on a few shared new emails (the same people submitting at once),
  half on fresh emails, each with an idempotency key;
- ``recordInteraction`` on existing contacts, each with an idempotency key.

Afterwards: one contact per submitted email, and exactly one interaction per acknowledged
event (by idempotency key).  Prints throughput, p50/p99 per operation and errors.

    python bench/load.py [--clients 32] [--seconds 60] [--contacts 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
from _harness import api_key, empty, indexes, percentile, setup
from _server import leadgraph_server
from leadgraph.db import make_client
from leadgraph.embedded import EmbeddedMongo
from leadgraph.services.seed import seed_demo
from strawberry.relay import GlobalID

NESTED = """query { contacts(first: 20) { edges { node {
  id firstName email account { name }
  leads(first: 5) { edges { node { topic stage salesReady scores { model score } } } }
  interactions(last: 5) { edges { node { type occurredAt } } } } } } }"""

SUBMIT = """mutation($i: SubmitFormInput!) { submitForm(input: $i) {
  __typename ... on CapturePayload { replayed contact { id } } } }"""

RECORD = """mutation($i: RecordInteractionInput!) { recordInteraction(input: $i) {
  __typename ... on InteractionPayload { created } } }"""

SHARED = [f"shared{i}@load.example" for i in range(4)]


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    acked: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)


async def worker(
    n: int, http: httpx.AsyncClient, url: str, key: str, contacts: list[str], until: float, t: Tally
) -> None:
    rng = random.Random(n)
    headers = {"Authorization": f"Bearer {key}"}
    i = 0
    while time.perf_counter() < until:
        i += 1
        roll = rng.random()
        idem = f"load-{n}-{i}"
        body: dict[str, Any]
        if roll < 0.4:
            op, body = "nested", {"query": NESTED}
        elif roll < 0.7:
            email = rng.choice(SHARED) if rng.random() < 0.5 else f"p{n}-{i}@load.example"
            t.emails.add(email)
            fields = {"email": email, "lastName": f"Load{n}", "topic": "Load test"}
            variables = {"i": {"formId": f"load-{i % 3}", "fields": fields, "idempotencyKey": idem}}
            op, body = "submitForm", {"query": SUBMIT, "variables": variables}
        else:
            variables = {
                "i": {
                    "contact": rng.choice(contacts),
                    "type": rng.choice(["EMAIL_OPENED", "EMAIL_CLICKED", "WEBSITE_VISITED"]),
                    "idempotencyKey": idem,
                }
            }
            op, body = "recordInteraction", {"query": RECORD, "variables": variables}
        start = time.perf_counter()
        try:
            r = await http.post(f"{url}/graphql", json=body, headers=headers)
            payload = r.json()
        except (httpx.HTTPError, ValueError):
            t.errors[op] += 1
            continue
        t.latencies[op].append(time.perf_counter() - start)
        data = (payload.get("data") or {}) if r.status_code == 200 else {}
        if payload.get("errors") or not data:
            t.errors[op] += 1
        elif op != "nested":
            result = next(iter(data.values()))
            if result.get("__typename", "").endswith("Payload"):
                t.acked.add(idem)
            else:
                t.errors[op] += 1


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--contacts", type=int, default=300)
    parser.add_argument("--uri", default=os.environ.get("MONGODB_URI"))
    args = parser.parse_args()

    embedded = None if args.uri else EmbeddedMongo(":memory:").start()
    uri = args.uri or embedded.uri  # type: ignore[union-attr]
    client = make_client(uri)
    db = client["bench_load"]
    await client.drop_database(db.name)
    await indexes(db)

    async def seed() -> None:
        await empty(db)  # a retried set-up does not seed twice
        await seed_demo(db, n_contacts=args.contacts, interactions_per_contact=10)

    await setup("seeding", seed)
    key = await api_key(db, "admin", "load")
    contacts = [
        str(GlobalID("Contact", str(d["_id"]))) async for d in db.contacts.find({}, {"_id": 1})
    ]

    tally = Tally()
    limits = httpx.Limits(max_connections=args.clients)
    async with (
        leadgraph_server(uri, db.name) as url,
        httpx.AsyncClient(timeout=120, limits=limits) as http,
    ):
        start = time.perf_counter()
        until = start + args.seconds
        await asyncio.gather(
            *[worker(n, http, url, key, contacts, until, tally) for n in range(args.clients)]
        )
        elapsed = time.perf_counter() - start

    total = sum(len(v) for v in tally.latencies.values())
    print(f"{args.clients} clients, {elapsed:.0f} s: {total / elapsed:.1f} requests/s")
    for op in ("nested", "submitForm", "recordInteraction"):
        lat = tally.latencies[op]
        print(
            f"  {op:18} n={len(lat):5}  p50={percentile(lat, 50) * 1000:7.0f} ms  "
            f"p99={percentile(lat, 99) * 1000:7.0f} ms  errors={tally.errors[op]}"
        )

    duplicated = [
        e for e in tally.emails if await db.contacts.count_documents({"emailNormalized": e}) != 1
    ]
    per_key: dict[str, int] = defaultdict(int)
    async for doc in db.interactions.find({"idempotencyKey": {"$regex": "^load-"}}):
        per_key[doc["idempotencyKey"]] += 1
    lost = [k for k in tally.acked if per_key.get(k, 0) != 1]
    doubled = [k for k, n in per_key.items() if n > 1]
    print(
        f"invariants: {len(tally.emails)} emails, {len(duplicated)} with != 1 contact; "
        f"{len(tally.acked)} acknowledged events, {len(lost)} not stored exactly once, "
        f"{len(doubled)} stored twice"
    )
    print(f"mean nested latency: {statistics.fmean(tally.latencies['nested']) * 1000:.0f} ms")
    await client.drop_database(db.name)
    await client.close()
    if embedded is not None:
        embedded.stop()
    if duplicated or lost or doubled:
        raise SystemExit("invariants violated")


if __name__ == "__main__":
    asyncio.run(main())
