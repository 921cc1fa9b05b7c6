"""Segments over GraphQL HTTP against the embedded database: the seed's example segment, consent
exclusions with their explanations, static and compound segments, cycles, previews,
explanations, paging, diffs and the membership subscription."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

from foundation import create_lists, oid_of
from test_subscriptions import subscribed

from .helpers import (
    ADD,
    CONTOSO,
    DELETE,
    EVALUATE,
    EXAMPLE_WHERE,
    PUBLISH,
    REMOVE,
    UPDATE,
    contact,
    create,
    lead,
    members,
    membership,
    open_email,
)


async def test_the_seeds_example_segment_from_the_api_and_the_rule_file(api):
    dm = await contact(api, "dm@example.com", role="DECISION_MAKER")
    other_topic = await contact(api, "dm2@example.com", role="DECISION_MAKER")
    influencer = await contact(api, "inf@example.com", role="INFLUENCER")
    no_lead = await contact(api, "dm3@example.com", role="DECISION_MAKER")
    await lead(api, dm, "Spring webinar")
    await lead(api, dm, CONTOSO)
    await lead(api, other_topic, "Spring webinar")
    await lead(api, influencer, CONTOSO)
    del no_lead

    made = await create(api, name="conference-dms", where=EXAMPLE_WHERE)
    assert made["__typename"] == "SegmentPayload", made
    segment = made["segment"]
    assert segment["status"] == "DRAFT" and segment["source"] == "API"
    assert segment["kind"] == "DYNAMIC" and segment["definition"]["where"] == EXAMPLE_WHERE
    assert await members(api, "conference-dms") == [dm]
    # the rule file's copy of the same segment gives the same answer
    assert await members(api, "contoso-conference-decision-makers") == [dm]

    published = await api.gql(PUBLISH, {"n": "conference-dms"})
    assert published["publishSegment"]["segment"]["status"] == "PUBLISHED"
    data = await api.gql(
        """query($a: ID!, $b: ID!) {
          a: contact(id: $a) { segments } b: contact(id: $b) { segments } }""",
        {"a": dm, "b": influencer},
    )
    assert set(data["a"]["segments"]) == {"conference-dms", "contoso-conference-decision-makers"}
    assert data["b"]["segments"] == []

    why = await membership(api, dm, "conference-dms")
    assert why["member"] is True and why["excludedBy"] == [] and why["consent"] == []
    assert why["lead"] is not None  # the Contoso lead, not the webinar one
    assert [(c["path"], c["holds"]) for c in why["conditions"]] == [
        ("where", True),
        ("where.all.0", True),
        ("where.all.1", True),
    ]
    why_not = await membership(api, influencer, "conference-dms")
    assert why_not["member"] is False
    assert [(c["path"], c["holds"]) for c in why_not["conditions"]] == [
        ("where", False),
        ("where.all.0", True),
        ("where.all.1", False),
    ]
    assert why_not["conditions"][2]["condition"] == "contact.role eq 'decisionMaker'"


async def test_each_consent_exclusion_is_counted_and_explained(api):
    ok = await contact(api, "ok@example.com")
    no_email = await contact(api, None)
    no_bulk = await contact(api, "nobulk@example.com", preferences={"allowBulkEmail": False})
    unsubscribed = await contact(api, "unsub@example.com")
    low = await contact(api, "low@example.com", consent={"level": "TRANSACTIONAL"})
    child = await contact(api, "kid@example.com", consent={"level": "MARKETING", "isChild": True})
    guarded = await contact(
        api,
        "kid2@example.com",
        consent={"level": "MARKETING", "isChild": True, "guardian": "Pat Lee"},
    )
    await create_lists(api, "newsletter")  # a segment names an existing list
    # subscription lists are the privacy lane's: the contact document carries the opt-out
    await api.db.contacts.update_one(
        {"_id": oid_of(unsubscribed)}, {"$set": {"unsubscribed": ["newsletter"]}}
    )
    everyone = {ok, no_email, no_bulk, unsubscribed, low, child, guarded}
    made = await create(
        api,
        name="newsletter-audience",
        purpose="commercial_email",
        subscriptionList="newsletter",
        where={"fact": "contact.lastName", "op": "eq", "value": "Lee"},
    )
    assert made["__typename"] == "SegmentPayload", made
    assert set(await members(api, "newsletter-audience")) == {ok, guarded}

    data = await api.gql(
        '{ segment(name: "newsletter-audience") { exclusions { reason description count } } }'
    )
    counts = {e["reason"]: e["count"] for e in data["segment"]["exclusions"]}
    assert counts == {
        "no_email": 1,
        "email_not_allowed": 0,
        "bulk_email_not_allowed": 1,
        "unsubscribed": 1,
        "consent_too_low": 1,
        "child_without_guardian": 1,
    }
    expected = {
        no_email: "no_email",
        no_bulk: "bulk_email_not_allowed",
        unsubscribed: "unsubscribed",
        low: "consent_too_low",
        child: "child_without_guardian",
    }
    for contact_id, reason in expected.items():
        why = await membership(api, contact_id, "newsletter-audience")
        assert why["matched"] is True and why["member"] is False
        assert why["excludedBy"] == [reason], (reason, why)
        check = next(c for c in why["consent"] if c["reason"] == reason)
        assert check["excludes"] is True and check["description"]
    for contact_id in (ok, guarded):
        why = await membership(api, contact_id, "newsletter-audience")
        assert why["member"] is True and why["excludedBy"] == []
        assert all(not c["excludes"] for c in why["consent"])
    assert everyone >= set(await members(api, "newsletter-audience"))


async def test_static_and_compound_segments(api):
    a = await contact(api, "a@example.com", role="DECISION_MAKER")
    b = await contact(api, "b@example.com", role="INFLUENCER")
    c = await contact(api, "c@example.com", role="DECISION_MAKER")
    d = await contact(api, "d@example.com", role="USER")
    made = await create(api, name="vip", kind="STATIC")
    assert made["__typename"] == "SegmentPayload", made
    assert await members(api, "vip") == []

    added = await api.gql(ADD, {"s": "vip", "c": [a, b]})
    assert added["addToSegment"]["changed"] == 2
    again = await api.gql(ADD, {"s": "vip", "c": [a]})
    assert again["addToSegment"]["changed"] == 0  # already on the list
    snapshot = {"fact": "contact.role", "op": "eq", "value": "decisionMaker"}
    by_rule = await api.gql(ADD, {"s": "vip", "w": snapshot})
    assert by_rule["addToSegment"]["changed"] == 1  # c (a was there)
    assert set(await members(api, "vip")) == {a, b, c}
    # a snapshot: a later decision maker is not added by itself
    late = await contact(api, "late@example.com", role="DECISION_MAKER")
    assert late not in await members(api, "vip")
    removed = await api.gql(REMOVE, {"s": "vip", "c": [b]})
    assert removed["removeFromSegment"]["changed"] == 1
    assert set(await members(api, "vip")) == {a, c}

    # a list only holds real contacts, and only a static segment has one
    bogus = await api.gql(ADD, {"s": "vip", "c": [a, d.replace(d[-4:], "AAAA")]})
    assert bogus["addToSegment"]["__typename"] in ("ValidationError", "NotFoundError")
    await create(api, name="deciders", where=snapshot)
    wrong = await api.gql(ADD, {"s": "deciders", "c": [d]})
    assert wrong["addToSegment"]["__typename"] == "ConflictError"

    made = await create(
        api, name="vip-not-deciders", kind="COMPOUND", include=["vip"], exclude=["deciders"]
    )
    assert made["__typename"] == "SegmentPayload", made
    assert await members(api, "vip-not-deciders") == []
    await api.gql(ADD, {"s": "vip", "c": [b, d]})
    assert set(await members(api, "vip-not-deciders")) == {b, d}
    union = await create(api, name="vip-or-deciders", kind="COMPOUND", include=["vip", "deciders"])
    assert union["__typename"] == "SegmentPayload"
    assert set(await members(api, "vip-or-deciders")) == {a, b, c, d, late}

    why = await membership(api, d, "vip-not-deciders")
    assert why["member"] is True
    assert [(x["path"], x["condition"], x["holds"]) for x in why["conditions"]] == [
        ("include.0", "in segment 'vip'", True),
        ("exclude.0", "in segment 'deciders'", False),
    ]
    why = await membership(api, a, "vip-not-deciders")
    assert why["member"] is False and why["conditions"][1]["holds"] is True

    # a segment another one names cannot be deleted; the user can be
    refused = await api.gql(DELETE, {"n": "vip"})
    assert refused["deleteSegment"]["__typename"] == "ConflictError"
    assert "vip-not-deciders" in refused["deleteSegment"]["message"]
    for name in ("vip-not-deciders", "vip-or-deciders", "vip"):
        assert (await api.gql(DELETE, {"n": name}))["deleteSegment"][
            "__typename"
        ] == "SegmentPayload"
    assert await api.db.segment_members.count_documents({}) == 0


async def test_cycles_are_refused_with_the_cycle_named(api):
    await create(api, name="base", where={"fact": "contact.role", "value": "user"})
    await create(api, name="a", kind="COMPOUND", include=["base"])
    await create(api, name="b", kind="COMPOUND", include=["a"])
    out = (await api.gql(UPDATE, {"n": "a", "i": {"exclude": ["b"]}}))["updateSegment"]
    assert out["__typename"] == "SegmentCycleError", out
    assert out["cycle"] == ["a", "b", "a"] and "a -> b -> a" in out["message"]
    itself = await create(api, name="self", kind="COMPOUND", include=["self"])
    assert itself["__typename"] == "SegmentCycleError" and itself["cycle"] == ["self", "self"]
    # nothing was written
    stored = await api.db.segments.find_one({"name": "a"})
    assert stored["exclude"] == []
    assert await api.db.segments.find_one({"name": "self"}) is None


async def test_bad_definitions_are_typed_errors_with_their_path(api):
    bad_fact = await create(
        api,
        name="oops",
        where={"all": [{"fact": "contact.role", "value": "user"}, {"fact": "contact.rol"}]},
    )
    assert bad_fact["__typename"] == "ValidationError", bad_fact
    assert bad_fact["field"] == "input.where.all.1.fact"
    assert "did you mean contact.role" in bad_fact["fields"][0]["message"]
    bad_type = await create(
        api, name="oops", where={"event": {"type": "email_opend", "within": "30d"}}
    )
    assert bad_type["field"] == "input.where.event.type.0"
    assert "email_opened" in bad_type["fields"][0]["message"]
    bad_shape = await create(api, name="oops", where={"al": []})
    assert bad_shape["__typename"] == "ValidationError" and bad_shape["field"].startswith(
        "input.where"
    )
    no_where = await create(api, name="oops")
    assert no_where["__typename"] == "ValidationError"
    assert "where" in no_where["fields"][0]["message"]
    purpose = await create(api, name="oops", purpose="spam", where={"fact": "contact.role"})
    assert purpose["field"] == "input.purpose" and "commercial_email" in purpose["message"]
    unknown = await create(api, name="oops", kind="COMPOUND", include=["nope"])
    assert unknown["field"] == "input.include.0"
    taken = await create(api, name="contoso-conference-decision-makers", kind="STATIC")
    assert taken["__typename"] == "ConflictError"
    assert await api.db.segments.count_documents({}) == 0


async def test_rule_file_segments_are_read_only_and_writes_need_the_right(api):
    out = await api.gql(UPDATE, {"n": "contoso-conference-decision-makers", "i": {"purpose": None}})
    assert out["updateSegment"]["__typename"] == "ConflictError"
    assert "rule files" in out["updateSegment"]["message"]
    denied = await create(api, role="read-only", name="x", kind="STATIC")
    assert denied["__typename"] == "ForbiddenError" and denied["permission"] == "segments:write"
    allowed = await create(api, role="marketer", name="x", kind="STATIC")
    assert allowed["__typename"] == "SegmentPayload"
    listed = await api.gql("{ segments { name source status } }", role="read-only")
    sources = {s["name"]: (s["source"], s["status"]) for s in listed["segments"]}
    assert sources["x"] == ("API", "DRAFT")
    assert sources["contoso-conference-decision-makers"] == ("RULES", "PUBLISHED")


async def test_update_makes_a_draft_that_publish_makes_live(api):
    await create(api, name="s", where={"fact": "contact.role", "value": "user"})
    await api.gql(PUBLISH, {"n": "s"})
    out = await api.gql(
        UPDATE, {"n": "s", "i": {"purpose": "commercial_email", "description": "users"}}
    )
    segment = out["updateSegment"]["segment"]
    assert segment["status"] == "DRAFT" and segment["purpose"] == "commercial_email"
    assert segment["definition"]["where"] == {"fact": "contact.role", "op": "eq", "value": "user"}
    to_static = await api.gql(UPDATE, {"n": "s", "i": {"kind": "STATIC"}})
    assert to_static["updateSegment"]["segment"]["definition"]["where"] is None


async def test_preview_counts_and_samples_without_saving(api):
    ids = [await contact(api, f"p{i}@example.com", role="USER") for i in range(4)]
    await contact(api, "q@example.com", role="INFLUENCER")
    query = """query($d: SegmentInput!) { previewSegment(definition: $d, sample: 2) {
      count sample { id role } } }"""
    out = await api.gql(
        query, {"d": {"name": "draft", "where": {"fact": "contact.role", "value": "user"}}}
    )
    assert out["previewSegment"]["count"] == 4
    assert [s["id"] for s in out["previewSegment"]["sample"]] == sorted(ids, key=oid_of)[:2]
    assert await api.db.segments.count_documents({}) == 0
    bad = await api.post(
        query, {"d": {"name": "draft", "where": {"fact": "contact.nope", "value": 1}}}
    )
    body = bad.json()
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert body["errors"][0]["extensions"]["fields"][0]["field"] == "definition.where.fact"


async def test_member_pages_are_stable_while_members_change(api):
    ids = sorted(
        [await contact(api, f"m{i}@example.com", role="USER") for i in range(7)], key=oid_of
    )
    await create(api, name="users", where={"fact": "contact.role", "value": "user"})
    query = """query($a: String) { segment(name: "users") { members(first: 3, after: $a) {
      pageInfo { hasNextPage endCursor } edges { node { id } } } } }"""
    first = (await api.gql(query))["segment"]["members"]
    assert [e["node"]["id"] for e in first["edges"]] == ids[:3]
    # a member of the first page leaves: the next page still starts after the cursor
    await api.gql(
        """mutation($i: UpdateContactInput!) { updateContact(input: $i) { __typename } }""",
        {"i": {"id": ids[0], "role": "OTHER"}},
    )
    second = (await api.gql(query, {"a": first["pageInfo"]["endCursor"]}))["segment"]["members"]
    assert [e["node"]["id"] for e in second["edges"]] == ids[3:6]
    third = (await api.gql(query, {"a": second["pageInfo"]["endCursor"]}))["segment"]["members"]
    assert [e["node"]["id"] for e in third["edges"]] == ids[6:]
    assert third["pageInfo"]["hasNextPage"] is False
    forged = await api.post(query, {"a": first["pageInfo"]["endCursor"][:-3] + "abc"})
    assert forged.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_engagement_segment_diff_and_subscription(api):
    recent = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    old = (datetime.now(UTC) - timedelta(days=60)).isoformat()
    engaged = await contact(api, "e1@example.com")
    stale = await contact(api, "e2@example.com")
    await open_email(api, engaged, "k1", recent)
    await open_email(api, stale, "k2", old)
    where = {"event": {"type": "email_opened", "within": "30d"}}
    await create(api, name="engaged", where=where, purpose="commercial_email")
    await api.gql(PUBLISH, {"n": "engaged"})
    assert await members(api, "engaged") == [engaged]
    since = datetime.now(UTC).isoformat()

    await open_email(api, stale, "k3", recent)
    diff = """query($s: String!, $t: DateTime!) { segmentDiff(segment: $s, since: $t) {
      count added removed } }"""
    out = (await api.gql(diff, {"s": "engaged", "t": since}))["segmentDiff"]
    assert out == {"count": 2, "added": [stale], "removed": []}
    early = await api.post(diff, {"s": "engaged", "t": "2000-01-01T00:00:00Z"})
    assert early.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"  # nothing that early

    subscription = """subscription($s: String!) { segmentMembershipChanged(segment: $s) {
      segment count added removed reason } }"""
    async with subscribed(api, subscription, {"s": "engaged"}) as ws:
        message = None
        for attempt in range(40):  # the change stream opens asynchronously
            if attempt:
                key = f"k{attempt + 10}"
                contact_id = await contact(api, f"n{attempt}@example.com")
                await open_email(api, contact_id, key, recent)
            evaluated = await api.gql(EVALUATE, {"s": "engaged"})
            assert evaluated["evaluateSegment"]["__typename"] == "SegmentEvaluation"
            try:
                message = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                break
            except TimeoutError:
                continue
        assert message is not None, "no event received"
        event = message["payload"]["data"]["segmentMembershipChanged"]
        assert event["segment"] == "engaged" and event["reason"] == "evaluated"
        assert event["added"] and event["removed"] == []
        assert stale in event["added"] or event["count"] > 2
