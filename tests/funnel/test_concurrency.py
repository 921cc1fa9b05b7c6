"""Concurrent interactions of one contact: every funnel write is guarded by the lead's
revision, so the last score stored counts every interaction stored before it."""

from __future__ import annotations

import asyncio

from .test_sales_ready import _contact_and_lead, _lead


async def test_simultaneous_interactions_leave_a_score_that_counts_them_all(api):
    contact, lead = await _contact_and_lead(api)
    record = """mutation($i: RecordInteractionInput!) { recordInteraction(input: $i) {
        ... on InteractionPayload { created } } }"""
    results = await asyncio.gather(
        *[api.gql(record, {"i": {"contact": contact, "type": "EMAIL_OPENED"}}) for _ in range(4)]
    )
    assert all(r["recordInteraction"]["created"] for r in results)
    got = await _lead(api, lead)
    explanation = {e["rule"]: e["points"] for e in got["scores"][0]["explanation"]}
    assert explanation["email opened (5 each, last 30 days)"] == 20
    assert got["scores"][0]["score"] == 20 + 10 + 10 + 20 - 10
    doc = await api.db["leads"].find_one({})
    assert doc["rev"] >= 2  # created and scored, then rewritten as the opens arrived
