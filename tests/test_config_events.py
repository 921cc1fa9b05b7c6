"""Segment definitions, subscription lists and webhooks append their typed events in the
transaction of the change (issue 17 point 1): each mutation exactly its event, with actor and
changes in the audit log, heard by plugins and taken by webhooks; a failing write appends
nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from bson import ObjectId
from leadgraph import hookimpl
from leadgraph.events import Event
from strawberry.relay import to_base64

AUDIT = """query($record: ID) { auditLog(record: $record, first: 20) {
  totalCount nodes { action recordType actor { name role via } changes { field old new } } } }"""
SEGMENT_CREATE = """mutation($i: SegmentInput!) { createSegment(input: $i) { __typename } }"""
SEGMENT_UPDATE = """mutation($n: String!, $i: SegmentChanges!) {
  updateSegment(name: $n, input: $i) { __typename } }"""
SEGMENT_PUBLISH = """mutation($n: String!) { publishSegment(name: $n) { __typename } }"""
SEGMENT_DELETE = """mutation($n: String!) { deleteSegment(name: $n) { __typename } }"""
LIST_CREATE = """mutation($n: String!) { createSubscriptionList(name: $n) { __typename
  ... on SubscriptionListPayload { list { id } } } }"""
LIST_RENAME = """mutation($id: ID!, $n: String!) { renameSubscriptionList(id: $id, name: $n) {
  __typename } }"""
LIST_ARCHIVE = """mutation($id: ID!) { archiveSubscriptionList(id: $id) { __typename } }"""
HOOK_CREATE = """mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { __typename
  ... on WebhookPayload { webhook { id secret } } } }"""
HOOK_UPDATE = """mutation($id: ID!, $i: UpdateWebhookInput!) { updateWebhook(id: $id, input: $i) {
  __typename } }"""
HOOK_ROTATE = """mutation($id: ID!) { rotateWebhookSecret(id: $id) { __typename
  ... on WebhookPayload { webhook { secret } } } }"""
HOOK_DELETE = """mutation($id: ID!) { deleteWebhook(id: $id) { __typename } }"""
ADMIN = {"name": "test admin", "role": "admin", "via": "api"}
MARKETER = {"name": "test marketer", "role": "marketer", "via": "api"}
WHERE = {"fact": "contact.role", "op": "eq", "value": "user"}


class Hearing:
    """Notes every event type it hears (the catch-all hook)."""

    def __init__(self) -> None:
        self.heard: list[str] = []

    @hookimpl
    def leadgraph_event(self, event: Event, event_id: str) -> None:
        self.heard.append(event.type)


@pytest.fixture
def hearing(server: Any) -> Iterator[Hearing]:
    pm = server.state.leadgraph.pm
    plugin = Hearing()
    pm.register(plugin, name="acme-hearing")
    try:
        yield plugin
    finally:
        pm.unregister(plugin)


async def _appended(api: Any, since: ObjectId) -> list[dict[str, Any]]:
    """The events appended since ``since`` (an id taken before the mutation), oldest first."""
    return await api.db["events"].find({"_id": {"$gt": since}}).sort("_id", 1).to_list()


async def _one(api: Any, query: str, variables: dict[str, Any], role: str = "admin") -> Any:
    """Run a mutation; the one event it appended (asserting it appended exactly one)."""
    since = ObjectId()
    out = await api.gql(query, variables, role=role)
    assert next(iter(out.values()))["__typename"].endswith("Payload"), out
    found = await _appended(api, since)
    assert len(found) == 1, [e["type"] for e in found]
    return found[0]


def _changes(event: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {c["field"]: (c["old"], c["new"]) for c in event["changes"]}


async def _audit(api: Any, record: str) -> list[dict[str, Any]]:
    return list((await api.gql(AUDIT, {"record": record}))["auditLog"]["nodes"])


async def test_segment_writes_append_their_events(api, hearing):
    made = await _one(
        api, SEGMENT_CREATE, {"i": {"name": "users", "kind": "DYNAMIC", "where": WHERE}}, "marketer"
    )
    assert (made["type"], made["record"]) == ("segment.created", {"type": "segment", "id": "users"})
    assert made["data"] == {"kind": "dynamic", "purpose": None}
    assert made["actor"] == MARKETER
    changed = await _one(api, SEGMENT_UPDATE, {"n": "users", "i": {"description": "Users"}})
    assert changed["type"] == "segment.updated"
    assert _changes(changed) == {"description": ("", "Users")}
    published = await _one(api, SEGMENT_PUBLISH, {"n": "users"})
    assert (published["type"], _changes(published)) == (
        "segment.updated",
        {"status": ("draft", "published")},
    )
    where = {"fact": "contact.role", "op": "eq", "value": "decisionMaker"}
    redefined = await _one(api, SEGMENT_UPDATE, {"n": "users", "i": {"where": where}})
    assert _changes(redefined) == {
        "status": ("published", "draft"),
        "where": (json.dumps(WHERE), json.dumps(where)),
    }
    gone = await _one(api, SEGMENT_DELETE, {"n": "users"})
    assert (gone["type"], gone["data"]) == ("segment.deleted", {"kind": "dynamic"})
    log = await _audit(api, to_base64("Segment", "users"))
    assert [e["action"] for e in log] == [
        "segment.deleted",
        *["segment.updated"] * 3,
        "segment.created",
    ]
    assert log[-1]["actor"] == MARKETER and log[0]["actor"] == ADMIN
    assert {"field": "description", "old": "", "new": "Users"} in log[-2]["changes"]
    assert hearing.heard.count("segment.updated") == 3
    assert {"segment.created", "segment.deleted"} <= set(hearing.heard)


async def test_failing_segment_writes_append_nothing(api):
    assert (await api.gql(SEGMENT_CREATE, {"i": {"name": "s", "kind": "STATIC"}}))["createSegment"][
        "__typename"
    ] == "SegmentPayload"
    since = ObjectId()
    taken = await api.gql(SEGMENT_CREATE, {"i": {"name": "s", "kind": "STATIC"}})
    assert taken["createSegment"]["__typename"] == "ConflictError"
    bad = await api.gql(SEGMENT_UPDATE, {"n": "s", "i": {"kind": "DYNAMIC", "where": {"x": 1}}})
    assert bad["updateSegment"]["__typename"] == "ValidationError"
    missing = await api.gql(SEGMENT_DELETE, {"n": "nope"})
    assert missing["deleteSegment"]["__typename"] == "NotFoundError"
    same = await api.gql(SEGMENT_UPDATE, {"n": "s", "i": {}})  # nothing changed: no event
    assert same["updateSegment"]["__typename"] == "SegmentPayload"
    assert await _appended(api, since) == []


async def test_subscription_list_writes_append_their_events(api, hearing):
    since = ObjectId()
    out = await api.gql(LIST_CREATE, {"n": "news"})
    list_id = out["createSubscriptionList"]["list"]["id"]
    [made] = await _appended(api, since)
    assert (made["type"], made["data"]) == ("subscription_list.created", {"name": "news"})
    assert made["record"]["type"] == "subscription_list"
    renamed = await _one(api, LIST_RENAME, {"id": list_id, "n": "letters"})
    assert (renamed["type"], renamed["data"]) == ("subscription_list.updated", {"name": "letters"})
    assert _changes(renamed) == {"name": ("news", "letters")}
    archived = await _one(api, LIST_ARCHIVE, {"id": list_id})
    assert archived["type"] == "subscription_list.archived"
    assert _changes(archived) == {"status": ("active", "archived")}
    log = await _audit(api, list_id)
    assert [e["action"] for e in log] == [
        "subscription_list.archived",
        "subscription_list.updated",
        "subscription_list.created",
    ]
    assert all(e["actor"] == ADMIN and e["recordType"] == "subscription_list" for e in log)
    assert {"field": "name", "old": "news", "new": "letters"} in log[1]["changes"]
    assert "subscription_list.archived" in hearing.heard


async def test_failing_subscription_list_writes_append_nothing(api):
    first = (await api.gql(LIST_CREATE, {"n": "a"}))["createSubscriptionList"]["list"]["id"]
    await api.gql(LIST_CREATE, {"n": "b"})
    await api.gql(LIST_ARCHIVE, {"id": first})
    since = ObjectId()
    taken = await api.gql(LIST_CREATE, {"n": "b"})
    assert taken["createSubscriptionList"]["__typename"] == "ConflictError"
    clash = await api.gql(LIST_RENAME, {"id": first, "n": "b"})  # fails inside the transaction
    assert clash["renameSubscriptionList"]["__typename"] == "ConflictError"
    again = await api.gql(LIST_ARCHIVE, {"id": first})  # archived already: nothing changes
    assert again["archiveSubscriptionList"]["__typename"] == "SubscriptionListPayload"
    assert await _appended(api, since) == []


async def test_webhook_writes_append_their_events_without_the_secret(api, hearing):
    url = "http://127.0.0.1:10/hook"
    since = ObjectId()
    out = await api.gql(HOOK_CREATE, {"i": {"url": url, "events": ["*"], "description": "x"}})
    hook = out["createWebhook"]["webhook"]
    [made] = await _appended(api, since)
    assert made["type"] == "webhook.created"
    assert made["data"] == {"url": url, "events": ["*"], "description": "x"}
    changed = await _one(api, HOOK_UPDATE, {"id": hook["id"], "i": {"events": ["lead.*"]}})
    assert (changed["type"], _changes(changed)) == (
        "webhook.updated",
        {"events": (["*"], ["lead.*"])},
    )
    since = ObjectId()
    rotated = await api.gql(HOOK_ROTATE, {"id": hook["id"]})
    new_secret = rotated["rotateWebhookSecret"]["webhook"]["secret"]
    [turned] = await _appended(api, since)
    assert (turned["type"], turned["changes"], turned["data"]) == ("webhook.secret_rotated", [], {})
    gone = await _one(api, HOOK_DELETE, {"id": hook["id"]})
    assert (gone["type"], gone["data"]) == ("webhook.deleted", {"url": url})
    stored = json.dumps([made, changed, turned, gone], default=str)
    assert hook["secret"] not in stored and new_secret not in stored
    log = await _audit(api, hook["id"])
    assert [e["action"] for e in log] == [
        "webhook.deleted",
        "webhook.secret_rotated",
        "webhook.updated",
        "webhook.created",
    ]
    assert all((e["actor"], e["recordType"]) == (ADMIN, "webhook") for e in log), log
    assert {"webhook.created", "webhook.secret_rotated"} <= set(hearing.heard)


async def test_webhook_events_reach_webhooks(api):
    listening = await api.gql(
        HOOK_CREATE, {"i": {"url": "http://127.0.0.1:10/a", "events": ["webhook.*"]}}
    )
    made = await api.gql(HOOK_CREATE, {"i": {"url": "http://127.0.0.1:10/b", "events": ["*"]}})
    other_id = made["createWebhook"]["webhook"]["id"]
    await api.gql(HOOK_UPDATE, {"id": other_id, "i": {"description": "renamed"}})
    listener = (await api.db["webhooks"].find_one({"url": "http://127.0.0.1:10/a"}))["_id"]
    other = await api.db["webhooks"].find_one({"url": "http://127.0.0.1:10/b"})
    assert listening["createWebhook"]["__typename"] == "WebhookPayload"
    types = [d["type"] async for d in api.db["webhook_deliveries"].find({"webhook": listener})]
    assert sorted(types) == ["webhook.created", "webhook.updated"]  # the other's, not its own
    await api.gql(HOOK_ROTATE, {"id": other_id})
    own = [d["type"] async for d in api.db["webhook_deliveries"].find({"webhook": other["_id"]})]
    assert own == ["webhook.updated"]  # not told of its own creation nor its new secret


async def test_failing_webhook_writes_append_nothing(api):
    out = await api.gql(HOOK_CREATE, {"i": {"url": "http://127.0.0.1:10/h", "events": ["*"]}})
    hook = out["createWebhook"]["webhook"]["id"]
    since = ObjectId()
    bad = await api.gql(HOOK_CREATE, {"i": {"url": "ftp://x", "events": ["*"]}})
    assert bad["createWebhook"]["__typename"] == "ValidationError"
    unknown = await api.gql(HOOK_UPDATE, {"id": hook, "i": {"events": ["nope.*"]}})
    assert unknown["updateWebhook"]["__typename"] == "ValidationError"
    nobody = to_base64("Webhook", str(ObjectId()))
    assert (await api.gql(HOOK_DELETE, {"id": nobody}))["deleteWebhook"][
        "__typename"
    ] == "NotFoundError"
    assert (await api.gql(HOOK_ROTATE, {"id": nobody}))["rotateWebhookSecret"][
        "__typename"
    ] == "NotFoundError"
    denied = await api.gql(HOOK_DELETE, {"id": hook}, role="marketer")
    assert denied["deleteWebhook"]["__typename"] == "ForbiddenError"
    assert await _appended(api, since) == []
