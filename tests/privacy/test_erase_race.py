"""Erasure is final under a race (issue 16 point 2): ``eraseContact`` racing ten
``submitForm``s for the same email, round after round.  After the erasure commits nothing of
the erased contact remains; each submission landed either before it (erased with it) or after
it (one new contact, the person's own submission, their suppression lifted), and every answer
names a contact that existed when it was given."""

from __future__ import annotations

import asyncio
from typing import Any

from capture.helpers import SUBMIT
from foundation import oid_of
from leadgraph import signing
from leadgraph.store import suppressions

ERASE = """
mutation($id: ID!) { eraseContact(id: $id) {
  __typename ... on ErasePayload { erasedId } ... on Error { message code } } }
"""
EMAIL = "race.person@example.com"
ROUNDS = 5
SUBMITTERS = 10


async def _submit(api: Any, key: str) -> dict[str, Any]:
    response = await api.post(
        SUBMIT,
        {
            "input": {
                "formId": "trial",
                "fields": {"email": EMAIL, "firstName": "Race", "lastName": "Person"},
                "idempotencyKey": key,
            }
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    out = body["data"]["submitForm"]
    assert out["__typename"] == "CapturePayload", out
    return dict(out)


async def _nothing_left_of(api: Any, erased: Any) -> None:
    db = api.db
    assert await db.contacts.find_one({"_id": erased}) is None
    assert await db.interactions.find_one({"contactId": erased}) is None
    assert await db.leads.find_one({"parentContactId": erased}) is None
    assert await db.match_keys.find_one({"recordId": erased}) is None
    assert await db.submissions.find_one({"contactId": erased}) is None
    assert await db.pending_captures.count_documents({}) == 0
    # every lead still holding the email belongs to a contact that exists
    async for lead in db.leads.find({"emailNormalized": EMAIL}):
        assert lead.get("anonymizedAt") is None
        assert await db.contacts.find_one({"_id": lead["parentContactId"]}) is not None
    async for key in db.match_keys.find({"_id": {"$regex": EMAIL.replace(".", r"\.")}}):
        collection = key["_id"].split(":", 1)[0]
        assert await db[collection].find_one({"_id": key["recordId"]}) is not None, key


async def _round(api: Any, n: int) -> tuple[int, int]:
    """One round; returns how many submissions landed before and after the erasure."""
    db = api.db
    first = await _submit(api, f"r{n}-first")
    erased = oid_of(first["contact"]["id"])
    submitting = [asyncio.create_task(_submit(api, f"r{n}-{i}")) for i in range(SUBMITTERS)]
    erasing = asyncio.create_task(api.gql(ERASE, {"id": first["contact"]["id"]}))
    answers = await asyncio.gather(*submitting)
    assert (await erasing)["eraseContact"]["__typename"] == "ErasePayload"
    await _nothing_left_of(api, erased)

    after = [a for a in answers if oid_of(a["contact"]["id"]) != erased]
    survivors = await db.contacts.find({"emailNormalized": EMAIL}).to_list()
    assert len(survivors) == (1 if after else 0)  # one new contact at most, never a duplicate
    for answer in after:
        assert oid_of(answer["contact"]["id"]) == survivors[0]["_id"]
        interaction = await db.interactions.find_one({"_id": oid_of(answer["interaction"]["id"])})
        assert interaction is not None and interaction["contactId"] == survivors[0]["_id"]
    for answer in answers:
        if answer not in after:  # landed before the erasure: erased with it
            assert (
                await db.interactions.find_one({"_id": oid_of(answer["interaction"]["id"])}) is None
            )
    if survivors:
        assert survivors[0]["insights"]["total"] == len(after)
    # the person came back of their own accord (after) or stays erased (no one after)
    held = await suppressions.held(db, [signing.email_hash(EMAIL)])
    assert bool(held) == (not after)
    return len(answers) - len(after), len(after)


async def test_erasure_racing_submissions_is_final(api: Any) -> None:
    landed = [await _round(api, n) for n in range(ROUNDS)]
    assert sum(b + a for b, a in landed) == ROUNDS * SUBMITTERS
