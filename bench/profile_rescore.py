"""Profile ``leadgraph rescore``, its dry run and live scoring in this process under cProfile.

Generates ``bench/rescore.py``'s data once into a database kept on disk (``--data``, reused by
later runs), then profiles the funnel's batched rescore (what ``leadgraph rescore`` runs), the
dry run (the preview of the live rules) or live scoring of a busy contact, and prints the top
entries by own and by cumulative time; docs/performance.md quotes them.

    python bench/profile_rescore.py [--scale 0.05] [--data DIR] [--what rescore|dry|live]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import time
from datetime import UTC, datetime
from pathlib import Path

from _harness import indexes
from leadgraph.db import make_client
from leadgraph.embedded import EmbeddedMongo
from leadgraph.plugin_manager import get_plugin_manager
from leadgraph.rules.ruleset import load_rules
from leadgraph.services import Services
from leadgraph.services.facts import count_uncounted_days
from pymongo import monitoring
from rescore import ROOT, generate, live, unscore


class Timings(monitoring.CommandListener):
    """Database time per command and collection (what the server spends, seen by the client)."""

    def __init__(self) -> None:
        self.on = False
        self.started_at: dict[int, tuple[str, float]] = {}
        self.total: dict[str, list[float]] = {}  # command -> [count, seconds, documents back]
        self.slow: list[tuple[float, str, str]] = []
        self.commands: dict[int, str] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.on:
            name = event.command_name
            target = event.command.get("collection" if name == "getMore" else name)
            self.started_at[event.request_id] = (f"{name} {target}", time.perf_counter())
            self.commands[event.request_id] = str(
                {k: v for k, v in event.command.items() if k not in ("documents", "updates")}
            )[:300]

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        cursor = event.reply.get("cursor") or {}
        back = cursor.get("firstBatch", cursor.get("nextBatch", ()))
        self._end(event.request_id, len(back))

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._end(event.request_id, 0)

    def _end(self, request_id: int, documents: int) -> None:
        if (got := self.started_at.pop(request_id, None)) is not None:
            row = self.total.setdefault(got[0], [0, 0.0, 0])
            row[0] += 1
            row[1] += (took := time.perf_counter() - got[1])
            row[2] += documents
            if took > 1.0:
                self.slow.append((took, got[0], self.commands.pop(request_id, "")))
        self.commands.pop(request_id, None)


TIMINGS = Timings()


async def run(args: argparse.Namespace, uri: str) -> None:
    client = make_client(uri, event_listeners=[TIMINGS])
    db = client["bench_profile_rescore"]
    n_leads = max(10, int(100_000 * args.scale))
    if await db["leads"].estimated_document_count() != n_leads:
        await client.drop_database(db.name)
        await indexes(db)
        t = time.perf_counter()
        await generate(db, n_leads, max(10, int(1_000_000 * args.scale)), datetime.now(UTC))
        await count_uncounted_days(db)  # as bench/rescore.py and `leadgraph rescore` do
        print(f"generated in {time.perf_counter() - t:.1f}s", flush=True)
    pm = get_plugin_manager()
    services = Services(db, load_rules(ROOT / "rules", pm), pm)
    await unscore(db)
    profile = cProfile.Profile()
    t = time.perf_counter()
    TIMINGS.on = True
    profile.enable()
    if args.what == "rescore":
        await services.funnel.rescore_all({})
    elif args.what == "dry":
        assert services.ruleset is not None
        await services.preview.run(services.ruleset, segments=False)
    else:
        await live(db, args.live, args.recordings)
    profile.disable()
    TIMINGS.on = False
    print(f"{args.what}: {time.perf_counter() - t:.1f}s under the profiler")
    print("--- database time by command (seconds, commands, documents returned)")
    for what, (n, secs, back) in sorted(TIMINGS.total.items(), key=lambda kv: -kv[1][1]):
        print(f"{secs:8.2f}s {n:6d} {back:8d}  {what}")
    for took, what, command in TIMINGS.slow:
        print(f"slow {took:.2f}s {what}: {command}")
    for sort in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profile, stream=out).strip_dirs().sort_stats(sort).print_stats(args.top)
        print(f"--- by {sort}")
        print("\n".join(line for line in out.getvalue().splitlines() if line.strip()))
    await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.05)
    parser.add_argument("--data", type=Path, default=Path("/tmp/leadgraph-profile-rescore"))
    parser.add_argument("--what", choices=["rescore", "dry", "live"], default="rescore")
    parser.add_argument("--live", type=int, default=10_000)
    parser.add_argument("--recordings", type=int, default=10)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    with EmbeddedMongo(args.data / "db") as server:
        asyncio.run(run(args, server.uri))


if __name__ == "__main__":
    main()
