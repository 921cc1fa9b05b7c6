"""Issue 17 point 1: adding contacts to a published static segment's list, or taking them off,
is a segment membership change: recorded as an evaluation with its
``segment.membership_changed`` event (who joined or left), in the audit log by the caller."""

from __future__ import annotations

from typing import Any

from foundation import oid_of

from .helpers import ADD, PUBLISH, REMOVE, contact, create

AUDIT = """query($actions: [String!]) { auditLog(actions: $actions, first: 20) {
  nodes { action recordType actor { name via } } } }"""


async def _events(api: Any) -> list[dict[str, Any]]:
    found = api.db.events.find({"type": "segment.membership_changed"}).sort("_id", 1)
    return [e async for e in found]


async def test_a_published_lists_changes_are_membership_events(api):
    a = await contact(api, "la@example.com")
    b = await contact(api, "lb@example.com")
    assert (await create(api, name="vip-list", kind="STATIC"))["__typename"] == "SegmentPayload"
    draft = await api.gql(ADD, {"s": "vip-list", "c": [a]})
    assert draft["addToSegment"]["changed"] == 1
    assert await _events(api) == []  # a draft has no membership to change yet
    published = await api.gql(PUBLISH, {"n": "vip-list"})
    assert published["publishSegment"]["__typename"] == "SegmentPayload", published
    (first,) = await _events(api)
    assert first["data"]["joined"] == [oid_of(a)] and first["data"]["reason"] == "published"

    added = await api.gql(ADD, {"s": "vip-list", "c": [a, b]})
    assert added["addToSegment"]["changed"] == 1  # a was on it
    removed = await api.gql(REMOVE, {"s": "vip-list", "c": [a]})
    assert removed["removeFromSegment"]["changed"] == 1
    nothing = await api.gql(REMOVE, {"s": "vip-list", "c": [a]})
    assert nothing["removeFromSegment"]["changed"] == 0  # not on it: no change, no event
    _, joined, left = await _events(api)
    assert (joined["data"]["joined"], joined["data"]["left"]) == ([oid_of(b)], [])
    assert joined["data"]["reason"] == "added" and joined["record"]["id"] == "vip-list"
    assert (left["data"]["joined"], left["data"]["left"]) == ([], [oid_of(a)])
    assert left["data"]["reason"] == "removed"
    log = (await api.gql(AUDIT, {"actions": ["segment.membership_changed"]}))["auditLog"]
    assert len(log["nodes"]) == 3 and all(n["recordType"] == "segment" for n in log["nodes"])
    assert {n["actor"]["via"] for n in log["nodes"][:2]} == {"api"}
