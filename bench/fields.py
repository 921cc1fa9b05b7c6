"""Per-field cost of the GraphQL layer: leadgraph over HTTP against a raw PyMongo read of the
same documents encoded to the same JSON, in the same run and on the same data.

Three pages:

- ``contacts(first: 100)`` and ``contacts(first: 500)`` with 13 scalar fields per contact
  (``id``, 11 stored scalars and ``insights { total }``);
- the README's nested query (100 contacts with preferences, consent, account, leads with their
  scores and explanations, the last 5 interactions, ``totalCount`` and ``pageInfo``).

The raw side reads the same documents with the same commands the server sends (the page, the
count, accounts by ``$in``, leads and interactions by ``$documents`` + ``$lookup``), builds the
very JSON the server answers (Relay ids, enum names, ISO dates, the end cursor) and encodes it
with orjson; the bench checks that both answers are equal before timing.  A *resolved field*
is one key of the answer's JSON (``edges``, ``node`` and every leaf count).

Printed per page: p50 of both sides and the GraphQL layer's cost per resolved field above the
raw read; then ``nested_us_per_field:`` (the README's nested query), ``page100_us_per_field:``
(the 100-contact page), ``us_per_field: X`` for the 500-contact page and, last, ``ratio: R``
(leadgraph p50 / raw p50) for that page.  Target: <= 8 us per field above raw, each.

    python bench/fields.py [--contacts 1000] [--reps 20]

The server runs as ``leadgraph serve`` (its own process) with ``LEADGRAPH_MAX_PAGE_SIZE=500``.
Uses ``MONGODB_URI`` when set (a throw-away database on it), else an in-memory embedded server.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import re
import secrets
import statistics
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import orjson
from _harness import percentile, run_on_database, scratch_database, seed_with_key, timed
from _server import cpu_seconds, leadgraph_server
from leadgraph import cursors
from leadgraph.contracts import CONSENT_LEVELS, CONTACT_ROLES, INTERACTION_TYPES
from leadgraph.documents import DEFAULT_PREFERENCES
from pymongo.asynchronous.database import AsyncDatabase

SCALARS = """query($n: Int!) {
  contacts(first: $n) {
    edges { node {
      id firstName lastName email phone jobTitle role marketingSource marketingOnly
      subscriptions createdAt updatedAt insights { total }
    } }
  }
}"""

NESTED = """{
  contacts(first: 100, filter: { marketingOnly: false }) {
    totalCount
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

ORDER = [("createdAt", 1), ("_id", 1)]  # the contacts' and leads' default order
BATCH_ALL = 100_000
DEFAULT_PAGE = 20  # a nested connection without first/last


def _enum_name(value: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", value).upper()


ROLES = {v: _enum_name(v) for v in CONTACT_ROLES}
LEVELS = {v: _enum_name(v) for v in CONSENT_LEVELS}
TYPES = {v: _enum_name(v) for v in INTERACTION_TYPES}


def relay_id(type_name: str, oid: Any) -> str:
    return base64.b64encode(f"{type_name}:{oid}".encode()).decode()


def iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


# ---------------------------------------------------------------- raw: 13 scalar fields


def scalar_node(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": relay_id("Contact", doc["_id"]),
        "firstName": doc.get("firstName"),
        "lastName": doc.get("lastName"),
        "email": doc.get("email"),
        "phone": doc.get("phone"),
        "jobTitle": doc.get("jobTitle"),
        "role": ROLES.get(doc.get("role")),  # type: ignore[arg-type]
        "marketingSource": doc.get("marketingSource"),
        "marketingOnly": bool(doc.get("marketingOnly")),
        "subscriptions": list(doc.get("subscriptions") or []),
        "createdAt": iso(doc["createdAt"]),
        "updatedAt": iso(doc.get("updatedAt") or doc["createdAt"]),
        "insights": {"total": int((doc.get("insights") or {}).get("total") or 0)},
    }


async def raw_scalars(db: AsyncDatabase, n: int) -> bytes:
    """The page of ``n`` contacts (one find, one reply) as the GraphQL answer's JSON."""
    docs = (await db.contacts.find({}, batch_size=n + 1).sort(ORDER).limit(n + 1).to_list())[:n]
    body = {"data": {"contacts": {"edges": [{"node": scalar_node(d)} for d in docs]}}}
    return orjson.dumps(body)


# ---------------------------------------------------------------- raw: the README's query


async def children(
    db: AsyncDatabase,
    collection: str,
    field: str,
    parents: list[Any],
    sort: dict[str, int],
    limit: int,
) -> list[dict[str, Any]]:
    """The first ``limit`` children of each parent in ``sort`` order (``$documents`` +
    ``$lookup``, as the server's loaders read them)."""
    cursor = await db.aggregate(
        [
            {"$documents": [{"p": p} for p in parents]},
            {
                "$lookup": {
                    "from": collection,
                    "localField": "p",
                    "foreignField": field,
                    "pipeline": [{"$sort": sort}, {"$limit": limit}],
                    "as": "c",
                }
            },
            {"$unwind": "$c"},
            {"$replaceRoot": {"newRoot": "$c"}},
        ],
        batchSize=BATCH_ALL,
    )
    return await cursor.to_list()


def lead_node(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "node": {
            "topic": doc.get("topic"),
            "stage": doc.get("stage"),
            "salesReady": bool(doc.get("salesReady")),
            "scores": [
                {
                    "model": s["model"],
                    "score": float(s.get("score", 0)),
                    "explanation": [
                        {"rule": e["rule"], "points": float(e["points"])}
                        for e in s.get("explanation") or []
                    ],
                }
                for s in doc.get("scores") or []
            ],
        }
    }


def interaction_node(doc: dict[str, Any]) -> dict[str, Any]:
    kind = TYPES.get(doc["type"], "CUSTOM")
    return {"node": {"type": kind, "occurredAt": iso(doc["occurredAt"])}}


async def raw_nested(db: AsyncDatabase) -> bytes:
    query = {"marketingOnly": False}
    n = 100
    page_docs, total = await asyncio.gather(
        db.contacts.find(query, batch_size=n + 1).sort(ORDER).limit(n + 1).to_list(),
        db.contacts.count_documents(query),
    )
    has_next = len(page_docs) > n
    page_docs = page_docs[:n]
    ids = [c["_id"] for c in page_docs]
    account_ids = list({c["accountId"] for c in page_docs if c.get("accountId")})
    accounts, leads, interactions = await asyncio.gather(
        db.accounts.find({"_id": {"$in": account_ids}}, batch_size=BATCH_ALL).to_list(),
        children(db, "leads", "parentContactId", ids, {"createdAt": 1, "_id": 1}, DEFAULT_PAGE + 1),
        children(db, "interactions", "contactId", ids, {"occurredAt": -1, "_id": -1}, 6),
    )
    account_by_id = {a["_id"]: a for a in accounts}
    leads_by: dict[Any, list[dict[str, Any]]] = {i: [] for i in ids}
    for lead in leads:
        leads_by[lead["parentContactId"]].append(lead)
    its_by: dict[Any, list[dict[str, Any]]] = {i: [] for i in ids}
    for it in interactions:
        its_by[it["contactId"]].append(it)

    def node(c: dict[str, Any]) -> dict[str, Any]:
        prefs = {**DEFAULT_PREFERENCES, **(c.get("preferences") or {})}
        consent = c.get("consent") or {}
        account = account_by_id.get(c.get("accountId"))
        return {
            "node": {
                "id": relay_id("Contact", c["_id"]),
                "firstName": c.get("firstName"),
                "lastName": c.get("lastName"),
                "email": c.get("email"),
                "preferences": {k: bool(prefs[k]) for k in DEFAULT_PREFERENCES},
                "consent": {
                    "level": LEVELS.get(consent.get("level")),  # type: ignore[arg-type]
                    "isChild": bool(consent.get("isChild")),
                    "guardian": consent.get("guardian"),
                },
                "account": {"name": account.get("name"), "domain": account.get("domain")}
                if account
                else None,
                "leads": {"edges": [lead_node(d) for d in leads_by[c["_id"]][:DEFAULT_PAGE]]},
                "interactions": {
                    "edges": [interaction_node(d) for d in reversed(its_by[c["_id"]][:5])]
                },
            }
        }

    end = cursors.encode_cursor("createdAt", page_docs[-1], "contacts") if page_docs else None
    body = {
        "data": {
            "contacts": {
                "totalCount": total,
                "pageInfo": {"hasNextPage": has_next, "endCursor": end},
                "edges": [node(c) for c in page_docs],
            }
        }
    }
    return orjson.dumps(body)


# ---------------------------------------------------------------- harness


def resolved_fields(value: Any) -> int:
    """Keys of an answer's JSON: every field the server resolved (leaves and objects)."""
    if isinstance(value, dict):
        return len(value) + sum(resolved_fields(v) for v in value.values())
    if isinstance(value, list):
        return sum(resolved_fields(v) for v in value)
    return 0


async def run(args: argparse.Namespace, uri: str) -> None:
    secret = secrets.token_urlsafe(32)
    cursors.use_secret(secret.encode())  # the server's, so the raw end cursor matches
    async with scratch_database(uri, "bench_fields") as db:
        key = await seed_with_key(db, args.contacts)
        # no background rescore of the seeded leads: its CPU would count as the requests'
        env = {
            "LEADGRAPH_MAX_PAGE_SIZE": "500",
            "LEADGRAPH_SECRET": secret,
            "LEADGRAPH_RESCORE_ON_RULES_CHANGE": "0",
        }
        async with (
            leadgraph_server(uri, db.name, env) as url,
            httpx.AsyncClient(timeout=120) as http,
        ):
            headers = {"Authorization": f"Bearer {key}"}

            def graphql(query: str, variables: dict[str, Any]) -> Callable[[], Awaitable[Any]]:
                body = {"query": query, "variables": variables}

                async def call() -> bytes:
                    r = await http.post(f"{url}/graphql", json=body, headers=headers)
                    r.raise_for_status()
                    return r.content

                return call

            cases: dict[str, tuple[Callable[[], Awaitable[Any]], Callable[[], Awaitable[Any]]]] = {
                "contacts(first: 100), 13 scalar fields": (
                    graphql(SCALARS, {"n": 100}),
                    lambda: raw_scalars(db, 100),
                ),
                "contacts(first: 500), 13 scalar fields": (
                    graphql(SCALARS, {"n": 500}),
                    lambda: raw_scalars(db, 500),
                ),
                "README nested query (100 contacts)": (
                    graphql(NESTED, {}),
                    lambda: raw_nested(db),
                ),
            }
            cpu: dict[str, list[float]] = defaultdict(list)

            def with_cpu(
                key: str, fn: Callable[[], Awaitable[Any]], clock: Callable[[], float]
            ) -> Callable[[], Awaitable[Any]]:
                async def call() -> Any:
                    before = clock()
                    out = await fn()
                    cpu[key].append(clock() - before)
                    return out

                return call

            def server_cpu() -> float:
                return cpu_seconds(url.pid)

            fields: dict[str, int] = {}
            for name, (lg, raw) in cases.items():
                answer = orjson.loads(await lg())
                answer.pop("extensions", None)  # the cost report
                expected = orjson.loads(await raw())
                assert answer == expected, f"{name}: the raw read differs from the answer"
                fields[name] = resolved_fields(answer["data"])
            results = await timed(
                {
                    f"{kind} {name}": with_cpu(f"{kind} {name}", fn, clock)
                    for name, pair in cases.items()
                    for kind, fn, clock in zip(
                        ("lg", "raw"), pair, (server_cpu, time.process_time), strict=True
                    )
                },
                args.reps,
                args.warmup,
            )

        print(
            f"\n{args.reps} reps after {args.warmup} warm-up: wall-clock p50 (p90); CPU: mean "
            "CPU time of the server process (leadgraph) and of this process (raw) per request, "
            "which the machine's other load does not inflate"
        )
        per_field: dict[str, tuple[float, float]] = {}
        for name in cases:
            lg_times, raw_times = results[f"lg {name}"], results[f"raw {name}"]
            lg50, raw50 = percentile(lg_times, 50), percentile(raw_times, 50)
            us = (lg50 - raw50) * 1000 / fields[name]
            per_field[name] = (us, lg50 / raw50)
            lg_cpu = statistics.fmean(cpu[f"lg {name}"][-args.reps :]) * 1000
            raw_cpu = statistics.fmean(cpu[f"raw {name}"][-args.reps :]) * 1000
            print(
                f"  {name}: {fields[name]} resolved fields\n"
                f"    wall  leadgraph {lg50:7.1f} ms ({percentile(lg_times, 90):7.1f})   "
                f"raw {raw50:7.1f} ms ({percentile(raw_times, 90):7.1f})   "
                f"{us:5.1f} us/field above raw   ratio {lg50 / raw50:.2f}\n"
                f"    CPU   leadgraph {lg_cpu:7.1f} ms   raw {raw_cpu:7.1f} ms   "
                f"{(lg_cpu - raw_cpu) * 1000 / fields[name]:5.1f} us/field above raw"
            )
        us, ratio = per_field["contacts(first: 500), 13 scalar fields"]
        print(f"\nnested_us_per_field: {per_field['README nested query (100 contacts)'][0]:.1f}")
        print(f"page100_us_per_field: {per_field['contacts(first: 100), 13 scalar fields'][0]:.1f}")
        print(f"us_per_field: {us:.1f}")
        print(f"ratio: {ratio:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1000, help="contacts to seed (>= 500)")
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    run_on_database(run, parser.parse_args())


if __name__ == "__main__":
    main()
