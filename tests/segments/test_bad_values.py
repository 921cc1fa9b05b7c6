"""A condition's values are strings, numbers, booleans, dates or null (each operator takes its
own shape of them), never objects a MongoDB operator could hide in: refused on save, preview
and load with the path of the value. A segment stored before that check (or made invalid by a
later change of the rules) answers a typed error on its own fields; the list and every other
segment still answer."""

from __future__ import annotations

import json
from typing import Any

import pytest
from leadgraph.rules.ruleset import RulesInvalid, load_rules
from shipped import SHIPPED

from .helpers import PUBLISH, UPDATE, contact, create

REGEX = {"fact": "contact.email", "op": "in", "value": [{"$regex": ".*"}]}
PREVIEW = """query($d: SegmentInput!) { previewSegment(definition: $d) { count } }"""


def _field(out: dict[str, Any]) -> tuple[str, str]:
    assert out["__typename"] == "ValidationError", out
    return out["field"], out["fields"][0]["message"]


async def test_the_regex_payload_is_refused_on_create_update_and_preview(api):
    for role in ("admin", "marketer"):
        refused = await create(api, role=role, name="bad", where=REGEX)
        field, message = _field(refused)
        assert field == "input.where.value.0"
        assert "$regex is not an operator here" in message
    nested = await create(api, name="bad", where={"all": [REGEX]})
    assert _field(nested)[0] == "input.where.all.0.value.0"
    on_url = {**REGEX, "fact": "interaction.url"}
    in_event = await create(
        api, name="bad", where={"event": {"type": "email_opened", "where": on_url}}
    )
    assert _field(in_event)[0] == "input.where.event.where.value.0"
    assert await api.db.segments.count_documents({}) == 0

    ok = await create(api, name="good", where={"fact": "contact.role", "value": "user"})
    assert ok["__typename"] == "SegmentPayload"
    updated = (await api.gql(UPDATE, {"n": "good", "i": {"where": {"any": [REGEX]}}}))[
        "updateSegment"
    ]
    assert _field(updated)[0] == "input.where.any.0.value.0"
    stored = await api.db.segments.find_one({"name": "good"})
    assert json.loads(stored["where"]) == {"fact": "contact.role", "op": "eq", "value": "user"}

    response = await api.post(PREVIEW, {"d": {"name": "draft", "where": REGEX}})
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["fields"][0]["field"] == "definition.where.value.0"


@pytest.mark.parametrize(
    ("where", "field", "said"),
    [
        ({"fact": "contact.email", "value": {"$ne": None}}, "input.where.value", "$ne"),
        ({"fact": "contact.email", "op": "ne", "value": {"a": 1}}, "input.where.value", "object"),
        ({"fact": "contact.email", "value": [[["x"]]]}, "input.where.value.0.0", "list"),
        ({"fact": "contact.email", "value": [[{"$gt": ""}]]}, "input.where.value.0.0", "$gt"),
        ({"fact": "contact.email", "op": "in", "value": "x"}, "input.where.value", "list"),
        ({"fact": "account.annualRevenue", "op": "gt", "value": 2**64}, "input.where.value", "64"),
        ({"fact": "account.annualRevenue", "op": "gt", "value": True}, "input.where.value", "true"),
        ({"fact": "contact.email", "op": "exists", "value": "yes"}, "input.where.value", "true"),
        ({"fact": "contact.email", "op": "contains", "value": ""}, "input.where.value", "string"),
        ({"fact": "contact.insights.counts.$where", "value": 1}, "input.where.fact", "$"),
        ({"fact": "lead.stageFields..x", "value": 1}, "input.where.fact", "empty"),
    ],
)
async def test_each_operator_takes_only_its_shape_of_value(api, where, field, said):
    out = await create(api, name="bad", where=where)
    got_field, message = _field(out)
    assert got_field == field and said in message, out
    assert await api.db.segments.count_documents({}) == 0


def test_a_rule_file_with_an_object_value_does_not_load(tmp_path):
    for name in ("matching.yaml", "lifecycle.yaml", "scoring.yaml"):
        (tmp_path / name).write_bytes((SHIPPED / name).read_bytes())
    (tmp_path / "segments.yaml").write_text(
        "segments:\n"
        "  - name: everyone\n"
        "    where:\n"
        "      all:\n"
        "        - {fact: contact.role, op: eq, value: user}\n"
        '        - {fact: contact.email, op: in, value: [{"$regex": ".*"}]}\n'
    )
    with pytest.raises(RulesInvalid) as caught:
        load_rules(tmp_path)
    (error,) = caught.value.errors
    assert (error.file, error.line, error.column) == ("segments.yaml", 6, 49)  # at the object
    assert "value" in error.message and "$regex" in error.message


LIST = """{ segments { name memberCount members { totalCount }
  error { code segment fields { field message } } } }"""


async def _stored_as_an_old_version_would(api: Any, name: str, where: Any) -> None:
    """A valid segment created, then its condition replaced in the database as a version that
    did not check values would have stored it."""
    made = await create(api, name=name, where={"fact": "contact.role", "value": "user"})
    assert made["__typename"] == "SegmentPayload"
    await api.db.segments.update_one({"name": name}, {"$set": {"where": json.dumps(where)}})


async def test_a_bad_stored_segment_does_not_take_the_list_down(api):
    user = await contact(api, "u@example.com", role="USER")
    await create(api, name="users", where={"fact": "contact.role", "value": "user"})
    await _stored_as_an_old_version_would(api, "bad", REGEX)
    await _stored_as_an_old_version_would(api, "scalar-in", {**REGEX, "value": "x"})
    await create(api, name="both", kind="COMPOUND", include=["users", "bad"])

    for role in ("admin", "marketer", "read-only"):
        response = await api.post(LIST, role=role)
        assert response.status_code == 200
        body = response.json()
        by_name = {s["name"]: s for s in body["data"]["segments"]}
        assert by_name["users"]["memberCount"] == 1
        assert by_name["users"]["members"]["totalCount"] == 1
        assert by_name["users"]["error"] is None
        assert by_name["contoso-conference-decision-makers"]["memberCount"] == 0
        bad = by_name["bad"]
        assert bad["memberCount"] is None and bad["members"] is None
        assert bad["error"]["code"] == "SEGMENT_INVALID" and bad["error"]["segment"] == "bad"
        assert bad["error"]["fields"][0]["field"] == "where.value.0"
        assert "$regex" in bad["error"]["fields"][0]["message"]
        assert by_name["scalar-in"]["error"]["fields"][0]["field"] == "where.value"
        assert by_name["both"]["memberCount"] is None  # it includes the bad one
        names = [s["name"] for s in body["data"]["segments"]]
        errors = {(tuple(e["path"]), e["extensions"]["code"]) for e in body["errors"]}
        for name in ("bad", "scalar-in", "both"):
            at = names.index(name)
            assert (("segments", at, "memberCount"), "SEGMENT_INVALID") in errors
            assert (("segments", at, "members"), "SEGMENT_INVALID") in errors
        assert len(errors) == 6, body["errors"]
        assert all("Traceback" not in e["message"] for e in body["errors"])

    # the contact's own segments still answer (the bad one is left out)
    await api.gql(PUBLISH, {"n": "users"})
    await api.db.segments.update_many({}, {"$set": {"status": "published"}})
    data = await api.gql("query($c: ID!) { contact(id: $c) { segments } }", {"c": user})
    assert data["contact"]["segments"] == ["users"]


async def test_a_bad_stored_segment_is_shown_refused_on_use_and_can_be_fixed(api):
    await _stored_as_an_old_version_would(api, "bad", REGEX)
    shown = await api.gql('{ segment(name: "bad") { definition { where } error { code } } }')
    assert shown["segment"]["definition"]["where"] == REGEX  # as stored, to be fixed
    published = (await api.gql(PUBLISH, {"n": "bad"}))["publishSegment"]
    assert published["__typename"] == "SegmentError", published
    assert (await api.db.segments.find_one({"name": "bad"}))["status"] == "draft"
    evaluate = """mutation { evaluateSegment(segment: "bad") { __typename
      ... on SegmentError { code segment fields { field } } } }"""
    evaluated = (await api.gql(evaluate))["evaluateSegment"]
    assert evaluated == {
        "__typename": "SegmentError",
        "code": "SEGMENT_INVALID",
        "segment": "bad",
        "fields": [{"field": "where.value.0"}],
    }
    assert await api.db.segment_evaluations.count_documents({}) == 0
    # an update that leaves the condition says what is still wrong with it
    kept = (await api.gql(UPDATE, {"n": "bad", "i": {"description": "x"}}))["updateSegment"]
    assert _field(kept)[0] == "input.where.value.0"
    fixed = (
        await api.gql(UPDATE, {"n": "bad", "i": {"where": {**REGEX, "value": ["a@example.com"]}}})
    )["updateSegment"]
    assert fixed["__typename"] == "SegmentPayload", fixed
    after = await api.gql('{ segment(name: "bad") { memberCount error { code } } }')
    assert after["segment"] == {"memberCount": 0, "error": None}
