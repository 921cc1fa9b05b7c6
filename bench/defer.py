"""Incremental delivery benchmark: does ``@defer`` / ``@stream`` send the nested contact page's
first bytes sooner?

The README's nested page (``bench/nested_query.py``: ``contacts(first: 100)`` with account,
leads and the last 5 interactions) is sent over HTTP to ``leadgraph serve`` in its own process,
in the same run and on the same data, as:

- ``plain``: the page as one JSON answer, from a server with LEADGRAPH_INCREMENTAL_DELIVERY off
  (the default) and from one with it on (what turning it on costs a query without directives);
- ``defer``: each contact's leads and interactions in a ``... @defer`` fragment (the initial
  part holds the page and the accounts; the rest follows as multipart/mixed parts);
- ``stream``: ``edges @stream(initialCount: 10)`` (ten contacts first, the others as parts).

For each it times the first byte of the body, the first complete part (the initial result: what
a client can render first) and the last byte; every answer is checked to hold the same data as
the plain one once its parts are merged.  Ratios are against the plain answer's last byte on the
server without the setting.

    python bench/defer.py [--contacts 1000] [--page 100] [--reps 15]

Uses ``MONGODB_URI`` when set (a throw-away database on it), else an in-memory embedded server.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from _harness import percentile, run_on_database, scratch_database, seed_with_key, timed
from _server import leadgraph_server
from nested_query import QUERY

DEFER = """query($n: Int!) {
  contacts(first: $n) {
    edges { node {
      account { name }
      ... @defer {
        leads { edges { node { topic stage } } }
        interactions(last: 5) { edges { node { type occurredAt } } }
      }
    } }
  }
}"""
STREAM = QUERY.replace("edges { node {\n", "edges @stream(initialCount: 10) { node {\n", 1)
ACCEPT = "multipart/mixed;deferSpec=20220824, application/json"
# the data stays put while it is timed: no background rescore after the servers start
OFF = {"LEADGRAPH_RESCORE_ON_RULES_CHANGE": "0"}
ON = {**OFF, "LEADGRAPH_INCREMENTAL_DELIVERY": "1"}


class Timing:
    """Milliseconds to the first body byte, the first complete part and the last byte."""

    def __init__(self) -> None:
        self.first_byte = self.first_part = self.total = 0.0


def parts(body: bytes) -> list[dict[str, Any]]:
    """The complete JSON parts of (the start of) a multipart/mixed body as strawberry writes it:
    ``---``, then per part ``\\r\\n<headers>\\r\\n\\r\\n<json>\\r\\n---``, then ``--\\r\\n``."""
    pieces = body.removeprefix(b"---").split(b"\r\n---")[:-1]  # the last one is not closed yet
    return [json.loads(piece.partition(b"\r\n\r\n")[2]) for piece in pieces]


def merged(answers: list[dict[str, Any]]) -> dict[str, Any]:
    """The data of an initial result with its incremental parts applied (defer: the fragment's
    fields merged in at its path; stream: the items appended to the list at its path)."""
    data = answers[0]["data"]
    paths: dict[str, list[Any]] = {}
    for answer in answers:
        assert not answer.get("errors"), answer["errors"]
        for p in answer.get("pending") or []:
            paths[p["id"]] = p["path"]
        for item in answer.get("incremental") or []:
            assert not item.get("errors"), item["errors"]
            target: Any = data
            for key in paths[item["id"]] + item.get("subPath", []):
                target = target[key]
            if "items" in item:
                target.extend(item["items"])
            else:
                deep_merge(target, item["data"])
    return {"data": data}


def deep_merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            deep_merge(into[key], value)
        else:
            into[key] = value


def request(
    http: httpx.AsyncClient, url: str, key: str, query: str, n: int, into: list[Timing]
) -> Callable[[], Awaitable[dict[str, Any]]]:
    """A timed request of ``query``: appends its :class:`Timing` to ``into``, answers its data
    (the parts merged)."""
    body = {"query": query, "variables": {"n": n}}
    headers = {"Authorization": f"Bearer {key}", "Accept": ACCEPT}

    async def send() -> dict[str, Any]:
        timing, chunks = Timing(), []
        start = time.perf_counter()
        async with http.stream("POST", f"{url}/graphql", json=body, headers=headers) as r:
            r.raise_for_status()
            multipart = r.headers["content-type"].startswith("multipart/mixed")
            async for chunk in r.aiter_bytes():
                now = (time.perf_counter() - start) * 1000
                timing.first_byte = timing.first_byte or now
                chunks.append(chunk)
                if not timing.first_part and (not multipart or len(parts(b"".join(chunks)))):
                    timing.first_part = now
        timing.total = (time.perf_counter() - start) * 1000
        timing.first_part = timing.first_part or timing.total
        into.append(timing)
        raw = b"".join(chunks)
        return merged(parts(raw)) if multipart else {"data": json.loads(raw)["data"]}

    return send


async def run(args: argparse.Namespace, uri: str) -> None:
    async with scratch_database(uri, "bench_defer") as db:
        key = await seed_with_key(db, args.contacts)
        async with (
            leadgraph_server(uri, db.name, OFF) as off,
            leadgraph_server(uri, db.name, ON) as on,
            httpx.AsyncClient(timeout=120) as http,
        ):
            runs: dict[str, list[Timing]] = {}
            calls = {}
            for name, url, query in (
                ("plain, setting off", off, QUERY),
                ("plain, setting on", on, QUERY),
                ("@defer leads+interactions", on, DEFER),
                ("@stream edges (initialCount 10)", on, STREAM),
            ):
                runs[name] = []
                calls[name] = request(http, url, key, query, args.page, runs[name])
            reference = await calls["plain, setting off"]()
            for name, call in calls.items():
                assert await call() == reference, f"{name} answers other data"
            for timings in runs.values():
                timings.clear()
            await timed(calls, args.reps, args.warmup)
            for timings in runs.values():
                del timings[: args.warmup]
    base = percentile([t.total for t in runs["plain, setting off"]], 50)
    print(
        f"\ncontacts(first: {args.page}) with account, leads, interactions(last: 5) over HTTP; "
        f"{args.reps} reps after {args.warmup} warm-up; p50 ms (ratio to plain/off last byte)"
    )
    print(f"  {'':<34} {'first byte':>18} {'first part':>18} {'last byte':>18}")
    for name, timings in runs.items():
        cells = []
        for attr in ("first_byte", "first_part", "total"):
            p50 = percentile([getattr(t, attr) for t in timings], 50)
            cells.append(f"{p50:8.1f} ({p50 / base:4.2f}x)")
        print(f"  {name:<34} " + " ".join(f"{c:>18}" for c in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1000, help="contacts to seed")
    parser.add_argument("--page", type=int, default=100, help="contacts per page")
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    run_on_database(run, parser.parse_args())


if __name__ == "__main__":
    main()
