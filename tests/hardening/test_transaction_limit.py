"""The bound on transactions at once (``LEADGRAPH_MAX_TRANSACTIONS``, db.limit_transactions):
many captures at once never have more transactions open than the bound, every one of them
lands, and the setting is read from the environment (issue 21 point 2)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from leadgraph import db as lgdb
from leadgraph.config import Settings
from leadgraph.services import Services
from leadgraph.types import Session


async def _peak(db: Any, n: int) -> tuple[int, int]:
    """The most transactions open at once, and how many committed, of ``n`` started together
    (each reads twice, then writes)."""
    open_now = peak = 0

    async def work(session: Session) -> None:
        nonlocal open_now, peak
        open_now += 1
        peak = max(peak, open_now)
        try:
            await db.probe.find_one({}, session=session)  # each await lets the others run
            await db.probe.find_one({"at": 1}, session=session)
            await db.probe.insert_one({"at": 1}, session=session)
        finally:
            open_now -= 1

    await asyncio.gather(*(lgdb.in_transaction(db, work) for _ in range(n)))
    return peak, await db.probe.count_documents({})


async def test_at_most_the_bound_of_transactions_run_at_once(db, mongo_client):
    lgdb.limit_transactions(mongo_client, 2)
    try:
        assert await _peak(db, 8) == (2, 8)
    finally:
        lgdb.limit_transactions(mongo_client, 0)
    peak, done = await _peak(db, 8)  # no bound: they all open together
    assert peak > 2 and done == 16


async def test_captures_at_once_under_the_bound_all_land_once(db, mongo_client):
    services = Services(db, None, None)
    lgdb.limit_transactions(mongo_client, 1)
    try:
        emails = [f"p{i % 5}@example.com" for i in range(20)]  # the same people, at once
        await asyncio.gather(
            *(services.capture.submit(form_id="f", fields={"email": e}) for e in emails)
        )
    finally:
        lgdb.limit_transactions(mongo_client, 0)
    assert await db.contacts.count_documents({}) == 5
    assert await db.interactions.count_documents({}) == 20


async def test_a_transaction_started_inside_one_does_not_wait_for_a_turn(db, mongo_client):
    """A service called in a transaction may start its own (without the session): under a
    bound of 1 that must not wait for the turn its caller holds (a deadlock)."""

    async def inner(session: Session) -> int:
        await db.probe_inner.insert_one({"inner": 1}, session=session)
        return 1

    async def outer(session: Session) -> int:
        await db.probe.insert_one({"outer": 1}, session=session)
        return await asyncio.wait_for(lgdb.in_transaction(db, inner), timeout=30)

    lgdb.limit_transactions(mongo_client, 1)
    try:
        assert await asyncio.gather(*(lgdb.in_transaction(db, outer) for _ in range(3))) == [1] * 3
    finally:
        lgdb.limit_transactions(mongo_client, 0)
    assert await db.probe.count_documents({}) + await db.probe_inner.count_documents({}) == 6


@pytest.mark.parametrize(("raw", "expected"), [(None, 0), ("3", 3)])
def test_the_bound_is_a_setting(raw, expected):
    env = {} if raw is None else {"LEADGRAPH_MAX_TRANSACTIONS": raw}
    assert Settings.from_env(env).max_transactions == expected
    assert lgdb.EMBEDDED_TRANSACTIONS >= 1  # what 0 means on the embedded server
