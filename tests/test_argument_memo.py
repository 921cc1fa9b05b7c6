"""Resolver arguments converted once per field and values (leadgraph.web.arguments) give
exactly the answers of strawberry's conversion on every call: the same requests over HTTP,
once with each.  Arguments that are not all immutable (input objects, lists) are converted on
every call, so aliases and pages with other arguments never get another call's values."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import Api
from leadgraph.services.seed import seed_demo
from leadgraph.web import arguments
from test_plain_fields import PAGE

ALIASES = """query($types: [InteractionType!]) {
  contacts(first: 6) { edges { node {
    two: interactions(last: 2) { nodes { id type } }
    three: interactions(last: 3) { nodes { id type } }
    firstOne: interactions(first: 1) { nodes { id } }
    typed: interactions(last: 4, filter: { types: $types }) { nodes { type } }
    untyped: interactions(last: 4, filter: {}) { nodes { type } }
    leads(first: 1) { totalCount edges { node { topic } } }
    allLeads: leads { totalCount edges { node { topic } } }
  } } }
}"""


@contextlib.contextmanager
def converted_every_call() -> Iterator[None]:
    arguments.uninstall()
    try:
        yield
    finally:
        assert arguments.install()


@pytest.mark.parametrize(
    ("query", "variables"),
    [(PAGE, {"n": 12, "skip": False}), (ALIASES, {"types": ["FORM_SUBMITTED", "EMAIL_OPENED"]})],
    ids=["page", "aliases"],
)
async def test_answers_match_strawberrys_conversion(
    api: Api, query: str, variables: dict[str, Any]
) -> None:
    await seed_demo(api.db, n_contacts=12)
    before = dict(arguments.stats)
    kept = await api.post(query, variables)
    assert arguments.stats["kept"] > before["kept"]  # the page's repeated arguments were kept
    with converted_every_call():
        every_call = await api.post(query, variables)
    assert kept.status_code == every_call.status_code == 200
    assert kept.json() == every_call.json()
    assert "errors" not in kept.json()


async def test_aliases_get_their_own_arguments(api: Api) -> None:
    await seed_demo(api.db, n_contacts=12)
    body = await api.gql(ALIASES, {"types": ["FORM_SUBMITTED"]})
    for edge in body["contacts"]["edges"]:
        node = edge["node"]
        assert len(node["two"]["nodes"]) <= 2 and len(node["three"]["nodes"]) <= 3
        assert node["two"]["nodes"] == node["three"]["nodes"][-len(node["two"]["nodes"]) :]
        assert len(node["firstOne"]["nodes"]) <= 1
        assert {n["type"] for n in node["typed"]["nodes"]} <= {"FORM_SUBMITTED"}
        assert len(node["leads"]["edges"]) <= 1


def test_only_immutable_values_of_the_same_type_are_kept() -> None:
    assert arguments._plain({"first": 5, "after": None, "name": "x", "flag": True})
    assert not arguments._plain({"filter": {"types": []}})
    assert not arguments._plain({"ids": ["a"]})
    assert not arguments._plain({"ratio": 0.5})
    args: list[Any] = []
    assert arguments._key(args, {"n": 1}) == arguments._key(args, {"n": 1})
    assert arguments._key(args, {"n": 1}) != arguments._key(args, {"n": True})  # 1 == True
    assert arguments._key(args, {"n": 1}) != arguments._key(args, {"n": 1, "m": 2})
    assert arguments._key(args, {"n": 1}) != arguments._key([], {"n": 1})  # another field


async def test_the_kept_conversions_stay_within_their_bound(api: Api, monkeypatch) -> None:
    await seed_demo(api.db, n_contacts=3)
    monkeypatch.setattr(arguments, "MAX_KEPT", 4)
    monkeypatch.setattr(arguments, "_kept", {})
    for n in range(1, 12):
        body = await api.gql(
            "query($n: Int) { contacts(first: $n) { edges { node { leads(first: $n) "
            "{ edges { node { id } } } } } } }",
            {"n": n},
        )
        assert len(body["contacts"]["edges"]) == min(n, 3)
        assert len(arguments._kept) <= 4
