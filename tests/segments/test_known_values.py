"""Wrong names fail loudly: a stage, role, scoring model, subscription list or interaction type
the rules (or the database's lists) do not know is BAD_USER_INPUT / ValidationError naming the
path and the known names, in a lead filter and in a segment's condition alike, instead of
selecting nothing. One vocabulary (leadgraph.rules.vocabulary) serves both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from foundation import create_lists
from leadgraph.cli.main import cli
from shipped import SHIPPED

from .helpers import ADD, create

PREVIEW = """query($d: SegmentInput!) { previewSegment(definition: $d) { count } }"""
STAGES = (
    "inquiry, automated_marketing_qualification, teleprospecting_acceptance, "
    "teleprospecting_qualification, sales_acceptance"
)


def _refused(out: dict[str, Any]) -> list[tuple[str, str]]:
    assert out["__typename"] == "ValidationError", out
    assert out["code"] == "BAD_USER_INPUT", out
    return [(f["field"], f["message"]) for f in out["fields"]]


async def _filter_errors(api: Any, query: str) -> list[tuple[str, str]]:
    response = await api.post(query)
    assert response.status_code == 200
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    return [(f["field"], f["message"]) for f in error["extensions"]["fields"]]


async def test_an_unknown_stage_in_a_lead_filter_names_the_lifecycle_stages(api):
    errors = await _filter_errors(api, '{ leads(filter: {stage: "no_such_stage"}) { totalCount } }')
    assert errors == [("filter.stage", f"unknown stage 'no_such_stage'; expected one of: {STAGES}")]
    typo = await _filter_errors(api, '{ leads(filter: {stage: "Inquiry"}) { totalCount } }')
    assert typo[0][1].startswith("unknown stage 'Inquiry'; did you mean 'inquiry'?")
    known = await api.gql('{ leads(filter: {stage: "inquiry"}) { totalCount } }')
    assert known["leads"]["totalCount"] >= 0


async def test_every_unknown_name_of_one_lead_listing_is_reported(api):
    errors = await _filter_errors(
        api,
        '{ leads(filter: {stage: "won", score: {model: "nope"}}, '
        'orderBy: {field: SCORE, model: "engagment"}) { totalCount } }',
    )
    assert [field for field, _ in errors] == ["filter.stage", "filter.score.model", "orderBy.model"]
    assert "did you mean 'engagement'? expected one of: engagement" in errors[2][1]


@pytest.mark.parametrize(
    ("where", "field", "said"),
    [
        pytest.param(
            {"fact": "contact.role", "value": "boss"},
            "input.where.value",
            "unknown contact role 'boss'; expected one of: decisionMaker, influencer, user, other",
            id="role",
        ),
        pytest.param(
            {"fact": "lead.stage", "op": "in", "value": ["inquiry", "nowhere"]},
            "input.where.value.1",
            f"unknown stage 'nowhere'; expected one of: {STAGES}",
            id="stage-in-a-list",
        ),
        pytest.param(
            {"all": [{"fact": "lead.scoreOf.engagment", "op": "gte", "value": 10}]},
            "input.where.all.0.fact",
            "unknown scoring model 'engagment'; did you mean 'engagement'?",
            id="model-as-a-key",
        ),
        pytest.param(
            {"fact": "lead.gradeOf.engagement", "op": "in", "value": ["A", "Z"]},
            "input.where.value.1",
            "unknown grade 'Z'; expected one of: A, B, C, D, E, F",
            id="grade",
        ),
        pytest.param(
            {"not": {"fact": "contact.consent.level", "value": "MARKETING"}},
            "input.where.not.value",
            "unknown consent level 'MARKETING'; did you mean 'marketing'?",
            id="consent-level-in-graphql-spelling",
        ),
        pytest.param(
            {"fact": "contact.subscriptions", "value": "no-such-list"},
            "input.where.value",
            "unknown subscription list 'no-such-list'; expected one of: ",
            id="list",
        ),
        pytest.param(
            {"fact": "contact.insights.counts.email_open", "op": "gte", "value": 1},
            "input.where.fact",
            "unknown interaction type 'email_open'; did you mean 'email_opened'?",
            id="interaction-type-count",
        ),
    ],
)
async def test_an_unknown_name_in_a_segment_condition_is_refused(api, where, field, said):
    out = await create(api, name="wrong", where=where)
    ((got_field, message),) = _refused(out)
    assert got_field == field
    assert message.startswith(said), message
    assert await api.db.segments.count_documents({}) == 0


async def test_known_names_are_accepted_and_select(api):
    await create_lists(api, "Newsletter")
    where = {
        "all": [
            {"fact": "contact.role", "value": "decisionMaker"},
            {"fact": "contact.subscriptions", "op": "in", "value": ["Newsletter"]},
            {"fact": "contact.consent.level", "op": "ne", "value": None},
        ]
    }
    out = await create(api, name="right", where=where, subscriptionList="Newsletter")
    assert out["__typename"] == "SegmentPayload", out


async def test_a_segment_of_an_unknown_list_names_the_lists(api):
    await create_lists(api, "Newsletter", "Events")
    out = await create(
        api,
        name="wrong",
        where={"fact": "contact.role", "value": "user"},
        subscriptionList="Newsletters",
    )
    assert _refused(out) == [
        (
            "input.subscriptionList",
            "unknown subscription list 'Newsletters'; did you mean 'Newsletter'? "
            "expected one of: Events, Newsletter",
        )
    ]


async def test_preview_and_bulk_add_check_the_names_too(api):
    response = await api.post(
        PREVIEW, {"d": {"name": "draft", "where": {"fact": "contact.role", "value": "boss"}}}
    )
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["fields"][0]["field"] == "definition.where.value"
    made = await create(api, name="picked", kind="STATIC")
    assert made["__typename"] == "SegmentPayload", made
    out = (
        await api.gql(
            ADD, {"s": "picked", "w": {"fact": "lead.stage", "value": "sales_acceptence"}}
        )
    )["addToSegment"]
    ((field, message),) = _refused(out)
    assert field == "where.value"
    assert "did you mean 'sales_acceptance'?" in message


def test_rules_check_refuses_an_unknown_name_where_it_is_written(tmp_path: Path) -> None:
    directory = tmp_path / "rules"
    directory.mkdir()
    for path in SHIPPED.glob("*.yaml"):
        (directory / path.name).write_bytes(path.read_bytes())
    (directory / "bosses.yaml").write_text(
        "segments:\n  - name: bosses\n    where: {fact: contact.role, value: boss}\n"
    )
    result = CliRunner().invoke(
        cli,
        ["rules", "check", str(directory)],
        env={"MONGODB_URI": "", "LEADGRAPH_DATA_DIR": str(tmp_path / "no-data")},
    )
    assert result.exit_code == 1, result.output
    assert "bosses.yaml:3:40: unknown contact role 'boss'; expected one of: " in result.output
