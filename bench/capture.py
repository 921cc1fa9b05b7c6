"""Capture benchmarks against a throw-away embedded database.

(a) ``submitForm`` over HTTP with N concurrent clients (the server in its own process) vs a
    raw PyMongo loop doing the equivalent writes (contact upsert, lead upsert, interaction
    insert, insights update) in the same run; target: submissions >= 0.5x the raw rate.
(b) importing a generated CSV (default 100,000 rows) through matching vs a raw ``bulk_write``
    of the same contact documents; target: import <= 3x the raw time.

It first prints `commands_per_submission:`, the database commands one submission sends (through
the capture service), for new people and for matched ones changing a field (target: at most 8,
the events record included).

    python bench/capture.py [--rows 100000] [--submissions 2000] [--clients 16] [--commands 200]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from _harness import api_key, indexes
from _server import leadgraph_server
from leadgraph.db import EMBEDDED_TRANSACTIONS, make_client
from leadgraph.embedded import EmbeddedMongo
from leadgraph.plugin_manager import get_plugin_manager
from leadgraph.rules.manager import RulesManager
from leadgraph.services import Services
from leadgraph.services.importing import run_import
from leadgraph.store import contacts
from pymongo import InsertOne, monitoring
from pymongo.asynchronous.collection import AsyncCollection

ROOT = Path(__file__).resolve().parent.parent

SUBMIT = """mutation($input: SubmitFormInput!) { submitForm(input: $input) {
  __typename ... on CapturePayload { contactCreated } } }"""


async def _id_of(collection: AsyncCollection, query: dict[str, Any]) -> Any:
    """The ``_id`` of the document an upsert found (it did not insert one)."""
    doc = await collection.find_one(query, {"_id": 1})
    assert doc is not None, query
    return doc["_id"]


async def bench_submissions(uri: str, n: int, clients: int) -> tuple[float, float]:
    client = make_client(uri)
    db = client["bench_submit"]
    await indexes(db)
    key = await api_key(db, "marketer")
    # the server is given MONGODB_URI (the bench's embedded server): it runs as many
    # transactions at once as `leadgraph serve` does on its embedded database
    env = {"LEADGRAPH_MAX_TRANSACTIONS": str(EMBEDDED_TRANSACTIONS)}
    print(f"server: LEADGRAPH_MAX_TRANSACTIONS={EMBEDDED_TRANSACTIONS} (the embedded default)")
    served = leadgraph_server(uri, db.name, env)
    async with served as url, httpx.AsyncClient(timeout=60) as http:
        headers = {"Authorization": f"Bearer {key}"}
        queue = list(range(n))

        async def worker() -> None:
            while queue:
                i = queue.pop()
                body = {
                    "query": SUBMIT,
                    "variables": {
                        "input": {
                            "formId": f"form-{i % 5}",
                            "fields": {"email": f"p{i}@example.com", "firstName": f"P{i}"},
                        }
                    },
                }
                r = await http.post(f"{url}/graphql", json=body, headers=headers)
                data = r.json()["data"]["submitForm"]
                assert data["__typename"] == "CapturePayload", data

        t = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(clients)])
        http_rate = n / (time.perf_counter() - t)

    raw = client["bench_submit_raw"]
    await indexes(raw)
    t = time.perf_counter()
    for i in range(n):
        email, form = f"p{i}@example.com", f"form-{i % 5}"
        doc = contacts.new_document({"email": email, "firstName": f"P{i}"})
        # update_one, not find_one_and_update: SecantusDB scans the collection for the latter
        # when the filter is not on _id, which would make this baseline unfairly slow.
        r = await raw.contacts.update_one(
            {"emailNormalized": email}, {"$setOnInsert": doc}, upsert=True
        )
        cid = r.upserted_id or await _id_of(raw.contacts, {"emailNormalized": email})
        r = await raw.leads.update_one(
            {"emailNormalized": email, "formId": form},
            {"$setOnInsert": {"parentContactId": cid, "topic": form}},
            upsert=True,
        )
        lid = r.upserted_id or await _id_of(raw.leads, {"emailNormalized": email, "formId": form})
        await raw.interactions.insert_one(
            {"contactId": cid, "leadId": lid, "type": "form_submitted"}
        )
        await raw.contacts.update_one({"_id": cid}, {"$inc": {"insights.total": 1}})
    raw_rate = n / (time.perf_counter() - t)
    await client.close()
    return http_rate, raw_rate


class _Counter(monitoring.CommandListener):
    """Counts the commands a client sends (``endSessions`` and handshakes aside)."""

    def __init__(self) -> None:
        self.names: Counter[str] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name not in ("endSessions", "hello", "isMaster", "ping"):
            self.names[event.command_name] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def commands_per_submission(
    uri: str, n: int
) -> tuple[tuple[float, Counter[str]], tuple[float, Counter[str]]]:
    """The database commands one submission sends (the shipped rules, the built-in plugins),
    averaged over ``n``, through the capture service in this process: for new people, then
    for the same people again changing a field (matched, with a ``contact.updated``)."""
    counter = _Counter()
    client = make_client(uri, event_listeners=[counter])
    db = client["bench_commands"]
    await indexes(db)
    pm = get_plugin_manager()
    rules = RulesManager(ROOT / "rules", pm)
    assert rules.reload() and rules.current is not None, rules.errors
    services = Services(db, rules.current, pm)
    await services.capture.submit(form_id="warm-up", fields={"email": "w@example.com"})
    out = []
    for extra in ({}, {"jobTitle": "CTO"}):
        counter.names.clear()
        for i in range(n):
            fields = {"email": f"c{i}@example.com", "firstName": f"C{i}", **extra}
            await services.capture.submit(form_id=f"form-{i % 5}", fields=fields)
        out.append((sum(counter.names.values()) / n, Counter(counter.names)))
    await client.close()
    return out[0], out[1]


async def bench_import(uri: str, rows: int) -> tuple[float, float]:
    client = make_client(uri)
    lines = ["email,firstName,lastName,phone"]
    lines += [f"user{i}@example.com,First{i},Last{i},+1 555 {i:07d}" for i in range(rows)]
    data = ("\n".join(lines) + "\n").encode()

    db = client["bench_import"]
    await indexes(db)
    t = time.perf_counter()
    services = Services(db, None, None)
    summary = await run_import(
        db,
        "contacts",
        data,
        name="bench.csv",
        funnel=services.funnel,
        matching=services.matching,
    )
    import_time = time.perf_counter() - t
    assert summary.created == rows, summary

    raw = client["bench_import_raw"]
    await indexes(raw)
    docs = [
        contacts.new_document(
            {
                "email": f"user{i}@example.com",
                "firstName": f"First{i}",
                "lastName": f"Last{i}",
                "phone": f"+1 555 {i:07d}",
            }
        )
        for i in range(rows)
    ]
    t = time.perf_counter()
    for start in range(0, rows, 2000):
        await raw.contacts.bulk_write(
            [InsertOne(d) for d in docs[start : start + 2000]], ordered=False
        )
    raw_time = time.perf_counter() - t
    await client.close()
    return import_time, raw_time


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--submissions", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--skip-import", action="store_true")
    parser.add_argument("--skip-submit", action="store_true")
    parser.add_argument("--commands", type=int, default=200, help="submissions counted")
    args = parser.parse_args()
    with EmbeddedMongo(":memory:") as server:
        counted = await commands_per_submission(server.uri, args.commands)
        for label, (per, names) in zip(
            ("new people", "matched, a field changed"), counted, strict=True
        ):
            detail = ", ".join(f"{k} {v / args.commands:.2f}" for k, v in names.most_common())
            print(
                f"commands_per_submission: {per:.2f} ({label}; target <= 8; capture service, "
                f"{args.commands} submissions: {detail})"
            )
        if not args.skip_submit:
            http_rate, raw_rate = await bench_submissions(
                server.uri, args.submissions, args.clients
            )
            print(
                f"submitForm over HTTP, {args.clients} clients: {http_rate:,.0f}/s; "
                f"raw PyMongo loop: {raw_rate:,.0f}/s; ratio {http_rate / raw_rate:.2f}x "
                f"(target >= 0.5x)"
            )
        if not args.skip_import:
            import_time, raw_time = await bench_import(server.uri, args.rows)
            print(
                f"import of {args.rows:,} CSV rows: {import_time:.1f}s; raw bulk_write: "
                f"{raw_time:.1f}s; ratio {import_time / raw_time:.2f}x (target <= 3x)"
            )


if __name__ == "__main__":
    asyncio.run(main())
