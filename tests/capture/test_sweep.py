"""Issue 16 point 12: a capture a killed process left half done is finished by a running
server's periodic sweep, without a restart, and by one process when two sweep the database."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hardening.test_outage import interrupted
from leadgraph.config import Settings
from leadgraph.db import Connection
from leadgraph.store import leases, pending_captures
from leadgraph.web.app import create_app
from leadgraph.web.capture_sweep import LEASE, start_up_round
from serving import free_port, served
from shipped import SHIPPED

DEADLINE = 30.0  # seconds a sweep may take to get there on a loaded machine


@contextlib.asynccontextmanager
async def sweeping(db: Any, every: float) -> AsyncIterator[Any]:
    settings = Settings(
        rules_dir=SHIPPED,
        port=free_port(),
        capture_sweep_seconds=every,
        capture_sweep_age_seconds=30,
    )
    app = create_app(
        settings, connection=Connection(client=db.client, db=db, embedded=None, uri="")
    )
    async with served(app, settings):
        yield app


async def until(check: Any) -> None:
    """Wait for ``check()`` to hold (polled), failing after DEADLINE seconds."""
    deadline = asyncio.get_running_loop().time() + DEADLINE
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "the sweep never came"
        await asyncio.sleep(0.05)


async def test_a_running_server_finishes_an_interrupted_capture(db: Any) -> None:
    async with sweeping(db, every=0.1) as app:
        # a process dies mid-capture while this server runs (after its start-up repair)
        cid = await interrupted(db, "ann@example.com", key="sub-1")
        fresh = {"formId": "webinar", "fields": '{"email": "bob@example.com"}'}
        await pending_captures.start(db, {**fresh, "interactionType": "form_submitted"})
        await until(lambda: db.interactions.count_documents({"contactId": cid}))

        async def only_the_fresh_note_left() -> bool:
            return await db.pending_captures.count_documents({}) == 1

        # the interrupted note goes with the interaction's transaction; on an engine whose
        # commit shows one collection a moment before the other, wait for both to be seen
        await until(only_the_fresh_note_left)
        await start_up_round(app.state.leadgraph)  # one more whole round: the fresh note stays
        (interaction,) = await db.interactions.find({"contactId": cid}).to_list()
        assert interaction["formId"] == "webinar"
        assert await db.submissions.find_one({"key": "sub-1"}) is not None
        # younger than capture_sweep_age_seconds: it may be running elsewhere, left alone
        assert await db.contacts.count_documents({"emailNormalized": "bob@example.com"}) == 0
        assert await db.pending_captures.count_documents({}) == 1


async def test_two_sweeping_servers_finish_each_capture_once(
    db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="leadgraph")
    async with sweeping(db, every=0.05), sweeping(db, every=0.05):
        # pending captures of people the servers never saw, each one with its contact written
        ids = [await interrupted(db, f"p{i}@example.com") for i in range(6)]

        async def all_done() -> bool:
            if await db.pending_captures.count_documents({}):
                return False
            return await db.interactions.count_documents({"contactId": {"$in": ids}}) == 6

        await until(all_done)
    completed = [r for r in caplog.records if "completed the capture" in r.getMessage()]
    assert len(completed) == 6
    assert await db.interactions.count_documents({}) == 6
    assert await leases.holder_of(db, LEASE) is None  # released after each round


async def test_a_round_waits_for_the_lease(db: Any) -> None:
    from leadgraph.web.capture_sweep import sweep_round

    async with sweeping(db, every=3600) as app:
        state = app.state.leadgraph
        cid = await interrupted(db, "cy@example.com")
        assert await leases.acquire(db, LEASE, "another-process", 60)
        assert await sweep_round(state, "this-process") is None  # the other one sweeps
        assert await db.interactions.count_documents({"contactId": cid}) == 0
        await leases.release(db, LEASE, "another-process")
        assert await sweep_round(state, "this-process") == 1
        assert await db.interactions.count_documents({"contactId": cid}) == 1
