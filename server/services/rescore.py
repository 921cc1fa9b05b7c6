"""Rescoring many leads: the one batched road (``leadgraph rescore``, the funnel following an
edit of an account with many leads, and the background rescore when a rules version goes
live, see :mod:`leadgraph.services.rescore_job`).

Leads are read in ``_id`` order, ``batch`` at a time (without their outboxes), and each batch
goes through the funnel runner (evaluate, persist, announce).  The interactions the rules count
are counted once, for the whole database, when the run covers more than a batch (known when the
first batch is full: the leads are not counted first, which reads every row on the embedded
server); a lead whose derived data would not change is not written.  The roll-ups of the
accounts touched are refreshed once, at the end (every account's, when every lead was
rescored).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from ..store import leads
from ..store.clock import now as db_now
from .facts import count_all
from .history import Cause
from .report import Report

if TYPE_CHECKING:
    from .funnel import Funnel


async def rescore_leads(
    funnel: Funnel,
    query: dict[str, Any] | None = None,
    *,
    batch: int = 500,
    after: ObjectId | None = None,
    progress: Callable[[int], None] | None = None,
    each: Callable[[Report, int, ObjectId], Awaitable[None]] | None = None,
    triggers: Collection[str] = (),
    cause: Cause | None = None,
) -> Report:
    """Rescore every lead matching ``query`` (with an id above ``after``: a resumed run) in
    batches, firing ``triggers``; goes on past failing leads.  ``progress(n)`` after each
    batch of ``n`` leads; ``each(report, n, last id)`` with each batch's own report (a job
    persisting its progress)."""
    total = Report()
    t = db_now()
    rules = funnel.ruleset
    counted, first = None, True
    async for chunk in leads.batches(funnel.db, query or {}, batch, after=after):
        if rules is not None and first and len(chunk) == batch:  # more than a batch, maybe
            counted = await count_all(funnel.db, rules, t)
        first = False
        report = await funnel.run(
            chunk, triggers, now=t, counted=counted, rollups=False, cause=cause
        )
        report.leads = []  # not kept for the whole database
        total.merge(report)
        if progress is not None:
            progress(len(chunk))
        if each is not None:
            await each(report, len(chunk), chunk[-1]["_id"])
    if query:
        await funnel.rollups.refresh(total.accounts)
    else:  # everything rescored: every account's roll-ups too
        await funnel.rollups.refresh_all()
    return total
