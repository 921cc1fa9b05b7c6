"""Issue 9, points 6 and 7: free-form input is checked against its field's type before storage,
and every malformed value is a typed input error (never a masked internal error)."""

from __future__ import annotations

import pytest
from capture.helpers import submit
from test_mutations import RECORD, counts, make_contact

CONTACTS = "{ contacts { edges { node { id email consent { level isChild guardian } } } } }"


def fields_of(result: dict) -> dict[str, str]:
    assert result["__typename"] == "ValidationError", result
    return {f["field"]: f["message"] for f in result["fields"]}


@pytest.mark.parametrize(
    ("consent", "bad_field"),
    [
        ({"level": "marketing", "isChild": {"$gt": ""}}, "consent.isChild"),
        ({"level": "marketing", "guardian": {"$ne": None}}, "consent.guardian"),
        ({"level": {"$in": ["marketing"]}}, "consent.level"),
        ({"level": "marketing", "isChild": "yes"}, "consent.isChild"),
        ({"level": "marketing", "$where": "1"}, "consent.$where"),
    ],
)
async def test_operator_objects_in_consent_are_refused_and_nothing_is_written(
    api, consent, bad_field
):
    before = await counts(api.db)
    out = await submit(api, "f1", {"email": "op@example.com", "consent": consent})
    assert f"input.fields.{bad_field}" in fields_of(out)
    assert await counts(api.db) == before
    assert await api.db.match_keys.count_documents({}) == 0


async def test_typed_consent_is_stored_and_every_read_of_the_contact_works(api):
    consent = {"level": "marketing", "isChild": True, "guardian": "Pat Lee"}
    out = await submit(api, "f1", {"email": "kid@example.com", "consent": consent})
    assert out["__typename"] == "CapturePayload", out
    edges = (await api.gql(CONTACTS))["contacts"]["edges"]
    assert [e["node"]["consent"] for e in edges] == [
        {"level": "MARKETING", "isChild": True, "guardian": "Pat Lee"}
    ]


async def test_form_fields_kept_as_details_must_be_storable_names(api):
    before = await counts(api.db)
    out = await submit(
        api,
        "f1",
        {
            "email": "d@example.com",
            "$gt": "x",
            "utm.source": "x",
            "extra": {"ok": {"$where": "sleep(1)"}},
        },
    )
    assert set(fields_of(out)) == {
        "input.fields.$gt",
        "input.fields.utm.source",
        "input.fields.extra.ok.$where",
    }
    assert await counts(api.db) == before
    # plain nested details are kept as given
    ok = await submit(api, "f1", {"email": "d@example.com", "utm": {"source": "news"}})
    assert ok["__typename"] == "CapturePayload", ok
    doc = await api.db.interactions.find_one({})
    assert doc["details"] == {"utm": {"source": "news"}}


async def test_record_interaction_details_are_checked_like_form_details(api):
    contact = await make_contact(api, email="r@example.com")
    before = await counts(api.db)
    deep: dict = {}
    node = deep
    for _ in range(20):
        node["n"] = {}
        node = node["n"]
    for details, field in (
        ({"$set": {"a": 1}}, "input.details.$set"),
        ({"a": [{"b.c": 1}]}, "input.details.a.0.b.c"),
        (deep, "input.details" + ".n" * 16),
    ):
        out = (
            await api.gql(
                RECORD, {"i": {"contact": contact["id"], "type": "EMAIL_SENT", "details": details}}
            )
        )["recordInteraction"]
        assert field in fields_of(out), out
    assert await counts(api.db) == before


async def test_blank_idempotency_key_is_a_validation_error_every_time(api):
    contact = await make_contact(api, email="i@example.com")
    before = await counts(api.db)
    for _ in range(2):
        out = (
            await api.gql(
                RECORD,
                {"i": {"contact": contact["id"], "type": "EMAIL_SENT", "idempotencyKey": " "}},
            )
        )["recordInteraction"]
        assert fields_of(out) == {"input.idempotencyKey": "must not be blank"}
    assert await counts(api.db) == before


@pytest.mark.parametrize(
    ("connection", "argument"),
    [
        ("contacts(filter: {nameContains: $s})", "nameContains"),
        ("accounts(filter: {nameContains: $s})", "nameContains"),
        ("leads(filter: {topicContains: $s})", "topicContains"),
    ],
)
async def test_contains_filters_longer_than_the_limit_are_typed_errors(api, connection, argument):
    query = f"query($s: String) {{ {connection} {{ totalCount }} }}"
    assert (await api.gql(query, {"s": "a" * 200})) is not None  # at the limit: fine
    response = await api.post(query, {"s": "a" * 40_000})
    assert response.status_code == 200
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert error["extensions"]["fields"] == [
        {"field": f"filter.{argument}", "message": "must be at most 200 characters"}
    ]


async def test_lone_surrogate_in_a_string_variable_is_bad_user_input(api):
    key = await api.key("admin")
    body = (
        '{"query": "mutation($i: CreateContactInput!) { createContact(input: $i) '
        '{ __typename } }", "variables": {"i": {"lastName": "\\ud800"}}}'
    )
    response = await api.http.post(
        f"{api.base_url}/graphql",
        content=body.encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert await api.db.contacts.count_documents({}) == 0
