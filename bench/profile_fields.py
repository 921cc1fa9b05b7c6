"""Profile the GraphQL layer on the 500-contact, 13-scalar-field page of ``bench/fields.py``.

Runs the real app in this process (the ASGI app called through httpx's ASGI transport: the
view, the extensions, execution and the JSON encoding, no socket) under cProfile and prints
the top entries by own time and by cumulative time; docs/performance.md quotes them.

The profile's clock is this process's CPU time (``--clock cpu``, the default): on a machine
shared with other work, wall-clock profiles charge the waits for a core to whatever function
was running; ``--clock wall`` counts them (and the database's time, the embedded server being
another process).

    python bench/profile_fields.py [--contacts 600] [--reps 10] [--top 25] [--query nested]
        [--clock cpu|wall]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import time
import uuid

import httpx
from _harness import seed_with_key
from fields import NESTED, SCALARS
from leadgraph.config import Settings
from leadgraph.db import Connection, make_client
from leadgraph.embedded import EmbeddedMongo
from leadgraph.web.app import create_app

CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}


async def run(args: argparse.Namespace, uri: str) -> None:
    client = make_client(uri)
    db = client[f"bench_profile_{uuid.uuid4().hex[:8]}"]
    try:
        key = await seed_with_key(db, args.contacts)
        # no background rescore of the seeded leads: it would be profiled with the requests
        settings = Settings(max_page_size=500, secret="profile", rescore_on_rules_change=False)
        app = create_app(settings, Connection(client=client, db=db, embedded=None, uri=uri))
        body = (
            {"query": NESTED, "variables": {}}
            if args.query == "nested"
            else {"query": SCALARS, "variables": {"n": args.first}}
        )
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),  # rules, plugins, start-up as `leadgraph serve`
            httpx.AsyncClient(transport=transport, base_url="http://bench") as http,
        ):
            headers = {"Authorization": f"Bearer {key}"}
            for _ in range(2):  # warm-up
                (await http.post("/graphql", json=body, headers=headers)).raise_for_status()
            profile = cProfile.Profile(CLOCKS[args.clock])
            profile.enable()
            for _ in range(args.reps):
                (await http.post("/graphql", json=body, headers=headers)).raise_for_status()
            profile.disable()
        for sort in ("tottime", "cumulative"):
            out = io.StringIO()
            stats = pstats.Stats(profile, stream=out).strip_dirs().sort_stats(sort)
            stats.print_stats(args.top)
            print(f"--- by {sort}, {args.reps} requests")
            print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[:20000])
    finally:
        await client.drop_database(db.name)
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=600)
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--query", choices=("scalars", "nested"), default="scalars")
    parser.add_argument("--clock", choices=tuple(CLOCKS), default="cpu")
    parser.add_argument("--first", type=int, default=500, help="contacts of the scalars page")
    args = parser.parse_args()
    with EmbeddedMongo(":memory:") as embedded:
        asyncio.run(run(args, embedded.uri))


if __name__ == "__main__":
    main()
