"""Grades, decay by half-life, several models on one lead, leads ordered and filtered by a
model's score or grade, and account roll-ups kept current — all over GraphQL on HTTP, with the
rules of ``grades_rules/`` (engagement: decaying opens, rolled up by max; fit: graded A/B/D,
averaged; reach: one point per click, summed)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from click.testing import CliRunner
from conftest import Api
from foundation import create_contact, create_lead, walk
from leadgraph.cli.main import cli
from rules.live import live_server

RULES = Path(__file__).parent / "grades_rules"
SCORES = "scores { model score grade gradeReason explanation { rule points detail } }"


@pytest.fixture
async def graded(db, mongo_client, mongo_uri) -> AsyncIterator[Api]:
    async with live_server(RULES, db, mongo_client, mongo_uri) as (api, _state):
        yield api


async def create_account(api: Api, name: str, employees: int) -> str:
    data = await api.gql(
        """mutation($i: CreateAccountInput!) { createAccount(input: $i) {
           ... on AccountPayload { account { id } } } }""",
        {"i": {"name": name, "numberOfEmployees": employees}},
    )
    return str(data["createAccount"]["account"]["id"])


async def person(api: Api, role: str, account: str | None = None) -> str:
    fields: dict[str, Any] = {"lastName": role, "email": f"{ObjectId()}@example.com", "role": role}
    if account is not None:
        fields["account"] = account
    return await create_contact(api, **fields)


async def record(api: Api, contact: str, type_: str, at: datetime | None = None) -> None:
    fields: dict[str, Any] = {"contact": contact, "type": type_}
    if at is not None:
        fields["occurredAt"] = at.isoformat()
    data = await api.gql(
        """mutation($i: RecordInteractionInput!) { recordInteraction(input: $i) {
           __typename ... on InteractionPayload { created } } }""",
        {"i": fields},
    )
    assert data["recordInteraction"]["created"] is True, data


def by_model(lead: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["model"]: s for s in lead["scores"]}


async def lead(api: Api, lead_id: str) -> dict[str, Any]:
    return (await api.gql(f'{{ lead(id: "{lead_id}") {{ id {SCORES} }} }}'))["lead"]


# ---------------------------------------------------------------- grades and models


async def test_each_model_scores_the_lead_and_fit_gives_an_explained_grade(graded):
    big = await create_account(graded, "Fabrikam", 1200)
    small = await create_account(graded, "Tailspin", 12)
    boss = await person(graded, "DECISION_MAKER", big)
    clerk = await person(graded, "USER", small)

    a = by_model(await create_lead(graded, f"id {SCORES}", topic="Fab", parentContact=boss))
    assert set(a) == {"engagement", "fit", "reach"}  # three models on one lead
    assert a["fit"]["score"] == 50 and a["engagement"]["score"] == 20
    assert a["fit"]["grade"] == "A"
    assert a["fit"]["gradeReason"] == "decision maker at a company of 250 or more"
    assert a["engagement"]["grade"] is None and a["engagement"]["gradeReason"] is None

    d = by_model(await create_lead(graded, f"id {SCORES}", topic="Tail", parentContact=clerk))
    assert d["fit"]["grade"] == "D" and d["fit"]["gradeReason"] == "otherwise"

    # an unnamed condition explains itself; the grade follows a change of the facts
    await graded.gql(
        """mutation($i: UpdateContactInput!) { updateContact(input: $i) { __typename } }""",
        {"i": {"id": clerk, "account": big}},
    )
    rescored = await graded.gql(
        f"""mutation($id: ID!) {{ rescoreLead(id: $id) {{
            ... on LeadPayload {{ lead {{ {SCORES} }} }} }} }}""",
        {
            "id": (
                await graded.gql(f'{{ contact(id: "{clerk}") {{ leads {{ nodes {{ id }} }} }} }}')
            )["contact"]["leads"]["nodes"][0]["id"]
        },
    )
    fit = by_model(rescored["rescoreLead"]["lead"])["fit"]
    assert fit["grade"] == "B"
    assert fit["gradeReason"] == "account.numberOfEmployees gte 250"

    event_lead = by_model(
        await create_lead(
            graded,
            f"id {SCORES}",
            topic="Summit",
            marketingContext={"kind": "EVENT", "name": "Summit"},
            parentContact=boss,
        )
    )
    assert set(event_lead) == {"engagement", "reach"}  # fit applies_to excludes event leads


async def test_points_decay_by_half_life_as_events_age(graded):
    now = datetime.now(UTC)
    points = {}
    for days in (0, 14, 28):
        contact = await person(graded, "USER")
        created = await create_lead(graded, "id", topic=f"aged {days}d", parentContact=contact)
        await record(graded, contact, "EMAIL_OPENED", now - timedelta(days=days))
        engagement = by_model(await lead(graded, created["id"]))["engagement"]
        (line,) = engagement["explanation"]
        assert line["rule"] == "email opened (10 each, halved every 14 days)"
        assert line["detail"] == "1 event(s) x 10 points, halved every 14d"
        points[days] = line["points"]
    assert points == {0: 10, 14: 5, 28: 2.5}

    # several events add up, each decayed by its own age, and the cap applies after decay
    contact = await person(graded, "DECISION_MAKER")
    created = await create_lead(graded, "id", topic="many", parentContact=contact)
    for days in (0, 14, 28):
        await record(graded, contact, "EMAIL_OPENED", now - timedelta(days=days))
    engagement = by_model(await lead(graded, created["id"]))["engagement"]
    assert engagement["score"] == 20 + 17.5
    for _ in range(5):
        await record(graded, contact, "EMAIL_OPENED")
    engagement = by_model(await lead(graded, created["id"]))["engagement"]
    opens = {e["rule"]: e for e in engagement["explanation"]}[
        "email opened (10 each, halved every 14 days)"
    ]
    assert opens["points"] == 40
    assert opens["detail"] == "8 event(s) x 10 points, halved every 14d, capped at 40"


# ---------------------------------------------------------------- ordering and filtering


async def scored_leads(api: Api) -> dict[str, dict[str, Any]]:
    """Leads of every fit grade, with ties and leads fit does not score (event leads)."""
    big = await create_account(api, "Big", 1000)
    small = await create_account(api, "Small", 5)
    made = {}
    for role, account, kind in [
        ("DECISION_MAKER", big, None),  # fit 50 A
        ("DECISION_MAKER", big, None),  # fit 50 A (a tie)
        ("USER", big, None),  # fit 30 B
        ("DECISION_MAKER", small, None),  # fit 20 D
        ("USER", small, None),  # fit 0 D
        ("USER", small, None),  # fit 0 D
        ("DECISION_MAKER", big, "EVENT"),  # no fit score
        ("USER", small, "EVENT"),  # no fit score
    ]:
        contact = await person(api, role, account)
        fields: dict[str, Any] = {"topic": "t", "parentContact": contact}
        if kind:
            fields["marketingContext"] = {"kind": kind, "name": "Summit"}
        created = await create_lead(api, f"id {SCORES}", **fields)
        made[created["id"]] = by_model(created)
    for opens in (1, 3, 2):  # engagement orders differently from fit
        contact = await person(api, "USER", small)
        created = await create_lead(api, "id", topic="t", parentContact=contact)
        for _ in range(opens):
            await record(api, contact, "EMAIL_OPENED")
        made[created["id"]] = by_model(await lead(api, created["id"]))
    return made


def expected_order(made: dict[str, dict[str, Any]], model: str, desc: bool) -> list[str]:
    """MongoDB's order: by score, unscored (null) lowest, ties by id."""
    from foundation import oid_of

    def key(lead_id: str) -> tuple[int, float, ObjectId]:
        score = made[lead_id].get(model)
        return (0, 0.0, oid_of(lead_id)) if score is None else (1, score["score"], oid_of(lead_id))

    return sorted(made, key=key, reverse=desc)


async def test_leads_ordered_by_a_models_score_page_stably_both_ways(graded):
    made = await scored_leads(graded)
    for model in ("fit", "engagement"):
        for direction in ("DESC", "ASC"):
            args = f'orderBy: {{field: SCORE, model: "{model}", direction: {direction}}}'
            want = expected_order(made, model, direction == "DESC")
            forward = await walk(graded, "leads", args, page=3)
            assert [n["id"] for n in forward] == want, (model, direction)
            backward = await walk(graded, "leads", args, page=2, backward=True)
            assert [n["id"] for n in backward] == want, (model, direction)
    assert expected_order(made, "fit", True) != expected_order(made, "engagement", True)


async def test_a_score_cursor_is_bound_to_its_model_and_the_model_must_exist(graded):
    await scored_leads(graded)
    page = await graded.gql(
        '{ leads(first: 2, orderBy: {field: SCORE, model: "fit"}) { pageInfo { endCursor } } }'
    )
    cursor = page["leads"]["pageInfo"]["endCursor"]
    for query, field in (
        (
            f'{{ leads(first: 2, after: "{cursor}", orderBy: {{field: SCORE, model: "reach"}}) '
            "{ totalCount } }",
            "after",
        ),
        ('{ leads(orderBy: {field: SCORE, model: "fitt"}) { totalCount } }', "orderBy.model"),
        ("{ leads(orderBy: {field: SCORE}) { totalCount } }", "orderBy.model"),
        (
            '{ leads(filter: {score: {model: "nope", gte: 1}}) { totalCount } }',
            "filter.score.model",
        ),
        (
            '{ leads(filter: {grade: {model: "nope", in: [A]}}) { totalCount } }',
            "filter.grade.model",
        ),
    ):
        response = await graded.post(query)
        assert response.status_code == 200
        (error,) = response.json()["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT", error
        assert error["extensions"]["fields"][0]["field"] == field, error
    response = await graded.post('{ leads(orderBy: {field: SCORE, model: "fitt"}) { totalCount } }')
    message = response.json()["errors"][0]["extensions"]["fields"][0]["message"]
    assert message == (
        "unknown scoring model 'fitt'; did you mean 'fit'? expected one of: engagement, fit, reach"
    )


async def test_leads_filtered_by_score_range_and_grade(graded):
    made = await scored_leads(graded)

    def fit(lead_id: str) -> dict[str, Any] | None:
        return made[lead_id].get("fit")

    async def ids(filter_: str, order: str = "") -> list[str]:
        nodes = await walk(graded, "leads", f"filter: {filter_}{order}", page=2)
        return [n["id"] for n in nodes]

    between = await ids('{score: {model: "fit", gte: 20, lte: 30}}')
    assert sorted(between) == sorted(
        i for i in made if (s := fit(i)) is not None and 20 <= s["score"] <= 30
    )
    assert len(between) == 2
    scored = await ids('{score: {model: "fit"}}')  # no bounds: every lead the model scored
    assert sorted(scored) == sorted(i for i in made if fit(i) is not None)
    top = await ids(
        '{grade: {model: "fit", in: [A, B]}}',
        ', orderBy: {field: SCORE, model: "fit", direction: DESC}',
    )
    assert top == [
        i for i in expected_order(made, "fit", True) if (s := fit(i)) and s["grade"] in "AB"
    ]
    assert len(top) == 3
    both = await ids('{grade: {model: "fit", in: [D]}, score: {model: "fit", gte: 1}}')
    assert both == [i for i in made if (s := fit(i)) and s["grade"] == "D" and s["score"] >= 1]
    assert len(both) == 1


# ---------------------------------------------------------------- account roll-ups

ACCOUNT_SCORES = "scores { model score grade leadCount method }"


async def account_scores(api: Api, account: str) -> dict[str, dict[str, Any]]:
    data = await api.gql(f'{{ account(id: "{account}") {{ {ACCOUNT_SCORES} }} }}')
    return {s["model"]: s for s in data["account"]["scores"]}


async def test_account_rollups_follow_an_interaction_that_changes_a_contacts_lead(graded):
    account = await create_account(graded, "Contoso", 600)
    boss = await person(graded, "DECISION_MAKER", account)
    clerk = await person(graded, "USER", account)
    elsewhere = await person(graded, "DECISION_MAKER")  # not of the account: never counted
    await create_lead(graded, topic="boss", parentContact=boss)  # engagement 20, fit 50 A
    await create_lead(graded, topic="clerk", parentContact=clerk)  # engagement 0, fit 30 B
    await create_lead(graded, topic="deal", parentAccount=account)  # account-based: fit 30 B
    await create_lead(graded, topic="other", parentContact=elsewhere)

    scores = await account_scores(graded, account)
    assert scores["fit"] == {
        "model": "fit",
        "score": pytest.approx(110 / 3),
        "grade": "A",
        "leadCount": 3,
        "method": "AVERAGE",
    }
    assert scores["engagement"]["score"] == 20 and scores["engagement"]["method"] == "MAX"
    assert scores["reach"] == {
        "model": "reach",
        "score": 0,
        "grade": None,
        "leadCount": 3,
        "method": "SUM",
    }

    # the clerk engages: their lead's score changes and the roll-ups follow at once
    for _ in range(3):
        await record(graded, clerk, "EMAIL_OPENED")
    await record(graded, clerk, "EMAIL_CLICKED")
    scores = await account_scores(graded, account)
    assert scores["engagement"]["score"] == 30  # the clerk's 3 opens now beat the boss's 20
    # the click counts for the clerk's lead and for the account-based lead (its account's
    # contacts' interactions are the account-based lead's)
    assert scores["reach"]["score"] == 2
    assert scores["fit"]["score"] == pytest.approx(110 / 3)


async def test_rollups_stay_right_under_concurrent_engagement(graded):
    account = await create_account(graded, "Litware", 300)
    people = [await person(graded, "USER", account) for _ in range(4)]
    for contact in people:
        await create_lead(graded, topic="t", parentContact=contact)
    await asyncio.gather(*(record(graded, c, "EMAIL_CLICKED") for c in people for _ in range(3)))
    scores = await account_scores(graded, account)
    leads = (
        await graded.gql(
            """query($f: LeadFilter) { leads(first: 100, filter: $f) {
               nodes { scores { model score } } } }""",
            {"f": {"score": {"model": "reach", "gte": 0}}},
        )
    )["leads"]["nodes"]
    reach = [s["score"] for n in leads for s in n["scores"] if s["model"] == "reach"]
    assert reach == [3, 3, 3, 3]
    assert scores["reach"]["score"] == 12 and scores["reach"]["leadCount"] == 4


async def test_relinking_and_deleting_a_lead_moves_it_between_account_rollups(graded):
    first = await create_account(graded, "First", 10)
    second = await create_account(graded, "Second", 10)
    contact = await person(graded, "DECISION_MAKER", first)
    await create_lead(graded, topic="stays", parentContact=contact)
    moving = await create_lead(graded, "id", topic="moves", parentAccount=first)
    assert (await account_scores(graded, first))["fit"]["leadCount"] == 2

    await graded.gql(
        """mutation($id: ID!, $a: ID) { linkLead(id: $id, parentAccount: $a) { __typename } }""",
        {"id": moving["id"], "a": second},
    )
    assert (await account_scores(graded, first))["fit"]["leadCount"] == 1
    assert (await account_scores(graded, second))["fit"]["leadCount"] == 1

    await graded.gql(
        """mutation($id: ID!) { deleteLead(id: $id) { __typename } }""", {"id": moving["id"]}
    )
    assert await account_scores(graded, second) == {}


async def test_a_full_rescore_rolls_accounts_up_the_new_rules_way(graded, mongo_uri, tmp_path):
    account = await create_account(graded, "Northwind", 800)
    for role in ("DECISION_MAKER", "USER"):  # fit 50 and 30
        await create_lead(graded, topic=role, parentContact=await person(graded, role, account))
    assert (await account_scores(graded, account))["fit"]["score"] == 40  # average

    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    text = (rules / "scoring.yaml").read_text()
    (rules / "scoring.yaml").write_text(
        text.replace("account_rollup: average", "account_rollup: max")
    )
    env = {
        "MONGODB_URI": mongo_uri,
        "LEADGRAPH_DB_NAME": graded.db.name,
        "LEADGRAPH_RULES_DIR": str(rules),
        "LEADGRAPH_DATA_DIR": str(tmp_path / "data"),
    }
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["rescore"], env=env)
    assert result.exit_code == 0, result.output
    fit = (await account_scores(graded, account))["fit"]
    assert (fit["score"], fit["method"], fit["leadCount"]) == (50, "MAX", 2)


async def test_a_full_rescore_empties_the_rollups_of_models_that_stop_rolling_up(
    graded, mongo_uri, tmp_path
):
    account = await create_account(graded, "Contoso", 800)
    other = await create_account(graded, "Fabrikam", 800)
    await create_lead(graded, topic="direct", parentAccount=other)
    await create_lead(graded, topic="person", parentContact=await person(graded, "USER", account))
    assert "fit" in await account_scores(graded, account)

    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    text = (rules / "scoring.yaml").read_text()
    (rules / "scoring.yaml").write_text(text.replace("account_rollup: average", ""))
    env = {
        "MONGODB_URI": mongo_uri,
        "LEADGRAPH_DB_NAME": graded.db.name,
        "LEADGRAPH_RULES_DIR": str(rules),
        "LEADGRAPH_DATA_DIR": str(tmp_path / "data"),
    }
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["rescore"], env=env)
    assert result.exit_code == 0, result.output
    assert "fit" not in await account_scores(graded, account)
    assert "fit" not in await account_scores(graded, other)
