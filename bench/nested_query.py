"""Nested-query benchmark: a page of contacts with account, leads and last 5 interactions.

Times the GraphQL query below through the real server (``leadgraph serve`` in its own process,
HTTP on loopback) against the fastest hand-written raw PyMongo ways to fetch the same data, in
the same run and on the same data:

(a) one aggregation with ``$lookup`` stages (localField/foreignField: a correlated ``$lookup``
    sub-pipeline scans the whole collection per row on SecantusDB and takes minutes; time one
    repetition of it with ``--include-correlated``);
(b) batched ``$in`` finds: the contacts page, then accounts by id, leads by parentContactId and
    interactions by contactId (sorted) concurrently, last 5 sliced in Python;
(c) what the server's loaders do, by hand: the page, accounts by ``$in``, and leads and
    interactions each by one ``$documents`` + localField/foreignField ``$lookup`` aggregation
    (SecantusDB answers a 100-id ``$in`` slowly), with projections.

The fastest raw way is the baseline; the target is leadgraph/baseline <= 2.0 at p50.

    python bench/nested_query.py [--contacts 1000] [--page 100] [--reps 30]

Uses ``MONGODB_URI`` when set (a throw-away database on it), else an in-memory embedded server.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import httpx
from _harness import percentile, run_on_database, scratch_database, seed_with_key, timed
from _server import leadgraph_server
from pymongo.asynchronous.database import AsyncDatabase

QUERY = """query($n: Int!) {
  contacts(first: $n) {
    edges { node {
      account { name }
      leads { edges { node { topic stage } } }
      interactions(last: 5) { edges { node { type occurredAt } } }
    } }
  }
}"""
ORDER = [("createdAt", 1), ("_id", 1)]  # the contacts connection's default order
LEADGRAPH = "leadgraph GraphQL over HTTP"
LOOKUP = "(a) raw $lookup aggregation"
IN_FINDS = "(b) raw batched $in finds"
DOCUMENTS = "(c) raw $documents+$lookup batches"


# ---------------------------------------------------------------- raw baselines


async def raw_in_finds(db: AsyncDatabase, n: int) -> list[dict[str, Any]]:
    """(b) The page, then one ``$in`` find per relation, run concurrently."""
    page = (
        await db.contacts.find({}, {"accountId": 1, "createdAt": 1}).sort(ORDER).limit(n).to_list()
    )
    ids = [c["_id"] for c in page]
    account_ids = list({c["accountId"] for c in page if c.get("accountId")})
    big = 100_000  # one reply, no getMore
    accounts, leads, interactions = await asyncio.gather(
        db.accounts.find({"_id": {"$in": account_ids}}, {"name": 1}, batch_size=big).to_list(),
        db.leads.find(
            {"parentContactId": {"$in": ids}},
            {"parentContactId": 1, "topic": 1, "stage": 1, "createdAt": 1},
            batch_size=big,
        )
        .sort([("createdAt", 1), ("_id", 1)])
        .to_list(),
        db.interactions.find(
            {"contactId": {"$in": ids}},
            {"contactId": 1, "type": 1, "occurredAt": 1},
            batch_size=big,
        )
        .sort([("occurredAt", 1), ("_id", 1)])
        .to_list(),
    )
    account_by_id = {a["_id"]: a for a in accounts}
    leads_by: dict[Any, list[dict[str, Any]]] = {i: [] for i in ids}
    for lead in leads:
        leads_by[lead["parentContactId"]].append(lead)
    its_by: dict[Any, list[dict[str, Any]]] = {i: [] for i in ids}
    for it in interactions:
        its_by[it["contactId"]].append(it)
    return [
        {
            "account": account_by_id.get(c.get("accountId")),
            "leads": leads_by[c["_id"]],
            "interactions": its_by[c["_id"]][-5:],
        }
        for c in page
    ]


async def raw_documents_lookup(db: AsyncDatabase, n: int) -> list[dict[str, Any]]:
    """(c) The page, accounts by ``$in``, children by ``$documents`` + ``$lookup``."""
    page = (
        await db.contacts.find({}, {"accountId": 1, "createdAt": 1}).sort(ORDER).limit(n).to_list()
    )
    ids = [c["_id"] for c in page]
    account_ids = list({c["accountId"] for c in page if c.get("accountId")})

    async def children(collection: str, field: str, fields: list[str]) -> list[dict[str, Any]]:
        cursor = await db.aggregate(
            [
                {"$documents": [{"p": i} for i in ids]},
                {
                    "$lookup": {
                        "from": collection,
                        "localField": "p",
                        "foreignField": field,
                        "as": "c",
                    }
                },
                {"$unwind": "$c"},
                {"$replaceRoot": {"newRoot": "$c"}},
                {"$project": {f: 1 for f in [field, *fields]}},
            ],
            batchSize=100_000,
        )
        return await cursor.to_list()

    accounts, leads, interactions = await asyncio.gather(
        db.accounts.find({"_id": {"$in": account_ids}}, {"name": 1}, batch_size=100_000).to_list(),
        children("leads", "parentContactId", ["topic", "stage", "createdAt"]),
        children("interactions", "contactId", ["type", "occurredAt"]),
    )
    account_by_id = {a["_id"]: a for a in accounts}
    leads_by: dict[Any, list[dict[str, Any]]] = {i: [] for i in ids}
    for lead in sorted(leads, key=lambda d: (d["createdAt"], d["_id"])):
        leads_by[lead["parentContactId"]].append(lead)
    its_by: dict[Any, list[dict[str, Any]]] = {i: [] for i in ids}
    for it in sorted(interactions, key=lambda d: (d["occurredAt"], d["_id"])):
        its_by[it["contactId"]].append(it)
    return [
        {
            "account": account_by_id.get(c.get("accountId")),
            "leads": leads_by[c["_id"]],
            "interactions": its_by[c["_id"]][-5:],
        }
        for c in page
    ]


def lookup_pipeline(n: int, server_side_slice: bool) -> list[dict[str, Any]]:
    """(a) One aggregation: page, then localField/foreignField ``$lookup`` per relation."""
    pipeline: list[dict[str, Any]] = [
        {"$sort": dict(ORDER)},
        {"$limit": n},
        {"$project": {"accountId": 1}},
        {
            "$lookup": {
                "from": "accounts",
                "localField": "accountId",
                "foreignField": "_id",
                "as": "account",
            }
        },
        {
            "$lookup": {
                "from": "leads",
                "localField": "_id",
                "foreignField": "parentContactId",
                "as": "leads",
            }
        },
        {
            "$lookup": {
                "from": "interactions",
                "localField": "_id",
                "foreignField": "contactId",
                "as": "interactions",
            }
        },
    ]
    project: dict[str, Any] = {
        "account.name": 1,
        "leads.topic": 1,
        "leads.stage": 1,
        "leads.createdAt": 1,
        "leads._id": 1,
        "interactions.type": 1,
        "interactions.occurredAt": 1,
        "interactions._id": 1,
    }
    pipeline.append({"$project": project})
    if server_side_slice:
        pipeline.append(
            {
                "$set": {
                    "interactions": {
                        "$slice": [
                            {
                                "$sortArray": {
                                    "input": "$interactions",
                                    "sortBy": {"occurredAt": 1, "_id": 1},
                                }
                            },
                            -5,
                        ]
                    }
                }
            }
        )
    return pipeline


def correlated_pipeline(n: int) -> list[dict[str, Any]]:
    """The correlated form (``let`` + sub-pipeline): slow on SecantusDB, opt-in only."""
    return [
        {"$sort": dict(ORDER)},
        {"$limit": n},
        {
            "$lookup": {
                "from": "accounts",
                "let": {"a": "$accountId"},
                "pipeline": [{"$match": {"$expr": {"$eq": ["$_id", "$$a"]}}}],
                "as": "account",
            }
        },
        {
            "$lookup": {
                "from": "leads",
                "let": {"c": "$_id"},
                "pipeline": [
                    {"$match": {"$expr": {"$eq": ["$parentContactId", "$$c"]}}},
                    {"$sort": {"createdAt": 1, "_id": 1}},
                ],
                "as": "leads",
            }
        },
        {
            "$lookup": {
                "from": "interactions",
                "let": {"c": "$_id"},
                "pipeline": [
                    {"$match": {"$expr": {"$eq": ["$contactId", "$$c"]}}},
                    {"$sort": {"occurredAt": -1, "_id": -1}},
                    {"$limit": 5},
                ],
                "as": "interactions",
            }
        },
    ]


async def raw_lookup(db: AsyncDatabase, n: int, server_side_slice: bool) -> list[dict[str, Any]]:
    cursor = await db.contacts.aggregate(lookup_pipeline(n, server_side_slice), batchSize=100_000)
    rows = await cursor.to_list()
    for row in rows:
        # $lookup arrays come in storage order: order the leads, keep the latest 5 interactions
        row["leads"].sort(key=lambda d: (d["createdAt"], d["_id"]))
        if not server_side_slice:
            row["interactions"] = sorted(
                row["interactions"], key=lambda d: (d["occurredAt"], d["_id"])
            )[-5:]
    return rows


# ---------------------------------------------------------------- harness


def summary(name: str, ms: list[float]) -> str:
    p50, p90 = percentile(ms, 50), percentile(ms, 90)
    return f"  {name:<34} p50 {p50:8.1f} ms   p90 {p90:8.1f} ms   (n={len(ms)})"


def check_same(graphql: dict[str, Any], raw: list[dict[str, Any]]) -> None:
    """The raw ways fetch the same data as the GraphQL query (a benchmark of the wrong thing
    would be worthless)."""
    edges = graphql["data"]["contacts"]["edges"]
    assert len(edges) == len(raw), (len(edges), len(raw))
    for edge, row in zip(edges, raw, strict=True):
        node = edge["node"]
        account = (
            row["account"][0]
            if isinstance(row["account"], list) and row["account"]
            else (row["account"] if isinstance(row["account"], dict) else None)
        )
        assert (node["account"] or {}).get("name") == (account or {}).get("name")
        assert [e["node"]["topic"] for e in node["leads"]["edges"]] == [
            d["topic"] for d in row["leads"]
        ]
        assert [e["node"]["type"] for e in node["interactions"]["edges"]] == [
            d["type"].upper() for d in row["interactions"]
        ]


async def run(args: argparse.Namespace, uri: str) -> None:
    async with scratch_database(uri, "bench_nested") as db:
        key = await seed_with_key(db, args.contacts)
        async with leadgraph_server(uri, db.name) as url, httpx.AsyncClient(timeout=120) as http:
            body = {"query": QUERY, "variables": {"n": args.page}}
            headers = {"Authorization": f"Bearer {key}"}

            async def graphql() -> dict[str, Any]:
                r = await http.post(f"{url}/graphql", json=body, headers=headers)
                r.raise_for_status()
                out = r.json()
                assert "errors" not in out, out["errors"]
                return out

            reference = await graphql()
            check_same(reference, await raw_in_finds(db, args.page))
            try:
                check_same(reference, await raw_lookup(db, args.page, True))
                server_slice = True
            except Exception as exc:  # no $sortArray: slice in Python instead
                print(f"($sortArray unavailable: {type(exc).__name__}; slicing in Python)")
                server_slice = False
                check_same(reference, await raw_lookup(db, args.page, False))

            check_same(reference, await raw_documents_lookup(db, args.page))
            results = await timed(
                {
                    LEADGRAPH: graphql,
                    LOOKUP: lambda: raw_lookup(db, args.page, server_slice),
                    IN_FINDS: lambda: raw_in_finds(db, args.page),
                    DOCUMENTS: lambda: raw_documents_lookup(db, args.page),
                },
                args.reps,
                args.warmup,
            )
            if args.include_correlated:
                t = time.perf_counter()
                await (await db.contacts.aggregate(correlated_pipeline(args.page))).to_list()
                results["raw correlated $lookup (1 run)"] = [(time.perf_counter() - t) * 1000]

        print(
            f"\ncontacts(first: {args.page}) with account, leads, interactions(last: 5); "
            f"{args.reps} reps after {args.warmup} warm-up"
        )
        for name, ms in results.items():
            print(summary(name, ms))
        lg = percentile(results[LEADGRAPH], 50)
        print()
        for label, names in (
            ("(a)/(b)", (LOOKUP, IN_FINDS)),
            ("(a)/(b)/(c)", (LOOKUP, IN_FINDS, DOCUMENTS)),
        ):
            base_name, base = min(
                ((n, percentile(results[n], 50)) for n in names), key=lambda x: x[1]
            )
            ratio = lg / base
            print(
                f"baseline = fastest of {label}: {base_name} p50 {base:.1f} ms; "
                f"leadgraph/baseline at p50 = {ratio:.2f} (target <= 2.0) "
                f"{'OK' if ratio <= 2.0 else 'ABOVE TARGET'}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1000, help="contacts to seed")
    parser.add_argument("--page", type=int, default=100, help="contacts per page")
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument(
        "--include-correlated",
        action="store_true",
        help="also time one run of the correlated $lookup form (minutes on SecantusDB)",
    )
    run_on_database(run, parser.parse_args())


if __name__ == "__main__":
    main()
