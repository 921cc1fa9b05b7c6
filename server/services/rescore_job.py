"""The background rescore of every lead when a rules version goes live.

When a version goes live (a server starting with rules the database has not seen live, a hot
reload, ``reloadRules``), :func:`went_live` appends the ``rules.version_live`` event and, in the
same transaction, a pending run (:mod:`leadgraph.store.rescore_runs`) over the leads that exist
then (later leads are created with the new rules) and are not at the version yet; a run of an
older version still pending or running is superseded. ``LEADGRAPH_RESCORE_ON_RULES_CHANGE=0``
records the event without a run (``leadgraph rescore`` is then the admin's to run).

Every server process runs :func:`run_round` when its rules go live and every
``rescore_poll_seconds``: the holder of the ``rules-rescore`` lease
(:mod:`leadgraph.store.leases`) whose live rules are the run's rescores the leads in ``_id``
order through the one batched road (:func:`leadgraph.services.rescore.rescore_leads`: the
funnel's evaluate, persist and announce, with their ``lead.scored`` and ``lead.stage_changed``
events). After each batch it stores the progress and the last lead's ``_id`` (the checkpoint)
and renews the lease; a process that dies stops renewing, and once the lease expired another one
resumes after the checkpoint. A batch rescored again after a kill changes nothing the second
time (the leads are already at the new version).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from ..db import in_transaction
from ..events import RulesVersionLive
from ..store import leads, leases
from ..store import rescore_runs as runs
from ..types import PluginManager, Session
from . import dispatch
from .funnel import Funnel, Report
from .history import Cause
from .rescore import rescore_leads

log = logging.getLogger("leadgraph.rescore")

LEASE = "rules-rescore"
#: Attempts that end in an error (the database away, a bug) before a run is given up as failed.
MAX_ATTEMPTS = 3


async def went_live(
    db: AsyncDatabase,
    pm: PluginManager | None,
    version: str,
    last: dict[str, Any] | None,
    *,
    rescore: bool,
) -> None:
    """Record that ``version`` went live after the ``rules.version_live`` event ``last`` and,
    when ``rescore``, the run that rescores the leads with it, superseding an older version's
    run.  Of processes racing to record the same change, one does."""
    previous = last["record"]["id"] if last else None
    live = RulesVersionLive(rules_version=version, previous_version=previous)
    key = runs.run_id(version, last["_id"] if last else None)

    async def work(session: Session | None) -> None:
        keep = None
        if rescore:
            up_to = await runs.last_lead(db, session)
            keep = await runs.create(db, key, version, up_to, session)
        await runs.supersede_others(db, keep, session)
        await dispatch.append(db, pm, [live], session)

    try:
        await in_transaction(db, work)
    except DuplicateKeyError:  # another process recorded this very change: nothing to add
        return
    await dispatch.deliver(db, pm, [live])


class _Lost(Exception):
    """The run is no longer this process's (superseded, or taken over after a lost lease)."""


@dataclass
class Round:
    """One process's turn at the active run: its database, the funnel of its live rules, its
    name as a lease holder, the batch size and the lease's ttl in seconds."""

    db: AsyncDatabase
    funnel: Funnel
    holder: str
    batch: int = 500
    ttl: float = 60.0

    async def run(self) -> str | None:
        """Start or resume the active run if its version is this process's live one: the
        state it ended in, or None when there was nothing for this process to do."""
        run = await runs.active(self.db)
        version = self.funnel.version
        if run is None or version is None or run["rulesVersion"] != version:
            return None
        if await leases.acquire(self.db, LEASE, self.holder, self.ttl) is None:
            return None  # another process is at it
        try:
            # the leads of then, not yet at this version (nor scored by it since)
            scope = {"$and": [{"_id": {"$lte": run["upTo"]}}, leads.stale_query(version)]}
            claimed = await runs.claim(
                self.db, run["_id"], self.holder, await leads.count(self.db, scope)
            )
            if claimed is None:
                return None
            return await self._rescore(claimed, scope)
        finally:
            await leases.release(self.db, LEASE, self.holder)

    async def _rescore(self, run: dict[str, Any], scope: dict[str, Any]) -> str:
        oid, version = run["_id"], str(run["rulesVersion"])
        if run.get("checkpoint") is not None:
            log.warning(
                "resuming the rescore for rules %s after lead %s", version, run["checkpoint"]
            )

        async def each(report: Report, n: int, last: ObjectId) -> None:
            if not await runs.progress(self.db, oid, self.holder, n, len(report.failed), last):
                raise _Lost
            if await leases.renew(self.db, LEASE, self.holder, self.ttl) is None:
                raise _Lost

        cause = Cause("rule_change", reason=f"rules {version} went live")
        try:
            report = await rescore_leads(
                self.funnel,
                scope,
                batch=self.batch,
                after=run.get("checkpoint"),
                each=each,
                cause=cause,
            )
        except _Lost:
            log.info("the rescore for rules %s was superseded or taken over", version)
            return runs.SUPERSEDED
        except Exception as exc:
            return await self._failed(oid, version, exc)
        if report.failed:
            error = (
                f"{len(report.failed)} lead(s) could not be rescored (a plugin failed); they are "
                "marked stale (Lead.scoreError): `leadgraph rescore --stale` finishes them"
            )
            await runs.finish(self.db, oid, self.holder, runs.FAILED, error)
            return runs.FAILED
        await runs.finish(self.db, oid, self.holder, runs.DONE)
        log.info("rescored the leads with rules %s", version)
        return runs.DONE

    async def _failed(self, oid: Any, version: str, exc: Exception) -> str:
        """An attempt ended in an error: the run stays resumable, until its last attempt."""
        log.exception("the rescore for rules %s failed", version)
        error = f"the rescore stopped: {type(exc).__name__}: {exc}"
        attempts = await runs.failed_attempt(self.db, oid, self.holder, error)
        if attempts >= MAX_ATTEMPTS:
            await runs.finish(self.db, oid, self.holder, runs.FAILED, error)
            return runs.FAILED
        return runs.RUNNING


async def status(db: AsyncDatabase) -> dict[str, Any] | None:
    """The newest run (what ``rulesStatus { rescore }`` shows), or None before any."""
    return await runs.latest(db)
