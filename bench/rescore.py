"""Rescoring benchmark against a throw-away embedded database.

Generates (in bulk) 100,000 unscored leads of 50,000 contacts in 10,000 accounts with
1,000,000 interactions over the last year (``--scale`` for less), then times, in the same run:

- ``leadgraph rescore`` (every lead scored, sales-ready and moved along the lifecycle),
- ``leadgraph rescore --dry-run`` (the live rules against the stored state, nothing written),
- ``leadgraph rules diff DIR`` (a rule-change preview: the shipped rules with another
  threshold and heavier opens),

against a hand-written baseline computing the same points model (the shipped ``engagement``
model): one ``$group`` aggregation of the interactions by contact and type with the windows
as conditional sums, the contacts, accounts and leads read in one aggregation each, the points
added up in Python and written with ``bulk_write``; the preview baselines are the same without
the write.  Then live scoring: recording an interaction for a contact with 10,000 interactions
(the interaction stored, the contact's leads rescored as ``recordInteraction`` does), p50/p99,
next to reading that contact's interactions whole (what the funnel read before it counted).

    python bench/rescore.py [--scale 1.0] [--live 10000] [--recordings 50] [--live-only]

``--live-only``: the data is generated, then only live scoring is timed (``live_ratio: R``).

The last line is ``ratio: R``: ``leadgraph rescore`` time / the baseline's (target <= 2.0).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _harness import empty, indexes, percentile, setup
from bson import ObjectId
from leadgraph.contracts import CONTACT_ROLES, INTERACTION_TYPES
from leadgraph.db import make_client
from leadgraph.embedded import EmbeddedMongo
from leadgraph.rules.ruleset import load_rules
from leadgraph.services import Services
from leadgraph.services.facts import count_uncounted_days
from leadgraph.store import interaction_days, interactions, leads
from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

ROOT = Path(__file__).resolve().parent.parent
#: The built-in engagement types (not the subscription and consent changes), and how often each.
TYPES = [t for t in INTERACTION_TYPES if not t.endswith("_changed")]
WEIGHTS = [30, 30, 10, 5, 20, 3, 2]
TITLES = ["Director of IT", "Chief Marketing Officer", "Head of Sales", "Engineer", "Analyst"]
CHUNK = 10_000


# ---------------------------------------------------------------- data


async def regenerate(db: AsyncDatabase, n_leads: int, n_interactions: int, now: datetime) -> None:
    """``generate`` into an emptied ``db`` (so a retried set-up does not generate twice)."""
    await empty(db)
    await generate(db, n_leads, n_interactions, now)
    await count_uncounted_days(db)  # the days counted, as this version stores them (a migration)


async def generate(db: AsyncDatabase, n_leads: int, n_interactions: int, now: datetime) -> None:
    rng = random.Random(11)
    n_contacts = max(1, n_leads // 2)
    n_accounts = max(1, n_contacts // 5)
    account_ids = [ObjectId() for _ in range(n_accounts)]
    await _bulk(
        db,
        "accounts",
        (
            {
                "_id": a,
                "name": f"Account {i}",
                "numberOfEmployees": rng.choice([25, 150, 400, 5000]),
            }
            for i, a in enumerate(account_ids)
        ),
    )
    contact_ids = [ObjectId() for _ in range(n_contacts)]
    await _bulk(
        db,
        "contacts",
        (
            {
                "_id": c,
                "lastName": f"C{i}",
                "email": f"c{i}@example.com",
                "role": rng.choice(CONTACT_ROLES),
                "jobTitle": rng.choice(TITLES),
                "accountId": rng.choice(account_ids),
                "preferences": {"allowBulkEmail": rng.random() < 0.8},
                "insights": {"total": 0, "counts": {}},
            }
            for i, c in enumerate(contact_ids)
        ),
    )
    await _bulk(
        db,
        "leads",
        (
            leads.new_document(
                {"_id": ObjectId(), "topic": f"Lead {i}", "parentContactId": contact_ids[i // 2]},
                stage="inquiry",
            )
            for i in range(n_leads)
        ),
    )
    year = 365 * 86400
    await _bulk(
        db,
        "interactions",
        (
            interactions.new_document(
                {
                    "contactId": rng.choice(contact_ids),
                    "type": rng.choices(TYPES, WEIGHTS)[0],
                    "occurredAt": now - timedelta(seconds=rng.randint(0, year)),
                }
            )
            for _ in range(n_interactions)
        ),
    )


async def _bulk(db: AsyncDatabase, name: str, docs: Any) -> None:
    chunk: list[dict[str, Any]] = []
    for doc in docs:
        chunk.append(doc)
        if len(chunk) == CHUNK:
            await db[name].insert_many(chunk, ordered=False)
            chunk = []
    if chunk:
        await db[name].insert_many(chunk, ordered=False)


async def unscore(db: AsyncDatabase) -> None:
    """Every lead back to unscored at the initial stage (between timed runs, not timed)."""
    await db["leads"].update_many(
        {},
        {
            "$set": {
                "scores": [],
                "salesReady": False,
                "salesReadyHeld": [],
                "stage": "inquiry",
                "funnelVersion": None,
            },
            "$inc": {"rev": 1},
        },
    )


# ---------------------------------------------------------------- the hand-written baseline


async def baseline(db: AsyncDatabase, now: datetime, *, write: bool) -> int:
    """The shipped engagement model by hand: returns how many leads it scored."""
    since = {d: now - timedelta(days=d) for d in (30, 90, 180)}
    pipeline = [
        {
            "$match": {
                "type": {
                    "$in": ["email_opened", "email_clicked", "form_submitted", "event_attended"]
                },
                "occurredAt": {"$gte": since[180]},
            }
        },
        {
            "$group": {
                "_id": {"c": "$contactId", "t": "$type"},
                **{
                    f"d{d}": {"$sum": {"$cond": [{"$gte": ["$occurredAt", s]}, 1, 0]}}
                    for d, s in since.items()
                },
            }
        },
    ]
    counts: dict[Any, dict[str, int]] = {}
    async for row in await db["interactions"].aggregate(pipeline, batchSize=100_000):
        c = counts.setdefault(row["_id"]["c"], {})
        window = {"email_opened": 30, "email_clicked": 30, "form_submitted": 90}.get(
            row["_id"]["t"], 180
        )
        c[row["_id"]["t"]] = row[f"d{window}"]
    people = {
        d["_id"]: d
        async for d in await db["contacts"].aggregate(
            [{"$project": {"role": 1, "jobTitle": 1, "accountId": 1, "preferences": 1}}],
            batchSize=100_000,
        )
    }
    size = {
        d["_id"]: d.get("numberOfEmployees")
        async for d in await db["accounts"].aggregate(
            [{"$project": {"numberOfEmployees": 1}}], batchSize=100_000
        )
    }
    ops: list[UpdateOne] = []
    n = 0
    async for lead in await db["leads"].aggregate(
        [{"$project": {"parentContactId": 1}}], batchSize=100_000
    ):
        p = people.get(lead.get("parentContactId")) or {}
        c = counts.get(p.get("_id"), {})
        title = (p.get("jobTitle") or "").lower()
        parts = [
            ("decision maker", 20 if p.get("role") == "decisionMaker" else 0),
            (
                "senior job title",
                10 if any(w in title for w in ("director", "chief", "head of")) else 0,
            ),
            ("company of 250 or more", 10 if (size.get(p.get("accountId")) or 0) >= 250 else 0),
            ("email opened (5 each, last 30 days)", min(5 * c.get("email_opened", 0), 25)),
            ("email link clicked (10 each, last 30 days)", min(10 * c.get("email_clicked", 0), 30)),
            ("landing page submitted", min(15 * c.get("form_submitted", 0), 30)),
            ("attended an event", 25 if c.get("event_attended", 0) else 0),
            (
                "no bulk email allowed",
                -10 if (p.get("preferences") or {}).get("allowBulkEmail") is False else 0,
            ),
        ]
        score = float(sum(v for _, v in parts))
        entry = {
            "model": "engagement",
            "score": score,
            "salesReady": score >= 60,
            "explanation": [{"rule": r, "points": float(v)} for r, v in parts if v],
        }
        n += 1
        if write:
            ops.append(UpdateOne({"_id": lead["_id"]}, {"$set": {"scores": [entry]}}))
            if len(ops) == 1000:
                await db["leads"].bulk_write(ops, ordered=False)
                ops = []
    if ops:
        await db["leads"].bulk_write(ops, ordered=False)
    return n


# ---------------------------------------------------------------- leadgraph, as a user runs it


def leadgraph(uri: str, db_name: str, rules: Path, *args: str) -> tuple[float, str]:
    env = {
        **os.environ,
        "MONGODB_URI": uri,
        "LEADGRAPH_DB_NAME": db_name,
        "LEADGRAPH_RULES_DIR": str(rules),
    }
    exe = str(Path(sys.executable).parent / "leadgraph")
    t = time.perf_counter()
    done = subprocess.run([exe, *args], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if done.returncode != 0:
        raise RuntimeError(f"leadgraph {' '.join(args)} failed: {done.stderr[-2000:]}")
    return elapsed, done.stdout


# ---------------------------------------------------------------- live scoring


async def live(db: AsyncDatabase, n: int, recordings: int) -> tuple[list[float], list[float]]:
    """Record ``recordings`` interactions for a contact with ``n`` interactions, rescoring its
    lead each time as ``recordInteraction`` does; and read its interactions whole as often."""
    now = datetime.now(UTC)
    contact: dict[str, Any] = {
        "_id": ObjectId(),
        "lastName": "Busy",
        "role": "user",
        "insights": {},
    }
    await db["contacts"].insert_one(contact)
    await db["leads"].insert_one(
        leads.new_document({"topic": "busy", "parentContactId": contact["_id"]}, stage="inquiry")
    )
    rng = random.Random(5)
    await _bulk(
        db,
        "interactions",
        (
            interactions.new_document(
                {
                    "contactId": contact["_id"],
                    "type": rng.choices(TYPES, WEIGHTS)[0],
                    "occurredAt": now - timedelta(seconds=rng.randint(0, 365 * 86400)),
                }
            )
            for _ in range(n)
        ),
    )
    await interaction_days.rebuild(db, [contact["_id"]])  # as `leadgraph rescore` counts them
    funnel = Services(db, load_rules(ROOT / "rules"), None).funnel
    scoring: list[float] = []
    whole: list[float] = []
    for i in range(recordings):
        t = time.perf_counter()
        await interactions.record(db, {"contactId": contact["_id"], "type": TYPES[i % 3]})
        report = await funnel.after_engagement(contact)
        scoring.append(time.perf_counter() - t)
        assert report.leads and not report.failed
        t = time.perf_counter()
        await interactions.of_contacts(db, [contact["_id"]])
        whole.append(time.perf_counter() - t)
    return scoring, whole


async def uncounted(db: AsyncDatabase, recordings: int) -> list[float]:
    """Live scoring of the busy contact (the last one :func:`live` made) with its days not
    counted: counted from its interactions, the road before ``interaction_days``."""
    contact = await db["contacts"].find_one({"lastName": "Busy"}, sort=[("_id", -1)])
    assert contact is not None
    await db["contacts"].update_one(
        {"_id": contact["_id"]}, {"$unset": {interaction_days.MARKER: ""}}
    )
    contact.pop(interaction_days.MARKER, None)
    funnel = Services(db, load_rules(ROOT / "rules"), None).funnel
    out = []
    for i in range(recordings):
        t = time.perf_counter()
        await interactions.record(db, {"contactId": contact["_id"], "type": TYPES[i % 3]})
        await funnel.after_engagement(contact)
        out.append(time.perf_counter() - t)
    return out


async def report_live(db: AsyncDatabase, n: int, recordings: int) -> None:
    """Time live scoring (:func:`live`) and print it, and its ratio to reading whole."""
    scoring_times, whole = await live(db, n, recordings)
    print(
        f"live scoring per recorded interaction, contact with {n:,} interactions: "
        f"p50 {1000 * percentile(scoring_times, 50):.1f} ms, "
        f"p99 {1000 * percentile(scoring_times, 99):.1f} ms; "
        f"reading its interactions whole: p50 {1000 * percentile(whole, 50):.1f} ms",
        flush=True,
    )
    before = await uncounted(db, max(5, recordings // 5))
    print(
        f"the same, its days not counted (counted from its interactions, the road before): "
        f"p50 {1000 * percentile(before, 50):.1f} ms",
        flush=True,
    )
    ratio = percentile(scoring_times, 50) / percentile(whole, 50)
    print(f"live_ratio: {ratio:.2f} (p50 live scoring / p50 reading whole; target <= 1.0)")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0: 100,000 leads")
    parser.add_argument("--live", type=int, default=10_000, help="interactions of the contact")
    parser.add_argument("--recordings", type=int, default=50)
    parser.add_argument(
        "--live-only", action="store_true", help="generate the data, then time live scoring only"
    )
    args = parser.parse_args()
    n_leads = max(10, int(100_000 * args.scale))
    n_interactions = max(10, int(1_000_000 * args.scale))
    work = Path(tempfile.mkdtemp(prefix="leadgraph-bench-rescore-"))
    rules = ROOT / "rules"
    candidate = work / "candidate"
    shutil.copytree(rules, candidate)
    scoring = candidate / "scoring.yaml"
    text = scoring.read_text().split("\ntests:")[0]
    scoring.write_text(
        text.replace("threshold: 60", "threshold: 45").replace("points: 5\n", "points: 8\n")
    )
    lifecycle = candidate / "lifecycle.yaml"
    lifecycle.write_text(lifecycle.read_text().split("\ntests:")[0] + "\n")
    try:
        with EmbeddedMongo(":memory:") as server:
            client = make_client(server.uri)
            db = client["bench_rescore"]
            await indexes(db)
            t = time.perf_counter()
            now = datetime.now(UTC)
            await setup("generating the data", lambda: regenerate(db, n_leads, n_interactions, now))
            print(
                f"generated {n_leads:,} leads, {n_leads // 2:,} contacts, "
                f"{n_interactions:,} interactions in {time.perf_counter() - t:.1f}s",
                flush=True,
            )

            if args.live_only:
                await report_live(db, args.live, args.recordings)
                return
            t = time.perf_counter()
            scored = await baseline(db, datetime.now(UTC), write=True)
            base_write = time.perf_counter() - t
            t = time.perf_counter()
            await baseline(db, datetime.now(UTC), write=False)
            base_read = time.perf_counter() - t
            print(
                f"baseline (aggregation + bulk_write): {base_write:.1f}s for {scored:,} leads; "
                f"without the write: {base_read:.1f}s",
                flush=True,
            )
            await unscore(db)

            rescore, _ = leadgraph(server.uri, db.name, rules, "rescore")
            print(
                f"leadgraph rescore: {rescore:.1f}s ({1000 * rescore / n_leads:.2f} ms per lead); "
                f"ratio {rescore / base_write:.2f}x",
                flush=True,
            )
            dry, out = leadgraph(server.uri, db.name, rules, "rescore", "--dry-run")
            assert out.splitlines()[1].startswith("0 leads would change"), out[:500]
            print(
                f"leadgraph rescore --dry-run: {dry:.1f}s; ratio {dry / base_read:.2f}x", flush=True
            )
            diff, out = leadgraph(server.uri, db.name, rules, "rules", "diff", str(candidate))
            print(
                f"leadgraph rules diff (threshold 45, opens 8): {diff:.1f}s; "
                f"ratio {diff / base_read:.2f}x; {out.splitlines()[1]}",
                flush=True,
            )

            await report_live(db, args.live, args.recordings)
            await client.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"ratio: {rescore / base_write:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
