"""Subscription lists whose names have spaces (issue 20 point 13): "Product updates" can be a
segment's ``subscriptionList`` and a value of ``contact.subscriptions`` in its condition."""

from __future__ import annotations

from .helpers import contact, create, members, membership

LIST = "Product updates"
MAKE_LIST = """mutation($n: String!) { createSubscriptionList(name: $n) { __typename } }"""
SUBSCRIBE = """mutation($i: UpdateContactInput!) { updateContact(input: $i) { __typename } }"""


async def test_a_list_name_with_spaces_is_usable_in_a_segment(api):
    made = await api.gql(MAKE_LIST, {"n": LIST})
    assert made["createSubscriptionList"]["__typename"] != "ValidationError", made
    subscriber = await contact(api, "sub@example.com", subscriptions=[LIST])
    left = await contact(api, "left@example.com", subscriptions=[LIST])
    await contact(api, "other@example.com")
    out = await api.gql(SUBSCRIBE, {"i": {"id": left, "subscriptions": []}})
    assert out["updateContact"]["__typename"] == "ContactPayload", out

    segment = await create(
        api,
        name="product-updates",
        purpose="commercial_email",
        subscriptionList=LIST,
        where={"fact": "contact.subscriptions", "op": "eq", "value": LIST},
    )
    assert segment["__typename"] == "SegmentPayload", segment
    assert segment["segment"]["subscriptionList"] == LIST
    assert await members(api, "product-updates") == [subscriber]

    everyone = await create(
        api,
        name="all-lees",
        purpose="commercial_email",
        subscriptionList=LIST,
        where={"fact": "contact.lastName", "op": "eq", "value": "Lee"},
    )
    assert everyone["__typename"] == "SegmentPayload", everyone
    why = await membership(api, left, "all-lees")
    assert why["member"] is False and why["excludedBy"] == ["unsubscribed"]
