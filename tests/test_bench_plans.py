"""``bench/_plans.py``: the index the equality, sort, range rule picks for a read, and whether
its key order gives the requested sort (what ``bench/scale.py`` prints)."""

from __future__ import annotations

import sys
from pathlib import Path

from leadgraph.store import INDEXES
from pymongo import ASCENDING, DESCENDING, IndexModel

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from _plans import plan

ORDER = [("createdAt", 1), ("_id", 1)]


def test_equality_then_sort_needs_no_sort_stage() -> None:
    got = plan({"marketingOnly": False}, ORDER, INDEXES["contacts"])
    assert (got.index, got.equality, got.sort_from_index) == (
        "marketingOnly_createdAt_id",
        ("marketingOnly",),
        True,
    )


def test_an_index_walked_backwards_gives_the_reversed_order() -> None:
    got = plan({"parentContactId": "<parent>"}, ORDER, INDEXES["leads"])
    assert got.index == "parentContact_createdAt_id" and got.sort_from_index


def test_a_single_key_index_leaves_a_sort_stage() -> None:
    single = [IndexModel([("stage", ASCENDING)], name="stage")]
    got = plan({"stage": "lead"}, ORDER, single)
    assert got.index == "stage" and not got.sort_from_index


def test_a_half_matching_direction_is_no_order() -> None:
    mixed = [IndexModel([("a", ASCENDING), ("createdAt", ASCENDING), ("_id", DESCENDING)])]
    assert not plan({"a": 1}, ORDER, mixed).sort_from_index


def test_ranges_and_residual_fields() -> None:
    got = plan(
        {"contactId": "x", "occurredAt": {"$gte": 1}, "$or": [{"a": 1}]},
        [("occurredAt", -1), ("_id", -1)],
        INDEXES["interactions"],
    )
    assert got.index == "contact_occurredAt" and got.sort_from_index
    assert (got.range, got.residual) == ("occurredAt", ("$or",))  # a range on a sort key


def test_a_range_after_an_unrelated_key_is_filtered_on_fetch() -> None:
    index = [IndexModel([("a", ASCENDING), ("b", ASCENDING), ("c", ASCENDING)], name="abc")]
    got = plan({"a": 1, "c": {"$gt": 2}}, [], index)
    assert (got.index, got.range, got.residual) == ("abc", None, ("c",))


def test_no_useful_index_is_a_collection_scan() -> None:
    got = plan({"nowhere": 1}, [], INDEXES["contacts"])
    assert got.index == "COLLSCAN" and got.residual == ("nowhere",)
