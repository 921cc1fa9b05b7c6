"""Subscription lists are records: create, rename (membership follows), archive; contacts
subscribe and unsubscribe; an unsubscribe wins over later bulk adds."""

from __future__ import annotations

import asyncio

from capture.helpers import submit
from foundation import create_contact, create_lists

from .helpers import CONTACT_QUERY, SUBSCRIBE, UNSUBSCRIBE, import_rows

LIST_MUTATION = """
mutation($id: ID!, $n: String!) { renameSubscriptionList(id: $id, name: $n) {
  __typename ... on SubscriptionListPayload { list { name status } } ... on Error { message } } }
"""
ARCHIVE = """
mutation($id: ID!) { archiveSubscriptionList(id: $id) {
  __typename ... on SubscriptionListPayload { list { name status } } } }
"""
CREATE = """
mutation($n: String!) { createSubscriptionList(name: $n) {
  __typename ... on Error { message code } ... on ValidationError { field } } }
"""


async def test_lists_crud_and_rename_follows_every_contact(api):
    news, events = await create_lists(api, "news", "events")
    again = (await api.gql(CREATE, {"n": " news "}))["createSubscriptionList"]
    assert again["__typename"] == "ConflictError"
    blank = (await api.gql(CREATE, {"n": "  "}))["createSubscriptionList"]
    assert blank == {
        "__typename": "ValidationError",
        "message": "name: must not be blank",
        "code": "BAD_USER_INPUT",
        "field": "name",
    }
    sales = await api.post(CREATE, {"n": "other"}, role="sales")
    assert sales.json()["data"]["createSubscriptionList"]["code"] == "FORBIDDEN"

    ann = await create_contact(api, email="ann@example.com", lastName="Ann")
    bo = await create_contact(api, email="bo@example.com", lastName="Bo")
    out = await api.gql(SUBSCRIBE, {"c": [ann, bo], "l": ["news", "events"]})
    assert out["subscribeContacts"]["__typename"] == "SubscriptionChangePayload"
    out = await api.gql(UNSUBSCRIBE, {"c": [bo], "l": ["events"]})
    (bo_after,) = out["unsubscribeContacts"]["contacts"]
    assert bo_after["subscriptions"] == ["news"] and bo_after["unsubscribed"] == ["events"]

    renamed = await api.gql(LIST_MUTATION, {"id": news, "n": "Newsletter"})
    assert renamed["renameSubscriptionList"]["list"] == {"name": "Newsletter", "status": "ACTIVE"}
    await api.gql(LIST_MUTATION, {"id": events, "n": "Events 2027"})
    for cid, subs, left in (
        (ann, ["Newsletter", "Events 2027"], []),
        (bo, ["Newsletter"], ["Events 2027"]),
    ):
        contact = (await api.gql(CONTACT_QUERY, {"id": cid}))["contact"]
        assert (contact["subscriptions"], contact["unsubscribed"]) == (subs, left)
    taken = await api.gql(LIST_MUTATION, {"id": events, "n": "Newsletter"})
    assert taken["renameSubscriptionList"]["__typename"] == "ConflictError"

    archived = (await api.gql(ARCHIVE, {"id": events}))["archiveSubscriptionList"]
    assert archived["list"] == {"name": "Events 2027", "status": "ARCHIVED"}
    carol = await create_contact(api, email="carol@example.com", lastName="Carol")
    refused = await api.gql(SUBSCRIBE, {"c": [carol], "l": ["Events 2027"]})
    assert refused["subscribeContacts"]["__typename"] == "ValidationError"
    assert "archived" in refused["subscribeContacts"]["message"]
    unknown = (await api.gql(SUBSCRIBE, {"c": [carol], "l": ["nope"]}))["subscribeContacts"]
    assert unknown["fields"] == [{"field": "lists", "message": "no subscription list named 'nope'"}]
    # members of an archived list stay on it and may still leave it
    left = await api.gql(UNSUBSCRIBE, {"c": [ann], "l": ["Events 2027"]})
    assert left["unsubscribeContacts"]["contacts"][0]["unsubscribed"] == ["Events 2027"]

    listed = await api.gql("{ subscriptionLists { name status } }")
    assert listed["subscriptionLists"] == [
        {"name": "Events 2027", "status": "ARCHIVED"},
        {"name": "Newsletter", "status": "ACTIVE"},
    ]
    active = await api.gql("{ subscriptionLists(status: ACTIVE) { name } }", role="read-only")
    assert active["subscriptionLists"] == [{"name": "Newsletter"}]


async def test_unsubscribe_wins_over_bulk_adds_until_the_person_comes_back(api):
    await create_lists(api, "news")
    first = await submit(api, "signup", {"email": "dee@example.com", "subscriptions": ["news"]})
    dee = first["contact"]["id"]
    await api.gql(UNSUBSCRIBE, {"c": [dee], "l": ["news"]})

    bulk = (await api.gql(SUBSCRIBE, {"c": [dee], "l": ["news"]}))["subscribeContacts"]
    assert bulk["keptOut"] == [{"contact": dee, "lists": ["news"]}]
    assert bulk["contacts"][0]["subscriptions"] == []
    imported = await import_rows(api, "CONTACTS", "email,subscriptions\ndee@example.com,news\n")
    assert imported["updated"] == 1 and imported["rejected"] == 0
    contact = (await api.gql(CONTACT_QUERY, {"id": dee}))["contact"]
    assert contact["subscriptions"] == [] and contact["unsubscribed"] == ["news"]

    # the person subscribes again on a form: their own explicit act
    back = await submit(api, "signup", {"email": "dee@example.com", "subscriptions": ["news"]})
    assert back["contact"]["subscriptions"] == ["news"]
    contact = (await api.gql(CONTACT_QUERY, {"id": dee}))["contact"]
    assert contact["subscriptions"] == ["news"] and contact["unsubscribed"] == []

    # or an API user records the person's request with resubscribe: true
    await api.gql(UNSUBSCRIBE, {"c": [dee], "l": ["news"]})
    asked = await api.gql(SUBSCRIBE, {"c": [dee], "l": ["news"], "r": True})
    assert asked["subscribeContacts"]["contacts"][0]["subscriptions"] == ["news"]
    assert asked["subscribeContacts"]["keptOut"] == []


async def test_forms_and_imports_only_name_active_lists(api):
    await create_lists(api, "news")
    out = await api.gql(
        """mutation($i: SubmitFormInput!) { submitForm(input: $i) {
           __typename ... on ValidationError { fields { field message } } } }""",
        {
            "i": {
                "formId": "signup",
                "fields": {"email": "eve@example.com", "subscriptions": ["news", "typo"]},
            }
        },
    )
    assert out["submitForm"] == {
        "__typename": "ValidationError",
        "fields": [
            {"field": "input.fields.subscriptions", "message": "no subscription list named 'typo'"}
        ],
    }
    assert await api.db.contacts.count_documents({}) == 0
    assert await api.db.subscription_lists.count_documents({}) == 1  # nothing made up
    imported = await import_rows(
        api, "CONTACTS", "email,subscriptions\nfay@example.com,news\ngus@example.com,typo\n"
    )
    assert imported["created"] == 1 and imported["rejected"] == 1
    assert imported["rejectedRows"] == [
        {"line": 3, "reason": 'subscriptions: no active subscription list named "typo"'}
    ]


async def test_concurrent_changes_to_one_contact_lose_nothing(api):
    names = [f"list-{i}" for i in range(6)]
    await create_lists(api, *names)
    ann = await create_contact(api, email="ann@example.com", lastName="Ann")
    results = await asyncio.gather(
        *(api.gql(SUBSCRIBE, {"c": [ann], "l": [name]}) for name in names)
    )
    assert all(r["subscribeContacts"]["__typename"] == "SubscriptionChangePayload" for r in results)
    contact = (await api.gql(CONTACT_QUERY, {"id": ann}))["contact"]
    assert sorted(contact["subscriptions"]) == names
    records = await api.db.interactions.find({"type": "consent_changed"}).to_list()
    joined = sorted(c["list"] for r in records for c in r["details"]["changes"])
    assert joined == names  # each change recorded exactly once


async def test_a_missing_contact_refuses_the_whole_change(api):
    await create_lists(api, "news")
    ann = await create_contact(api, email="ann@example.com", lastName="Ann")
    missing = "Q29udGFjdDo2NTAwMDAwMDAwMDAwMDAwMDAwMDAwMDA="  # Contact:6500...
    out = (await api.gql(SUBSCRIBE, {"c": [ann, missing], "l": ["news"]}))["subscribeContacts"]
    assert out["__typename"] == "NotFoundError"
    contact = (await api.gql(CONTACT_QUERY, {"id": ann}))["contact"]
    assert contact["subscriptions"] == []
    assert await api.db.interactions.count_documents({}) == 0
