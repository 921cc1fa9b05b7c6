"""The database serves leads ordered and filtered by a model's score or grade from the
per-model indexes (created when the rules go live), never by scanning the collection: every
read such a request sends is explained, after-cursor pages included."""

from __future__ import annotations

from typing import Any

import pytest
from bson import ObjectId
from conftest import listening
from explain import Commands, plan_stages
from foundation import create_contact, create_lead, walk

ROLES = ["DECISION_MAKER", "INFLUENCER", "USER", "OTHER"]

QUERIES = [
    # (arguments of `leads`, the index its first read must use)
    ('orderBy: {field: SCORE, model: "engagement", direction: DESC}', "scoreOf_engagement"),
    ('orderBy: {field: SCORE, model: "engagement"}', "scoreOf_engagement"),
    ('filter: {score: {model: "engagement", gte: 10, lte: 20}}', "scoreOf_engagement"),
    ('filter: {grade: {model: "engagement", in: [A, B]}}', "gradeOf_engagement"),
    (
        'filter: {grade: {model: "engagement", in: [B]}}, '
        'orderBy: {field: SCORE, model: "engagement", direction: DESC}',
        "gradeOf_engagement",
    ),
]


async def seeded(api: Any) -> None:
    account = (
        await api.gql(
            """mutation { createAccount(input: {name: "Big", numberOfEmployees: 900}) {
               ... on AccountPayload { account { id } } } }"""
        )
    )["createAccount"]["account"]["id"]
    for i in range(12):
        fields: dict[str, Any] = {"email": f"{ObjectId()}@example.com", "role": ROLES[i % 4]}
        if i % 3 == 0:
            fields["account"] = account
        contact = await create_contact(api, lastName=f"c{i}", **fields)
        await create_lead(api, topic=f"t{i}", parentContact=contact)


@pytest.mark.parametrize(
    ("args", "index"), QUERIES, ids=[q[1] + str(i) for i, q in enumerate(QUERIES)]
)
async def test_score_and_grade_listings_use_the_model_indexes(api, server, mongo_uri, args, index):
    await seeded(api)
    await api.key("admin")
    seen = Commands(api.db.name, "leads")
    async with listening(server, api, mongo_uri, seen):
        first = await api.gql(
            f"{{ leads(first: 2, {args}) {{ totalCount pageInfo {{ endCursor }} }} }}"
        )
        cursor = first["leads"]["pageInfo"]["endCursor"]
        assert first["leads"]["totalCount"] > 2
        await api.gql(f'{{ leads(first: 2, after: "{cursor}", {args}) {{ totalCount }} }}')
        await api.gql(f'{{ leads(last: 2, before: "{cursor}", {args}) {{ totalCount }} }}')
    # (an unfiltered totalCount counts the whole collection: not a listing's read)
    reads = [c for c in seen.commands if c.get("pipeline", [{}])[0] != {"$match": {}}]
    assert len(reads) >= 3  # three pages (and the counts of filtered listings)
    for command in reads:
        plan = await plan_stages(api.db, command)
        assert "COLLSCAN" not in plan, (command, plan)
        assert any(s.startswith("IXSCAN:") for s in plan), (command, plan)
    assert f"IXSCAN:{index}" in await plan_stages(api.db, seen.commands[0])


async def test_paging_by_score_works_while_the_models_index_is_missing(api):
    """A rule set's new model is listed before its index exists (the index is built when the
    rules go live): pages are read without the hint, nothing fails."""
    await seeded(api)
    await api.db["leads"].drop_index("scoreOf_engagement")
    args = 'orderBy: {field: SCORE, model: "engagement", direction: DESC}'
    nodes = await walk(api, "leads", args, page=5, fields="scores { score }")
    scores = [n["scores"][0]["score"] for n in nodes]
    assert len(scores) == 12 and scores == sorted(scores, reverse=True)
