"""Registering webhooks through GraphQL: secrets shown once, patterns checked against the
event catalogue, URLs checked, admin only."""

from __future__ import annotations

import base64

import pytest
from leadgraph.services import webhooks as service

from .helpers import CREATE, WEBHOOKS, create

URL = "http://127.0.0.1:9/hook"


async def test_the_secret_is_shown_in_full_only_when_created(api):
    out = await create(api, URL, ["contact.updated", "lead.*"], description="CRM sync")
    assert out["__typename"] == "WebhookPayload"
    hook = out["webhook"]
    assert hook["secret"].startswith("whsec_")
    assert len(base64.b64decode(hook["secret"].removeprefix("whsec_"))) == 24
    assert (hook["active"], hook["description"], hook["disabledReason"]) == (True, "CRM sync", None)
    assert hook["events"] == ["contact.updated", "lead.*"]
    listed = (await api.gql(WEBHOOKS))["webhooks"]
    assert [h["id"] for h in listed] == [hook["id"]]
    assert listed[0]["secret"] != hook["secret"]
    assert listed[0]["secret"].endswith("…") and hook["secret"].startswith(listed[0]["secret"][:-1])
    changed = await api.gql(
        'mutation($id: ID!) { updateWebhook(id: $id, input: {events: ["*"]}) '
        "{ ... on WebhookPayload { webhook { events secret } } } }",
        {"id": hook["id"]},
    )
    assert changed["updateWebhook"]["webhook"] == {"events": ["*"], "secret": listed[0]["secret"]}


async def test_unknown_event_types_are_refused_naming_each(api):
    out = await create(api, URL, ["contact.updated", "contact.exploded", "lead.*", "nope.*", "*"])
    assert out["__typename"] == "ValidationError"
    assert [f["field"] for f in out["fields"]] == ["input.events.1", "input.events.3"]
    out = await create(api, URL, [])
    assert (out["__typename"], out["field"]) == ("ValidationError", "input.events")
    assert await api.db.webhooks.count_documents({}) == 0


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/hook", "must be an http or https URL"),
        ("http:///hook", "must name a host"),
        ("http://example.com:99999/", "is not a URL"),
        ("https://example.com/" + "a" * 2100, "at most 2048 characters"),
    ],
)
async def test_bad_urls_are_refused(api, url, message):
    out = await create(api, url, ["*"])
    assert (out["__typename"], out["field"]) == ("ValidationError", "input.url"), out
    assert message in out["fields"][0]["message"]


async def test_a_description_is_bounded(api):
    out = await create(api, URL, ["*"], description="x" * 501)
    assert (out["__typename"], out["field"]) == ("ValidationError", "input.description")
    assert (await create(api, URL, ["*"], description="x" * 500))["__typename"] == "WebhookPayload"


async def test_the_number_of_webhooks_is_bounded(api, monkeypatch):
    monkeypatch.setattr(service, "MAX_WEBHOOKS", 2)
    for _ in range(2):
        assert (await create(api, URL, ["*"]))["__typename"] == "WebhookPayload"
    out = await create(api, URL, ["*"])
    assert out["__typename"] == "ConflictError" and "at most 2" in out["message"]


@pytest.mark.parametrize("role", ["marketer", "sales", "read-only"])
async def test_only_admins_touch_webhooks(api, role):
    hook = (await create(api, URL, ["*"]))["webhook"]
    body = (await api.post(CREATE, {"input": {"url": URL, "events": ["*"]}}, role=role)).json()
    assert body["data"]["createWebhook"] == {
        "__typename": "ForbiddenError",
        "permission": "webhooks:admin",
        "role": role,
    }
    for mutation in ("deleteWebhook(id: $id)", "rotateWebhookSecret(id: $id)"):
        body = (
            await api.post(
                f"mutation($id: ID!) {{ {mutation} {{ __typename }} }}",
                {"id": hook["id"]},
                role=role,
            )
        ).json()
        assert next(iter(body["data"].values())) == {"__typename": "ForbiddenError"}
    deliveries = '{ webhookDeliveries(webhook: "' + hook["id"] + '") { totalCount } }'
    for query in (WEBHOOKS, deliveries):
        body = (await api.post(query, role=role)).json()
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await api.db.webhooks.count_documents({}) == 1


async def test_update_delete_and_not_found(api):
    hook = (await create(api, URL, ["*"]))["webhook"]
    update = """mutation($id: ID!, $input: UpdateWebhookInput!) {
      updateWebhook(id: $id, input: $input) { __typename
        ... on WebhookPayload { webhook { url events description active } }
        ... on ValidationError { field } } }"""
    out = await api.gql(
        update,
        {
            "id": hook["id"],
            "input": {
                "url": "http://127.0.0.1:10/x",
                "events": ["lead.scored"],
                "description": "d",
                "active": False,
            },
        },
    )
    assert out["updateWebhook"]["webhook"] == {
        "url": "http://127.0.0.1:10/x",
        "events": ["lead.scored"],
        "description": "d",
        "active": False,
    }
    out = await api.gql(update, {"id": hook["id"], "input": {"events": ["lead.nothing"]}})
    assert out["updateWebhook"] == {"__typename": "ValidationError", "field": "input.events.0"}
    delete = "mutation($id: ID!) { deleteWebhook(id: $id) { __typename } }"
    assert (await api.gql(delete, {"id": hook["id"]}))["deleteWebhook"][
        "__typename"
    ] == "DeleteWebhookPayload"
    assert (await api.gql(delete, {"id": hook["id"]}))["deleteWebhook"][
        "__typename"
    ] == "NotFoundError"
    out = await api.gql(update, {"id": hook["id"], "input": {"active": True}})
    assert out["updateWebhook"]["__typename"] == "NotFoundError"
