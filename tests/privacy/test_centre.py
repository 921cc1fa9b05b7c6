"""The subscription centre: public pages read and change one person's subscriptions with a
signed, expiring token; nothing else runs without an API key; bad tokens are refused."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import timedelta

from capture.helpers import submit
from conftest import ROOT
from foundation import create_lists, oid_of
from itsdangerous import URLSafeSerializer
from leadgraph import signing

from .helpers import CENTRE, CONTACT_QUERY, TOKEN, UPDATE_CENTRE, history, public


async def _person(api):
    await create_lists(api, "news", "events", "offers")
    out = await submit(
        api,
        "signup",
        {
            "email": "ann.lee@example.com",
            "firstName": "Ann",
            "allowBulkEmail": True,
            "subscriptions": ["news", "events"],
        },
    )
    cid = out["contact"]["id"]
    issued = (await api.gql(TOKEN, {"c": cid}))["issueSubscriptionToken"]
    assert issued["__typename"] == "SubscriptionTokenPayload"
    return cid, issued["token"]


async def test_the_centre_unsubscribes_by_token_without_an_api_key(api):
    cid, token = await _person(api)
    records = (await api.db.contacts.count_documents({}), await api.db.leads.count_documents({}))

    seen = await public(api, CENTRE, {"t": token})
    assert seen.status_code == 200, seen.text
    centre = seen.json()["data"]["subscriptionCentre"]
    assert centre["firstName"] == "Ann" and centre["email"] == "a***@example.com"
    assert centre["allowBulkEmail"] is True
    assert centre["lists"] == [
        {"name": "events", "subscribed": True},
        {"name": "news", "subscribed": True},
        {"name": "offers", "subscribed": False},
    ]

    one = await public(
        api, UPDATE_CENTRE, {"t": token, "i": {"unsubscribe": ["news"], "subscribe": ["offers"]}}
    )
    assert one.json()["data"]["updateSubscriptions"]["lists"] == [
        {"name": "events", "subscribed": True},
        {"name": "news", "subscribed": False},
        {"name": "offers", "subscribed": True},
    ]
    every = await public(api, UPDATE_CENTRE, {"t": token, "i": {"unsubscribeAll": True}})
    answer = every.json()["data"]["updateSubscriptions"]
    assert answer["allowBulkEmail"] is False
    assert all(not entry["subscribed"] for entry in answer["lists"])
    contact = (await api.gql(CONTACT_QUERY, {"id": cid}))["contact"]
    assert contact["subscriptions"] == []
    assert sorted(contact["unsubscribed"]) == ["events", "news", "offers"]
    assert contact["preferences"]["allowBulkEmail"] is False

    *_, first, last = await history(api, cid)
    for record in (first, last):
        assert record["details"]["via"] == "subscription_centre"
        assert record["details"]["userAgent"] == "centre-page/1"
        assert record["details"]["ip"] == "127.0.0.1"
    assert {"field": "preferences.allowBulkEmail", "old": True, "new": False} in (
        last["details"]["changes"]
    )
    # the centre never creates anything
    assert (
        await api.db.contacts.count_documents({}),
        await api.db.leads.count_documents({}),
    ) == records


async def test_forged_tampered_and_expired_tokens_are_refused(api):
    cid, token = await _person(api)
    forged = URLSafeSerializer(b"not the server secret", salt="leadgraph subscription centre")
    stale, _ = signing.issue_token(oid_of(cid), timedelta(seconds=-5))
    cases = {
        "INVALID": [
            token[:-2] + ("AA" if not token.endswith("AA") else "BB"),  # tampered signature
            forged.dumps({"c": str(oid_of(cid)), "e": 4102444800}),  # another secret
            "garbage",
            "",
        ],
        "EXPIRED": [stale],
    }
    for reason, tokens in cases.items():
        for bad in tokens:
            for query, variables in (
                (CENTRE, {"t": bad}),
                (UPDATE_CENTRE, {"t": bad, "i": {"unsubscribeAll": True}}),
            ):
                body = (await public(api, query, variables)).json()["data"]
                (answer,) = body.values()
                assert answer["__typename"] == "InvalidTokenError", (bad, answer)
                assert answer["code"] == "INVALID_TOKEN" and answer["reason"] == reason
    contact = (await api.gql(CONTACT_QUERY, {"id": cid}))["contact"]
    assert contact["subscriptions"] == ["news", "events"]  # nothing changed
    assert contact["preferences"]["allowBulkEmail"] is True

    # a token of a person erased since names nobody
    await api.gql("mutation($id: ID!) { eraseContact(id: $id) { __typename } }", {"id": cid})
    gone = (await public(api, CENTRE, {"t": token})).json()["data"]["subscriptionCentre"]
    assert gone["reason"] == "INVALID"


async def test_without_a_key_only_the_centre_runs(api):
    cid, token = await _person(api)
    refused = [
        "{ contacts { totalCount } }",
        '{ subscriptionCentre(token: "x") { __typename } contacts { totalCount } }',
        'query { ...F } fragment F on Query { subscriptionCentre(token: "x") { __typename } }',
        f'mutation {{ eraseContact(id: "{cid}") {{ __typename }} }}',
        f'mutation {{ issueSubscriptionToken(contact: "{cid}") {{ __typename }} }}',
        "{ __schema { types { name } } }",
    ]
    for query in refused:
        response = await public(api, query, {})
        assert response.status_code == 401, (query, response.text)
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # a wrong key is a wrong key, even for the centre
    wrong = await api.post(
        CENTRE, {"t": token}, role=None, headers={"Authorization": "Bearer lg_nope"}
    )
    assert wrong.status_code == 401
    # issuing tokens is an admin's
    marketer = (await api.gql(TOKEN, {"c": cid}, role="marketer"))["issueSubscriptionToken"]
    assert marketer["code"] == "FORBIDDEN"
    long = (await api.gql(TOKEN, {"c": cid, "d": 400}))["issueSubscriptionToken"]
    assert long["__typename"] == "ValidationError"


async def test_the_cli_issues_a_token_the_server_honours(api, mongo_uri):
    cid, _ = await _person(api)
    env = {**os.environ, "MONGODB_URI": mongo_uri, "LEADGRAPH_DB_NAME": api.db.name}
    exe = os.path.join(os.path.dirname(sys.executable), "leadgraph")
    proc = await asyncio.create_subprocess_exec(
        exe,
        "privacy",
        "token",
        cid,
        "--days",
        "7",
        env=env,
        cwd=str(ROOT),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err
    token = out.decode().strip()
    assert b"expires" in err
    centre = (await public(api, CENTRE, {"t": token})).json()["data"]["subscriptionCentre"]
    assert centre["__typename"] == "SubscriptionCentre" and centre["firstName"] == "Ann"
