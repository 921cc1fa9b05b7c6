"""Captures a killed process left half done, finished while the server runs.

A capture is one transaction now (:mod:`leadgraph.services.capture`) and leaves nothing half
done; earlier versions noted each request in ``pending_captures`` and deleted the note in the
interaction's transaction, so a note older than ``capture_sweep_age_seconds`` belongs to a
process of such a version killed mid-capture.  Every ``capture_sweep_seconds`` one server
process (the holder of the ``capture-sweep`` lease, :mod:`leadgraph.store.leases`) runs those
captures again (matching finds what the first run wrote; the interaction is recorded once),
renewing the lease before each, then releases match keys whose record was never written.
Start-up does one round before serving, waiting for a round another process is in to end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from datetime import timedelta
from typing import Any

from ..errors import UserError
from ..store import clock, leases, match_keys, pending_captures
from .state import AppState

log = logging.getLogger("leadgraph")

LEASE = "capture-sweep"


def holder_of(state: AppState) -> str:
    """This server process's name as a lease holder."""
    return f"{socket.gethostname()}:{os.getpid()}:{id(state)}"


def _ttl(state: AppState) -> float:
    """How long a round may go without renewing: a few intervals, never under 10 s."""
    return max(state.settings.capture_sweep_seconds * 3, 10.0)


async def finish_one(state: AppState, doc: dict[str, Any]) -> bool:
    """Run one interrupted capture again; True when it is done with (completed, or refused
    now and dropped), False when it failed and stays for the next round."""
    capture = state.services.get(state.db, state.rules, state.pm).capture
    request = doc["request"]
    try:
        await capture.submit(
            form_id=request["formId"],
            fields=json.loads(request["fields"]),
            interaction_type=request["interactionType"],
            event_id=request.get("eventId"),
            marketing_context=request.get("marketingContext"),
            idempotency_key=request.get("idempotencyKey"),
            occurred_at=request.get("occurredAt"),
            source=request.get("source", "form"),
            pending=doc,
        )
    except UserError as exc:  # refused now (the rules changed): logged, then dropped
        log.error("interrupted capture %s cannot be completed: %s", doc["_id"], exc)
    except Exception:
        log.exception("interrupted capture %s: will retry at the next sweep", doc["_id"])
        return False
    await pending_captures.finish(state.db, doc["_id"])
    log.warning(
        "completed the capture of form %s interrupted at %s",
        request["formId"],
        doc["createdAt"].isoformat(),
    )
    return True


async def sweep_round(state: AppState, holder: str) -> int | None:
    """One round as ``holder``: how many interrupted captures it finished, or None when
    another process holds the lease (it is sweeping)."""
    db, ttl = state.db, _ttl(state)
    if await leases.acquire(db, LEASE, holder, ttl) is None:
        return None
    try:
        cutoff = clock.now() - timedelta(seconds=state.settings.capture_sweep_age_seconds)
        done = 0
        for doc in await pending_captures.started_before(db, cutoff):
            if await leases.renew(db, LEASE, holder, ttl) is None:
                return done  # it expired and another process took over: it goes on
            done += await finish_one(state, doc)
        released = await match_keys.release_dangling(db, cutoff)
        if released:
            log.warning("released %d match keys whose records were never written", released)
        return done
    finally:
        await leases.release(db, LEASE, holder)


async def start_up_round(state: AppState) -> int:
    """The round start-up runs before serving; when another process is in one, wait for it to
    end (or its lease to expire) and sweep after it."""
    holder = holder_of(state)
    while (done := await sweep_round(state, holder)) is None:
        await asyncio.sleep(0.1)
    return done


async def sweep_captures(state: AppState, stop: asyncio.Event) -> None:
    """Every ``capture_sweep_seconds`` until ``stop``: one round (see the module docstring)."""
    holder = holder_of(state)
    every = max(state.settings.capture_sweep_seconds, 0.05)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
        if stop.is_set():
            return
        try:
            await sweep_round(state, holder)
        except Exception:  # the database is away: the next round tries again
            log.exception("sweeping interrupted captures failed")
