"""Are acknowledged writes kept when the database is killed? (issue 16 point 6)

Per round: start the embedded database (SecantusDB child) on a fresh storage path, run
``--writers`` concurrent writers through leadgraph's client (``leadgraph.db.make_client``: its
write concern unless ``--uri-options`` overrides it), each inserting documents with an id and
the client-side time it was sent; every acknowledged id is recorded.  After ``--seconds`` the
database child is killed with SIGKILL mid-write, restarted after ``--down`` seconds on the same
storage path and port, and every acknowledged id is looked for.  Prints per round and in all:

    acknowledged: N   (inserts the database acknowledged before the kill)
    lost: M           (acknowledged ids missing after the restart: must be 0)
    unacknowledged_present: K  (in flight at the kill, not acknowledged, yet stored: allowed)

Run: ``python bench/durability.py --rounds 3 --writers 8 --seconds 3``.  Exit status 1 when
anything acknowledged was lost.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from leadgraph.db import make_client
from leadgraph.embedded import EmbeddedMongo
from pymongo.errors import PyMongoError

COLLECTION = "durability"
PROBE_URI = "mongodb://127.0.0.1/?directConnection=true"  # only to print the write concern


@dataclass
class Round:
    acknowledged: dict[str, float] = field(default_factory=dict)  # id -> client time sent
    in_flight: set[str] = field(default_factory=set)  # sent, answered with an error
    lost: list[tuple[str, float]] = field(default_factory=list)
    unacknowledged_present: int = 0


async def writer(uri: str, n: int, stop: asyncio.Event, out: Round) -> None:
    client = make_client(uri, serverSelectionTimeoutMS=2000, retryWrites=False)
    collection = client.bench[COLLECTION]
    seq = 0
    try:
        while not stop.is_set():
            doc_id = f"w{n}-{seq}"
            sent = time.time()
            try:
                await collection.insert_one({"_id": doc_id, "writer": n, "seq": seq, "at": sent})
            except PyMongoError:
                out.in_flight.add(doc_id)
                return  # the database is gone: this writer's last write is in doubt
            out.acknowledged[doc_id] = sent
            seq += 1
    finally:
        await client.close()


async def one_round(args: argparse.Namespace, storage: Path) -> Round:
    out = Round()
    db = EmbeddedMongo(storage).start()
    uri, port = db.uri + args.uri_options, db.port
    stop = asyncio.Event()
    tasks = [asyncio.create_task(writer(uri, n, stop, out)) for n in range(args.writers)]
    await asyncio.sleep(args.seconds)
    assert db.process is not None
    db.process.send_signal(signal.SIGKILL)  # mid-write: the writers are still inserting
    db.process.wait()
    killed_at = time.time()
    stop.set()
    await asyncio.gather(*tasks)
    db.process = None
    await asyncio.sleep(args.down)
    again = EmbeddedMongo(storage, port=port).start()
    try:
        client = make_client(again.uri)
        stored = {d["_id"] async for d in client.bench[COLLECTION].find({}, {"_id": 1})}
        await client.close()
    finally:
        again.stop()
    out.lost = sorted(
        (doc_id, sent) for doc_id, sent in out.acknowledged.items() if doc_id not in stored
    )
    out.unacknowledged_present = len(out.in_flight & stored)
    for doc_id, sent in out.lost[:10]:
        print(f"  LOST {doc_id} sent {killed_at - sent:.3f} s before the kill")
    return out


async def main(args: argparse.Namespace) -> int:
    acknowledged = lost = present = 0
    for n in range(args.rounds):
        storage = Path(tempfile.mkdtemp(prefix="leadgraph-durability-")) / "db"
        try:
            out = await one_round(args, storage)
        finally:
            shutil.rmtree(storage.parent, ignore_errors=True)
        acknowledged += len(out.acknowledged)
        lost += len(out.lost)
        present += out.unacknowledged_present
        print(
            f"round {n + 1}: acknowledged: {len(out.acknowledged)}  lost: {len(out.lost)}  "
            f"unacknowledged_present: {out.unacknowledged_present}"
        )
    concern = make_client(PROBE_URI + args.uri_options).write_concern
    print(f"write concern: {concern.document}")
    print(f"acknowledged: {acknowledged}")
    print(f"lost: {lost}")
    print(f"unacknowledged_present: {present}")
    return 1 if lost else 0


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=3.0, help="writing before the kill")
    parser.add_argument("--down", type=float, default=1.0, help="seconds before the restart")
    parser.add_argument(
        "--uri-options",
        default="",
        help="appended to the URI, e.g. '&w=1&journal=false' to compare a weaker concern",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse())))
