"""Deliveries: signed as the Standard Webhooks specification says (verified by its reference
library), retried with the same webhook-id until a 2xx, leased between workers."""

from __future__ import annotations

import asyncio
import json

import pytest
from foundation import oid_of
from leadgraph.services.webhooks import enqueue
from leadgraph.store import events as event_store
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from .helpers import (
    FAST,
    contact_updated,
    create,
    deliveries,
    delivering,
    happened,
    lead_created,
    receiving,
    until,
)

REDELIVER = """mutation($id: ID!) { redeliverWebhook(delivery: $id) {
  __typename ... on WebhookDeliveryPayload { delivery { status attempts } } } }"""


async def _delivered(api, hook_id, n=1):
    found = await deliveries(api, hook_id)
    done = [d for d in found if d["status"] == "DELIVERED"]
    return found if len(done) >= n else None


async def test_a_delivery_is_signed_and_verifies_with_the_reference_library(api):
    async with receiving() as rx:
        hook = (await create(api, rx.url, ["contact.updated"]))["webhook"]
        async with delivering(api.db):
            [event] = await happened(api.db, contact_updated())
            [found] = await until(lambda: _delivered(api, hook["id"]))
    [got] = rx.got
    message = Webhook(hook["secret"]).verify(got.body, got.headers)
    assert got.headers["webhook-id"] == str(event.id) == found["eventId"]
    assert got.headers["content-type"] == "application/json"
    assert message["type"] == "contact.updated"
    assert message["data"]["record"] == {"type": "contact", "id": str(event.contact_id)}
    assert message["data"]["changes"] == [
        {"field": "jobTitle", "old": "Intern", "new": "Director of IT"}
    ]
    assert message["timestamp"].endswith("Z")
    assert (found["attempts"], found["lastResponseCode"], found["eventType"]) == (
        1,
        200,
        "contact.updated",
    )
    assert found["nextAttemptAt"] is None and found["deliveredAt"] is not None


async def test_each_webhook_hears_the_types_it_asked_for(api):
    async with receiving() as rx:
        leads = (await create(api, rx.url + "?leads", ["lead.*"]))["webhook"]
        contacts = (await create(api, rx.url + "?contacts", ["contact.updated"]))["webhook"]
        every = (await create(api, rx.url + "?all", ["*"]))["webhook"]
        async with delivering(api.db):
            await happened(api.db, contact_updated(), lead_created())
            await until(lambda: _delivered(api, every["id"], 2))
            await until(lambda: _delivered(api, leads["id"]))
            await until(lambda: _delivered(api, contacts["id"]))
    assert [d["eventType"] for d in await deliveries(api, leads["id"])] == ["lead.created"]
    assert [d["eventType"] for d in await deliveries(api, contacts["id"])] == ["contact.updated"]
    assert len(rx.got) == 4


async def test_failures_are_retried_with_the_same_webhook_id_until_a_2xx(api):
    async with receiving(answers=[500, 503, 429]) as rx:
        hook = (await create(api, rx.url, ["*"]))["webhook"]
        async with delivering(api.db):
            await happened(api.db, contact_updated())
            [found] = await until(lambda: _delivered(api, hook["id"]))
    assert len(rx.got) == 4
    assert len({got.headers["webhook-id"] for got in rx.got}) == 1
    for got in rx.got:  # every attempt signed afresh (its own timestamp)
        Webhook(hook["secret"]).verify(got.body, got.headers)
    assert (found["attempts"], found["lastResponseCode"]) == (4, 200)
    webhook = await api.db.webhooks.find_one({})
    assert (webhook["failureCount"], webhook["failingSince"]) == (0, None)


async def test_a_timeout_is_retried(api):
    hold = asyncio.Event()  # the first request is never answered in time
    async with receiving(hold=hold) as rx:
        hook = (await create(api, rx.url, ["*"]))["webhook"]
        async with delivering(api.db, FAST, webhook_timeout=0.3):
            await happened(api.db, contact_updated())
            [found] = await until(lambda: _delivered(api, hook["id"]))
        hold.set()
    assert found["attempts"] == 2
    assert rx.got[0].headers["webhook-id"] == rx.got[1].headers["webhook-id"]


async def test_410_gone_disables_the_webhook(api):
    async with receiving(answers=[410]) as rx:
        hook = (await create(api, rx.url, ["*"]))["webhook"]
        async with delivering(api.db):
            await happened(api.db, contact_updated())
            [found] = await until(lambda: _with(api, hook["id"], lambda d: d["status"] == "FAILED"))
            assert found["lastResponseCode"] == 410
            assert await happened(api.db, contact_updated())
            assert len(await deliveries(api, hook["id"])) == 1  # disabled: nothing more queued
    [listed] = (await api.gql("{ webhooks { active disabledReason } }"))["webhooks"]
    assert listed["active"] is False
    assert "410 Gone" in listed["disabledReason"]
    # the server's own change is recorded like a caller's: one webhook.updated, by the system
    mine = {"type": "webhook.updated", "record.id": oid_of(hook["id"])}
    [off] = await api.db["events"].find(mine).to_list(None)
    assert {(c["field"], c["old"], c["new"]) for c in off["changes"]} == {
        ("active", True, False),
        ("disabledReason", None, listed["disabledReason"]),
    }
    again = await api.gql(
        "mutation($id: ID!) { updateWebhook(id: $id, input: {active: true}) "
        "{ ... on WebhookPayload { webhook { active disabledReason } } } }",
        {"id": hook["id"]},
    )
    assert again["updateWebhook"]["webhook"] == {"active": True, "disabledReason": None}


async def test_a_run_of_failures_disables_the_webhook_with_the_reason(api):
    async with receiving(answers=[500] * 10) as rx:
        hook = (await create(api, rx.url, ["*"]))["webhook"]
        async with delivering(api.db, FAST, webhook_disable_failures=3, webhook_disable_hours=0):
            await happened(api.db, contact_updated())
            [found] = await until(
                lambda: _with(api, hook["id"], lambda d: d["status"] == "CANCELLED")
            )
    assert len(rx.got) == 3
    assert found["attempts"] == 3
    [listed] = (await api.gql("{ webhooks { active disabledReason } }"))["webhooks"]
    assert listed["active"] is False
    assert "3 failed attempts in a row" in listed["disabledReason"]
    assert "HTTP 500" in listed["disabledReason"]


async def test_a_short_run_of_failures_does_not_disable(api):
    async with receiving(answers=[500] * 3) as rx:
        hook = (await create(api, rx.url, ["*"]))["webhook"]
        async with delivering(api.db, FAST, webhook_disable_failures=3, webhook_disable_hours=24):
            await happened(api.db, contact_updated())
            await until(lambda: _delivered(api, hook["id"]))
    assert len(rx.got) == 4
    assert (await api.db.webhooks.find_one({}))["active"] is True


async def test_retries_give_up_after_the_retry_window(api):
    async with receiving(answers=[500] * 5) as rx:
        hook = (await create(api, rx.url, ["*"]))["webhook"]
        async with delivering(api.db, FAST, webhook_retry_hours=0):
            await happened(api.db, contact_updated())
            [found] = await until(lambda: _with(api, hook["id"], lambda d: d["status"] == "FAILED"))
    assert (found["attempts"], found["lastResponseCode"], found["nextAttemptAt"]) == (1, 500, None)
    assert len(rx.got) == 1


async def test_redeliver_sends_again_with_the_same_id(api):
    async with receiving() as rx:
        hook = (await create(api, rx.url, ["*"]))["webhook"]
        async with delivering(api.db):
            await happened(api.db, contact_updated())
            [found] = await until(lambda: _delivered(api, hook["id"]))
            out = await api.gql(REDELIVER, {"id": found["id"]})
            assert out["redeliverWebhook"]["delivery"]["status"] == "PENDING"
            await until(lambda: _with(api, hook["id"], lambda d: d["attempts"] == 2))
        body = (await api.post(REDELIVER, {"id": found["id"]}, role="marketer")).json()
        assert body["data"]["redeliverWebhook"]["__typename"] == "ForbiddenError"
        await api.gql(
            "mutation($id: ID!) { updateWebhook(id: $id, input: {active: false}) { __typename } }",
            {"id": hook["id"]},
        )
        out = await api.gql(REDELIVER, {"id": found["id"]})
        assert out["redeliverWebhook"]["__typename"] == "ConflictError"
    assert [got.headers["webhook-id"] for got in rx.got] == [found["eventId"]] * 2


async def test_a_rotated_secret_signs_from_then_on(api):
    async with receiving() as rx:
        hook = (await create(api, rx.url, ["*"]))["webhook"]
        out = await api.gql(
            "mutation($id: ID!) { rotateWebhookSecret(id: $id) "
            "{ ... on WebhookPayload { webhook { secret } } } }",
            {"id": hook["id"]},
        )
        secret = out["rotateWebhookSecret"]["webhook"]["secret"]
        assert secret.startswith("whsec_") and secret != hook["secret"]
        async with delivering(api.db):
            await happened(api.db, contact_updated())
            await until(lambda: _delivered(api, hook["id"]))
    [got] = rx.got
    Webhook(secret).verify(got.body, got.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(hook["secret"]).verify(got.body, got.headers)


async def test_two_workers_never_send_one_delivery_twice(api):
    async with receiving() as rx:
        hook = (await create(api, rx.url, ["*"]))["webhook"]
        async with delivering(api.db), delivering(api.db):
            sent = await happened(api.db, *(contact_updated() for _ in range(30)))
            await until(lambda: _delivered(api, hook["id"], 30))
    ids = [got.headers["webhook-id"] for got in rx.got]
    assert sorted(ids) == sorted(str(e.id) for e in sent)


async def test_dispatching_an_event_again_queues_nothing_more(api):
    hook = (await create(api, "http://127.0.0.1:9/", ["*"]))["webhook"]
    sent = await happened(api.db, contact_updated(), lead_created())
    assert await enqueue(api.db, sent) == {e.id for e in sent}
    assert len(await deliveries(api, hook["id"])) == 2


async def test_answers_are_read_only_up_to_the_limit(api):
    async with receiving(answers=[500], body=b"x" * 2_000_000) as rx:
        hook = (await create(api, rx.url, ["*"]))["webhook"]
        async with delivering(api.db, FAST, webhook_max_response_bytes=100):
            await happened(api.db, contact_updated())
            await until(lambda: _delivered(api, hook["id"]))
    stored = await api.db.webhook_deliveries.find_one({})
    assert len(stored["lastResponse"]) == 100


async def test_a_large_event_is_sent_thin(api):
    async with receiving() as rx:
        hook = (await create(api, rx.url, ["*"]))["webhook"]
        async with delivering(api.db, FAST, webhook_max_payload_bytes=300):
            await happened(api.db, contact_updated())
            await until(lambda: _delivered(api, hook["id"]))
    [got] = rx.got
    data = json.loads(got.body)["data"]
    assert data["truncated"] is True
    assert data["changes"] == [{"field": "jobTitle", "old": None, "new": None}]
    Webhook(hook["secret"]).verify(got.body, got.headers)


async def test_a_delivery_whose_event_expired_is_cancelled(api):
    hook = (await create(api, "http://127.0.0.1:9/", ["*"]))["webhook"]
    [event] = await happened(api.db, contact_updated())
    await api.db[event_store.NAME].delete_one({"_id": event.id})  # what the TTL index does
    async with delivering(api.db):
        [found] = await until(lambda: _with(api, hook["id"], lambda d: d["status"] == "CANCELLED"))
    assert found["lastError"] == "the event expired"


async def _with(api, hook_id, check):
    found = await deliveries(api, hook_id)
    return found if found and all(check(d) for d in found) else None


async def test_an_edit_through_the_api_reaches_the_webhook(api):
    created = await api.gql(
        'mutation { createContact(input: {email: "ada@example.com", jobTitle: "Intern"}) '
        "{ ... on ContactPayload { contact { id } } } }"
    )
    contact = created["createContact"]["contact"]["id"]
    async with receiving() as rx:
        hook = (await create(api, rx.url, ["contact.updated"]))["webhook"]
        async with delivering(api.db):
            await api.gql(
                'mutation($id: ID!) { updateContact(input: {id: $id, jobTitle: "Director of IT"}) '
                "{ __typename } }",
                {"id": contact},
            )
            await until(lambda: _delivered(api, hook["id"]))
    [got] = rx.got
    message = Webhook(hook["secret"]).verify(got.body, got.headers)
    assert message["type"] == "contact.updated"
    assert message["data"]["actor"] == {"name": "test admin", "role": "admin", "via": "api"}
    assert {"field": "jobTitle", "old": "Intern", "new": "Director of IT"} in message["data"][
        "changes"
    ]
