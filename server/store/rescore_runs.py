"""The ``rescore_runs`` collection: the background rescore of every lead when a rules version goes
live (:mod:`leadgraph.services.rescore_job`).

One document per time a version went live, its ``_id`` naming the version and the
``rules.version_live`` event it followed (two processes recording the same change race for one
``_id``: the second's transaction fails and records nothing): ``rulesVersion``, ``state``
(``pending``, ``running``, ``done``, ``failed``, ``superseded``), ``upTo`` (the last lead
``_id`` when the version went live: later leads were created with these rules), ``total``,
``done``, ``failed`` (leads a plugin failed on), ``checkpoint`` (the ``_id`` of the last lead
rescored: a resumed run goes on after it), ``holder`` (the process running it), ``error``,
``attempts``, ``createdAt``, ``startedAt``, ``finishedAt``. At most one run is pending or
running: a newer version going live supersedes it. Every progress write is conditional on the
run still running and on its holder, so a process that lost the run writes nothing.
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo import DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from ..types import Session
from ._base import now

NAME = "rescore_runs"
INDEXES = {
    NAME: [
        IndexModel([("state", DESCENDING), ("createdAt", DESCENDING)], name="state_createdAt"),
        IndexModel([("createdAt", DESCENDING)], name="createdAt"),
    ]
}
NEWEST = [("createdAt", DESCENDING), ("_id", DESCENDING)]

PENDING, RUNNING, DONE, FAILED, SUPERSEDED = "pending", "running", "done", "failed", "superseded"
ACTIVE = [PENDING, RUNNING]


async def active(db: AsyncDatabase, session: Session | None = None) -> dict[str, Any] | None:
    """The run pending or running, if any (the newest, should a race have left two)."""
    return await db[NAME].find_one({"state": {"$in": ACTIVE}}, sort=NEWEST, session=session)


async def latest(db: AsyncDatabase) -> dict[str, Any] | None:
    """The newest run, whatever its state."""
    return await db[NAME].find_one({}, sort=NEWEST)


async def supersede_others(db: AsyncDatabase, keep: Any, session: Session | None = None) -> int:
    """Every pending or running run but ``keep`` is superseded (a newer version went live)."""
    result = await db[NAME].update_many(
        {"_id": {"$ne": keep}, "state": {"$in": ACTIVE}},
        {"$set": {"state": SUPERSEDED, "finishedAt": now(), "holder": None}},
        session=session,
    )
    return result.modified_count


def run_id(version: str, after_event: ObjectId | None) -> str:
    """The ``_id`` of the run of ``version`` going live after the event ``after_event``."""
    return f"{version}@{after_event or 'first'}"


async def create(
    db: AsyncDatabase,
    key: str,
    version: str,
    up_to: ObjectId | None,
    session: Session | None = None,
) -> str:
    """A new run ``key`` for ``version`` over the leads up to ``up_to`` (none: nothing to
    rescore, the run is done at once).

    :raises DuplicateKeyError: another process created it.
    """
    t = now()
    doc: dict[str, Any] = {
        "_id": key,
        "rulesVersion": version,
        "state": PENDING if up_to is not None else DONE,
        "upTo": up_to,
        "total": None if up_to is not None else 0,
        "done": 0,
        "failed": 0,
        "checkpoint": None,
        "holder": None,
        "error": None,
        "attempts": 0,
        "createdAt": t,
        "startedAt": None if up_to is not None else t,
        "finishedAt": None if up_to is not None else t,
    }
    await db[NAME].insert_one(doc, session=session)
    return key


async def claim(db: AsyncDatabase, run: Any, holder: str, total: int) -> dict[str, Any] | None:
    """``holder`` runs (or resumes) the active run ``run``: the run, or None when it is no
    longer active.  ``total`` and ``startedAt`` are kept from an earlier start."""
    doc = await db[NAME].find_one_and_update(
        {"_id": run, "state": {"$in": ACTIVE}},
        {"$set": {"state": RUNNING, "holder": holder}},
        return_document=ReturnDocument.AFTER,
    )
    if doc is None or doc.get("total") is not None:
        return doc
    fresh = {"total": total, "startedAt": now()}
    await db[NAME].update_one({"_id": run, "total": None}, {"$set": fresh})
    return {**doc, **fresh}


async def progress(
    db: AsyncDatabase, run: Any, holder: str, done: int, failed: int, last: ObjectId
) -> bool:
    """``done`` more leads (``failed`` of them failing) rescored up to ``last``; False when
    the run is no longer ``holder``'s running run (superseded, or taken over)."""
    result = await db[NAME].update_one(
        {"_id": run, "state": RUNNING, "holder": holder},
        {"$inc": {"done": done, "failed": failed}, "$set": {"checkpoint": last}},
    )
    return bool(result.modified_count)


async def finish(
    db: AsyncDatabase, run: Any, holder: str, state: str, error: str | None = None
) -> bool:
    """End ``holder``'s running run as ``state`` (done, failed)."""
    result = await db[NAME].update_one(
        {"_id": run, "state": RUNNING, "holder": holder},
        {"$set": {"state": state, "finishedAt": now(), "holder": None, "error": error}},
    )
    return bool(result.modified_count)


async def failed_attempt(db: AsyncDatabase, run: Any, holder: str, error: str) -> int:
    """An attempt of ``holder`` ended in ``error`` (the run stays resumable): attempts so
    far."""
    doc = await db[NAME].find_one_and_update(
        {"_id": run, "state": RUNNING, "holder": holder},
        {"$inc": {"attempts": 1}, "$set": {"error": error}},
        return_document=ReturnDocument.AFTER,
    )
    return int(doc["attempts"]) if doc else 0


async def last_lead(db: AsyncDatabase, session: Session | None = None) -> ObjectId | None:
    """The ``_id`` of the newest lead (``leads``, read here for the run's bounds), if any."""
    from .leads import NAME as LEADS

    doc = await db[LEADS].find_one({}, {"_id": 1}, sort=[("_id", DESCENDING)], session=session)
    return ObjectId(doc["_id"]) if doc else None
