"""Issue 16 point 3: an idempotency key belongs to its API key and its operation.  A second
caller reusing a key gets their own submission processed, never the first caller's data; the
same key with another input is a ConflictError with nothing written; the same key with the
same input is a replay of the first outcome.  Same for ``recordInteraction``."""

from __future__ import annotations

import asyncio
from typing import Any

from leadgraph.store import keys

from capture.helpers import SUBMIT

RECORD = """
mutation($input: RecordInteractionInput!) { recordInteraction(input: $input) {
  __typename
  ... on InteractionPayload { created interaction { id type url contact { id } } }
  ... on Error { message code }
} }
"""


async def _as(api: Any, key: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    response = await api.post(
        query, variables, role=None, headers={"Authorization": f"Bearer {key}"}
    )
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    return dict(next(iter(body["data"].values())))


def _form(email: str, key: str = "retry-1", **fields: Any) -> dict[str, Any]:
    return {
        "input": {"formId": "trial", "fields": {"email": email, **fields}, "idempotencyKey": key}
    }


async def test_a_second_api_key_reusing_a_key_gets_its_own_submission(api):
    first, _ = await keys.create(api.db, "admin", "first caller")
    second, _ = await keys.create(api.db, "admin", "second caller")
    a = await _as(api, first, SUBMIT, _form("ann@example.com", lastName="Ann"))
    b = await _as(api, second, SUBMIT, _form("bob@example.com", lastName="Bob"))
    assert a["__typename"] == b["__typename"] == "CapturePayload", (a, b)
    assert not b["replayed"] and b["contactCreated"]
    assert b["contact"]["email"] == "bob@example.com"  # never the first caller's person
    assert b["contact"]["id"] != a["contact"]["id"]
    assert await api.db.contacts.count_documents({}) == 2
    assert await api.db.interactions.count_documents({"type": "form_submitted"}) == 2


async def test_the_same_key_with_another_input_is_a_conflict_and_writes_nothing(api):
    caller, _ = await keys.create(api.db, "admin", "caller")
    first = await _as(api, caller, SUBMIT, _form("ann@example.com", lastName="Ann"))
    assert first["__typename"] == "CapturePayload"
    counts = {n: await api.db[n].count_documents({}) for n in ("contacts", "leads", "interactions")}
    other = await _as(api, caller, SUBMIT, _form("eve@example.com", lastName="Eve"))
    assert other["__typename"] == "ConflictError", other
    assert "retry-1" in other["message"] and "another input" in other["message"]
    assert "ann@example.com" not in other["message"]
    after = {n: await api.db[n].count_documents({}) for n in counts}
    assert after == counts
    assert await api.db.contacts.find_one({"emailNormalized": "eve@example.com"}) is None


async def test_the_same_key_and_input_is_a_replay(api):
    caller, _ = await keys.create(api.db, "admin", "caller")
    first = await _as(api, caller, SUBMIT, _form("ann@example.com", lastName="Ann"))
    again = await _as(api, caller, SUBMIT, _form("ann@example.com", lastName="Ann"))
    assert again["replayed"] and not first["replayed"]
    assert again["contact"]["id"] == first["contact"]["id"]
    assert again["interaction"]["id"] == first["interaction"]["id"]
    assert await api.db.interactions.count_documents({"type": "form_submitted"}) == 1


async def test_a_key_is_scoped_to_its_operation(api):
    caller, _ = await keys.create(api.db, "admin", "caller")
    sub = await _as(api, caller, SUBMIT, _form("ann@example.com", lastName="Ann"))
    contact = sub["contact"]["id"]
    rec = {"input": {"contact": contact, "type": "WEBSITE_VISITED", "idempotencyKey": "retry-1"}}
    out = await _as(api, caller, RECORD, rec)
    assert out["__typename"] == "InteractionPayload" and out["created"], out


async def test_record_interaction_keys_are_the_callers(api):
    first, _ = await keys.create(api.db, "admin", "first caller")
    second, _ = await keys.create(api.db, "admin", "second caller")
    ann = (await _as(api, first, SUBMIT, _form("ann@example.com", key="s1")))["contact"]["id"]
    bob = (await _as(api, second, SUBMIT, _form("bob@example.com", key="s2")))["contact"]["id"]

    def visit(contact: str, url: str) -> dict[str, Any]:
        sent = {"contact": contact, "type": "WEBSITE_VISITED", "url": url}
        return {"input": {**sent, "idempotencyKey": "k"}}

    a = await _as(api, first, RECORD, visit(ann, "https://x.example/a"))
    b = await _as(api, second, RECORD, visit(bob, "https://x.example/b"))
    assert a["created"] and b["created"], (a, b)
    assert b["interaction"]["contact"]["id"] == bob and b["interaction"]["url"].endswith("/b")
    replay = await _as(api, first, RECORD, visit(ann, "https://x.example/a"))
    assert not replay["created"] and replay["interaction"]["id"] == a["interaction"]["id"]
    conflict = await _as(api, first, RECORD, visit(ann, "https://x.example/other"))
    assert conflict["__typename"] == "ConflictError", conflict
    assert await api.db.interactions.count_documents({"type": "website_visited"}) == 2


async def test_record_interaction_the_same_key_with_another_input_writes_nothing(api):
    caller, _ = await keys.create(api.db, "admin", "caller")
    ann = (await _as(api, caller, SUBMIT, _form("ann@example.com")))["contact"]["id"]
    sent = {"contact": ann, "type": "EMAIL_OPENED", "emailId": "e1", "idempotencyKey": "r1"}
    first = await _as(api, caller, RECORD, {"input": sent})
    assert first["created"], first
    before = await api.db.contacts.find_one({})
    counts = {n: await api.db[n].count_documents({}) for n in ("interactions", "events")}
    other = await _as(api, caller, RECORD, {"input": {**sent, "emailId": "e2"}})
    assert other["__typename"] == "ConflictError" and "r1" in other["message"], other
    assert {n: await api.db[n].count_documents({}) for n in counts} == counts
    assert (await api.db.contacts.find_one({}))["insights"] == before["insights"]


async def test_concurrent_first_submissions_with_one_key_record_once(api):
    caller, _ = await keys.create(api.db, "admin", "caller")
    sent = _form("rush@example.com", key="once", lastName="Rush")
    results = await asyncio.gather(*[_as(api, caller, SUBMIT, sent) for _ in range(8)])
    assert {r["__typename"] for r in results} == {"CapturePayload"}, results
    assert sum(not r["replayed"] for r in results) == 1
    assert len({r["interaction"]["id"] for r in results}) == 1
    assert await api.db.interactions.count_documents({"type": "form_submitted"}) == 1
    assert (await api.db.contacts.find_one({}))["insights"]["total"] == 1
    assert await api.db.submissions.count_documents({}) == 1


async def test_concurrent_record_interactions_with_one_key_record_once(api):
    caller, _ = await keys.create(api.db, "admin", "caller")
    ann = (await _as(api, caller, SUBMIT, _form("ann@example.com")))["contact"]["id"]
    sent = {"input": {"contact": ann, "type": "EMAIL_CLICKED", "idempotencyKey": "c1"}}
    results = await asyncio.gather(*[_as(api, caller, RECORD, sent) for _ in range(8)])
    assert {r["__typename"] for r in results} == {"InteractionPayload"}, results
    assert sum(r["created"] for r in results) == 1
    assert len({r["interaction"]["id"] for r in results}) == 1
    assert await api.db.interactions.count_documents({"type": "email_clicked"}) == 1
    assert (await api.db.contacts.find_one({}))["insights"]["total"] == 2


async def test_the_old_global_unique_index_is_dropped(api):
    from leadgraph.db import ensure_indexes

    await api.db.interactions.create_index(
        "idempotencyKey",
        name="idempotencyKey_unique",
        unique=True,
        partialFilterExpression={"idempotencyKey": {"$type": "string"}},
    )
    await ensure_indexes(api.db)
    assert "idempotencyKey_unique" not in await api.db.interactions.index_information()


async def test_concurrent_first_submissions_of_one_key_with_other_inputs_leave_one_person(api):
    """One key, six people at once: one is recorded, the others are conflicts that leave
    nothing (their contacts, leads and keys were claimed in their own transactions, which the
    winner's idempotency record made fail whole)."""
    caller, _ = await keys.create(api.db, "admin", "caller")
    sent = [_form(f"p{i}@example.com", key="shared", lastName=f"P{i}") for i in range(6)]
    results = await asyncio.gather(*[_as(api, caller, SUBMIT, s) for s in sent])
    kinds = sorted(r["__typename"] for r in results)
    assert kinds == ["CapturePayload"] + ["ConflictError"] * 5, results
    (won,) = [r for r in results if r["__typename"] == "CapturePayload"]
    assert not won["replayed"]
    for name in ("contacts", "leads", "interactions", "submissions"):
        assert await api.db[name].count_documents({}) == 1, name
    (contact,) = await api.db.contacts.find({}).to_list()
    assert contact["email"] == won["contact"]["email"]
    assert await api.db.match_keys.count_documents({"collection": "contacts"}) == 1
