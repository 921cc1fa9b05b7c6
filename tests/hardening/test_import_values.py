"""Issue 16 point 9: a JSON-lines import refuses an object (or a list) given for a column
that takes one value, as ``submitForm`` does, row by row with its line number; rejection
reasons quote values as JSON, never as Python's repr."""

from __future__ import annotations

import json

from hardening.test_imports import IMPORT, contact_count, run

LEADS = "query { leads(first: 10) { edges { node { topic companyName } } } }"


async def test_objects_for_one_value_columns_are_refused_per_row(api):
    rows = [
        {"email": "ok@example.com", "firstName": "Ok", "lastName": "Fine"},
        {"email": "op@example.com", "firstName": {"$set": 1}, "lastName": "Op"},
        {"email": ["a@example.com", "b@example.com"], "lastName": "Two"},
        {"email": "sub@example.com", "lastName": "Sub", "subscriptions": []},
        {"email": "phone@example.com", "lastName": "P", "phone": {"n": "555"}},
    ]
    data = "\n".join(json.dumps(r) for r in rows) + "\n"
    out = await run(api, data, fmt="JSONL")
    assert out["__typename"] == "ImportSummary", out
    reasons = {r["line"]: r["reason"] for r in out["rejectedRows"]}
    assert sorted(reasons) == [2, 3, 5]
    assert reasons[2] == 'firstName: must be a single value, not {"$set": 1}'
    assert reasons[3].startswith('email: must be a single value, not ["a@example.com", ')
    assert reasons[5] == 'phone: must be a single value, not {"n": "555"}'
    assert out["created"] == 2  # the list of subscriptions is a list column
    assert await contact_count(api) == 2
    stored = await api.db.contacts.find({}, {"firstName": 1}).to_list()
    assert all("{" not in str(d.get("firstName")) for d in stored)


async def test_lead_rows_too(api):
    data = json.dumps({"topic": {"$gt": ""}, "lastName": "L", "email": "l@example.com"}) + "\n"
    body = await api.gql(IMPORT, {"input": {"kind": "LEADS", "data": data, "format": "JSONL"}})
    out = body["importRecords"]
    assert out["rejectedRows"] == [
        {"line": 1, "reason": 'topic: must be a single value, not {"$gt": ""}'}
    ]
    assert (await api.gql(LEADS))["leads"]["edges"] == []


async def test_reasons_quote_values_as_json(api):
    rows = [
        {"email": "b@example.com", "lastName": "B", "allowBulkEmail": "maybe"},
        {"email": "d@example.com", "lastName": "D", "domain": "nodots"},
        {"email": "s@example.com", "lastName": "S", "subscriptions": ["no-such-list"]},
    ]
    data = "\n".join(json.dumps(r) for r in rows) + "\n"
    out = await run(api, data, fmt="JSONL")
    reasons = [r["reason"] for r in out["rejectedRows"]]
    assert reasons == [
        'allowBulkEmail: "maybe" is not true or false',
        'domain: "nodots" is not a domain name',
        'subscriptions: no active subscription list named "no-such-list"',
    ]
    assert not any("'" in r for r in reasons)
