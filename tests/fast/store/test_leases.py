"""The lease helper (``leadgraph.store.leases``): one holder at a time across processes, an
expired lease taken over, renewal and release only by the holder."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from leadgraph.store import leases
from pymongo.asynchronous.database import AsyncDatabase


async def _expire(db: AsyncDatabase, name: str) -> None:
    """What time does to a lease whose holder stopped renewing (a killed process)."""
    past = datetime.now(UTC) - timedelta(seconds=1)
    await db[leases.NAME].update_one({"_id": name}, {"$set": {"expiresAt": past}})


async def test_one_holder_until_released(db: AsyncDatabase) -> None:
    first = await leases.acquire(db, "sweep", "a", timedelta(seconds=30))
    assert first is not None and first.holder == "a"
    assert await leases.acquire(db, "sweep", "b", 30) is None
    again = await leases.acquire(db, "sweep", "a", 30)  # the holder keeps it
    assert again is not None and again.expires_at >= first.expires_at
    held = await leases.holder_of(db, "sweep")
    assert held is not None and held.holder == "a"
    assert not await leases.release(db, "sweep", "b")  # not b's to give up
    assert await leases.acquire(db, "sweep", "b", 30) is None
    assert await leases.release(db, "sweep", "a")
    assert await leases.holder_of(db, "sweep") is None
    taken = await leases.acquire(db, "sweep", "b", 30)
    assert taken is not None and taken.holder == "b"
    assert await db[leases.NAME].count_documents({}) == 1


async def test_leases_of_other_jobs_are_independent(db: AsyncDatabase) -> None:
    assert await leases.acquire(db, "sweep", "a", 30) is not None
    assert await leases.acquire(db, "webhooks", "b", 30) is not None


async def test_an_expired_lease_is_taken_over_and_its_old_holder_cannot_renew(
    db: AsyncDatabase,
) -> None:
    assert await leases.acquire(db, "sweep", "a", 30) is not None
    await _expire(db, "sweep")
    assert await leases.holder_of(db, "sweep") is None
    taken = await leases.acquire(db, "sweep", "b", 30)
    assert taken is not None and taken.holder == "b"
    assert await leases.renew(db, "sweep", "a", 30) is None
    assert not await leases.release(db, "sweep", "a")
    renewed = await leases.renew(db, "sweep", "b", 60)
    assert renewed is not None and renewed.expires_at > taken.expires_at


@pytest.mark.parametrize("expired", [False, True])
async def test_racing_acquirers_one_wins(db: AsyncDatabase, expired: bool) -> None:
    if expired:  # a lease left by a killed holder: everyone races to take it over
        assert await leases.acquire(db, "sweep", "dead", 30) is not None
        await _expire(db, "sweep")
    got = await asyncio.gather(*(leases.acquire(db, "sweep", f"p{i}", 30) for i in range(20)))
    winners = [g for g in got if g is not None]
    assert len(winners) == 1
    held = await leases.holder_of(db, "sweep")
    assert held is not None and held.holder == winners[0].holder


async def test_a_ttl_must_be_positive(db: AsyncDatabase) -> None:
    with pytest.raises(ValueError):
        await leases.acquire(db, "sweep", "a", 0)
    with pytest.raises(ValueError):
        await leases.renew(db, "sweep", "a", timedelta(seconds=-1))
