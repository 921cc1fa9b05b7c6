"""Issue 8 point 8: a closed, extensible vocabulary of interaction types.

Built-in types plus those rule files (``interaction_types:``) and plugins
(``leadgraph_interaction_types``) declare. Every type a rule names is checked by ``rules check``
and hot reload, with file:line:col and a "did you mean"; declared types are recorded through
the API as ``CUSTOM`` + ``customType`` and scored like the built-in ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from leadgraph import hookimpl
from leadgraph.cli.main import cli
from leadgraph.plugin_manager import get_plugin_manager
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from test_mutations import CREATE_LEAD, ERRORS, make_contact

from .helpers import copy_rules
from .live import live_server, reload_rules, rules_status

WEBINARS = """interaction_types:
  - {name: webinar_watched, description: Watched a recorded webinar.}
scoring:
  - name: webinars
    threshold: 100
    rules:
      - name: webinar watched
        per_event: {type: webinar_watched}
        points: 10
"""

RECORD = f"""mutation($i: RecordInteractionInput!) {{ recordInteraction(input: $i) {{ __typename
    ... on InteractionPayload {{ interaction {{ id type customType }} }} {ERRORS} }} }}"""


def check(directory: Path) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli,
        ["rules", "check", str(directory)],
        env={"MONGODB_URI": "", "LEADGRAPH_DATA_DIR": str(directory.parent / "no-data")},
    )
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "scoring:\n  - name: typo\n    threshold: 1\n    rules:\n"
            "      - name: opened\n        per_event: {type: email_open}\n        points: 5\n",
            "typo.yaml:6:27: unknown interaction type 'email_open'; did you mean 'email_opened'?",
            id="per-event-typo",
        ),
        pytest.param(
            "segments:\n  - name: openers\n"
            "    where: {event: {type: [email_sent, EMAIL_OPENED]}}\n",
            "typo.yaml:3:40: unknown interaction type 'EMAIL_OPENED'; did you mean 'email_opened'?",
            id="graphql-spelling-in-event",
        ),
        pytest.param(
            "segments:\n  - name: clickers\n    where:\n      event:\n"
            "        type: email_clicked\n        where: {fact: interaction.type, op: in,"
            " value: [email_clicked, emial_clicked]}\n",
            "typo.yaml:6:72: unknown interaction type 'emial_clicked'; did you mean "
            "'email_clicked'?",
            id="interaction-type-comparison",
        ),
        pytest.param(
            "segments:\n  - name: submitters\n"
            "    where: {fact: contact.insights.counts.form_submit, op: gte, value: 1}\n",
            "typo.yaml:3:19: unknown interaction type 'form_submit'; did you mean "
            "'form_submitted'?",
            id="insights-count",
        ),
        pytest.param(
            "tests:\n  - name: t\n    given:\n      interactions:\n        - {type: visit}\n"
            "    expect: {}\n",
            "typo.yaml:5:18: unknown interaction type 'visit'; expected one of: consent_changed, "
            "email_clicked,",
            id="rule-test-interaction",
        ),
    ],
)
def test_rules_check_rejects_an_unknown_type_where_it_is_written(
    tmp_path: Path, text: str, expected: str
) -> None:
    directory = copy_rules(tmp_path / "rules")
    (directory / "typo.yaml").write_text(text)
    code, output = check(directory)
    assert code == 1, output
    assert expected in output, output


def test_declared_types_are_known_and_declarations_are_checked(tmp_path: Path) -> None:
    directory = copy_rules(tmp_path / "rules")
    (directory / "webinars.yaml").write_text(WEBINARS)
    code, output = check(directory)
    assert code == 0, output
    assert "10 interaction types" in output  # 9 built in (consent_changed too) + webinar_watched

    (directory / "again.yaml").write_text(
        "interaction_types:\n  - {name: webinar_watched}\n  - {name: email_opened}\n"
        "  - {name: custom}\n"
    )
    (directory / "shape.yaml").write_text("interaction_types:\n  - {name: Demo-Booked}\n")
    code, output = check(directory)
    assert code == 1
    assert (
        "webinars.yaml:2:12: duplicate interaction type 'webinar_watched' (first defined at "
        "again.yaml:2:12)" in output
    ), output
    assert "again.yaml:3:12: 'email_opened' is a built-in interaction type" in output
    assert "again.yaml:4:12: 'custom' is a built-in interaction type" in output
    assert "shape.yaml:2:12: name: string should match pattern" in output


async def test_hot_reload_rejects_a_mistyped_type_and_keeps_the_live_rules(
    tmp_path: Path, db: AsyncDatabase, mongo_client: AsyncMongoClient, mongo_uri: str
) -> None:
    directory = copy_rules(tmp_path / "rules")
    async with live_server(directory, db, mongo_client, mongo_uri) as (api, _state):
        good = (await rules_status(api))["version"]
        text = (directory / "scoring.yaml").read_text()
        assert "per_event: {type: email_opened, within: 30d}" in text
        (directory / "scoring.yaml").write_text(
            text.replace("{type: email_opened, within", "{type: EMAIL_OPENED, within")
        )
        status = await reload_rules(api)
        assert status["version"] == good
        line = text[: text.index("{type: email_opened, within")].count("\n") + 1
        assert [
            (e["file"], e["line"], e["column"], e["message"].split("? ")[0])
            for e in status["errors"]
        ] == [
            (
                "scoring.yaml",
                line,
                27,
                "unknown interaction type 'EMAIL_OPENED'; did you mean 'email_opened'",
            ),
        ], status


async def test_a_declared_type_is_recorded_filtered_and_scored(
    tmp_path: Path, db: AsyncDatabase, mongo_client: AsyncMongoClient, mongo_uri: str
) -> None:
    directory = copy_rules(tmp_path / "rules")
    (directory / "webinars.yaml").write_text(WEBINARS)
    async with live_server(directory, db, mongo_client, mongo_uri) as (api, _state):
        assert (await rules_status(api))["errors"] == []
        contact = await make_contact(api, email="viewer@example.com")
        lead = (await api.gql(CREATE_LEAD, {"i": {"topic": "W", "parentContact": contact["id"]}}))[
            "createLead"
        ]["lead"]

        async def record(**fields: Any) -> dict[str, Any]:
            out = await api.gql(RECORD, {"i": {"contact": contact["id"], **fields}})
            return dict(out["recordInteraction"])

        done = await record(type="CUSTOM", customType="webinar_watched")
        assert done["__typename"] == "InteractionPayload", done
        assert done["interaction"]["type"] == "CUSTOM"
        assert done["interaction"]["customType"] == "webinar_watched"
        assert (await record(type="EMAIL_SENT"))["interaction"]["customType"] is None

        for fields, message in (
            (
                {"type": "CUSTOM", "customType": "webinar_watch"},
                "unknown interaction type 'webinar_watch'; did you mean 'webinar_watched'?",
            ),
            ({"type": "CUSTOM"}, "required with type CUSTOM"),
            ({"type": "EMAIL_SENT", "customType": "webinar_watched"}, "only with type CUSTOM"),
            (
                {"type": "CUSTOM", "customType": "email_opened"},
                "'email_opened' is built in: use type EMAIL_OPENED",
            ),
        ):
            out = await record(**fields)
            assert out["__typename"] == "ValidationError", out
            assert out["code"] == "BAD_USER_INPUT"
            assert out["fields"] == [{"field": "input.customType", "message": message}]
        assert await db.interactions.count_documents({}) == 2  # nothing else was written

        read = await api.gql(
            """query($id: ID!) { node(id: $id) { ... on Contact {
                custom: interactions(filter: {types: [CUSTOM]}) { edges { node { customType } } }
                sent: interactions(filter: {types: [EMAIL_SENT]}) { edges { node { type } } }
                insights { counts { type count } } } } }""",
            {"id": contact["id"]},
        )
        node = read["node"]
        assert [e["node"] for e in node["custom"]["edges"]] == [{"customType": "webinar_watched"}]
        assert [e["node"] for e in node["sent"]["edges"]] == [{"type": "EMAIL_SENT"}]
        assert {"type": "webinar_watched", "count": 1} in node["insights"]["counts"]

        scored = await api.gql(
            "query($id: ID!) { node(id: $id) { ... on Lead { scores { model score } } } }",
            {"id": lead["id"]},
        )
        assert {"model": "webinars", "score": 10.0} in scored["node"]["scores"]


class DemoBookings:
    @hookimpl
    def leadgraph_interaction_types(self) -> dict[str, str]:
        return {"demo_booked": "The contact booked a product demo."}


class Squatter:
    @hookimpl
    def leadgraph_interaction_types(self) -> dict[str, str]:
        return {"email_opened": "Mine now."}


async def test_plugins_add_types_and_may_not_redefine_built_in_ones(
    tmp_path: Path, db: AsyncDatabase, mongo_client: AsyncMongoClient, mongo_uri: str
) -> None:
    pm = get_plugin_manager()
    pm.register(DemoBookings(), name="acme-demos")
    directory = copy_rules(tmp_path / "rules")
    (directory / "demos.yaml").write_text(
        "segments:\n  - name: demo-bookers\n    where: {event: {type: demo_booked}}\n"
    )
    async with live_server(directory, db, mongo_client, mongo_uri, pm=pm) as (api, _state):
        good = await rules_status(api)
        assert good["errors"] == [] and good["version"]
        contact = await make_contact(api, email="demo@example.com")
        out = await api.gql(
            RECORD, {"i": {"contact": contact["id"], "type": "CUSTOM", "customType": "demo_booked"}}
        )
        assert out["recordInteraction"]["interaction"]["customType"] == "demo_booked"
        members = await api.gql('{ segment(name: "demo-bookers") { memberCount } }')
        assert members["segment"]["memberCount"] == 1

        pm.register(Squatter(), name="acme-squatter")
        status = await reload_rules(api)
        assert status["version"] == good["version"]
        assert "plugin 'acme-squatter'" in status["errors"][0]["message"]
        assert "'email_opened' is a built-in name" in status["errors"][0]["message"]
