"""What a read costs on MongoDB, derived from the command alone: its filter and sort against the
declared indexes (``leadgraph.store.INDEXES``), not from any engine's ``explain``.

The rule is MongoDB's equality, sort, range: an index serves a read best when its keys are the
filter's equality fields first (in any order), then the sort fields in order (all in the
index's direction or all reversed), then the range fields. Then the index bounds the scan to
the matches and gives the order, so no sort stage has to hold and sort them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pymongo import IndexModel

RANGE_OPS = {"$gt", "$gte", "$lt", "$lte", "$ne", "$nin", "$exists", "$regex", "$not"}


@dataclass(frozen=True)
class Plan:
    """The index a read should use and what it gives."""

    index: str  # the index's name, or "COLLSCAN" when none has a useful key
    equality: tuple[str, ...]  # filter fields the index bounds by equality
    sorted: bool  # the read asks for an order
    sort_from_index: bool  # the index's key order is the requested sort (no SORT stage)
    range: str | None  # the range field the index bounds, if any
    residual: tuple[str, ...]  # filter fields applied to fetched documents instead

    def describe(self) -> str:
        keys = ", ".join(self.equality) or "-"
        sort = "no sort" if not self.sorted else "sort from index"
        sort = sort if self.sort_from_index else "SORT stage"
        tail = f"; range {self.range}" if self.range else ""
        rest = f"; filtered on fetch: {', '.join(self.residual)}" if self.residual else ""
        return f"{self.index} (equality: {keys}; {sort}{tail}{rest})"


def split_filter(query: Mapping[str, Any]) -> tuple[set[str], set[str], set[str]]:
    """The filter's equality fields, range fields, and fields no index bound can use
    (``$or``, ``$expr``, ...)."""
    eq: set[str] = set()
    rng: set[str] = set()
    other: set[str] = set()
    for field, value in query.items():
        if field == "$and":
            for part in value:
                e, r, o = split_filter(part)
                eq |= e
                rng |= r
                other |= o
        elif field.startswith("$"):
            other.add(field)
        elif isinstance(value, Mapping) and any(str(k).startswith("$") for k in value):
            ops = set(value)
            if ops <= {"$eq", "$in"} and (
                "$in" not in value or len(value["$in"]) <= 200  # exploded into point scans
            ):
                eq.add(field)
            elif ops & RANGE_OPS or ops <= {"$in"}:
                rng.add(field)
            else:
                other.add(field)
        else:
            eq.add(field)
    return eq, rng, other


def index_keys(model: IndexModel) -> tuple[str, list[tuple[str, int]]]:
    doc = model.document
    return str(doc["name"]), [(str(k), int(v)) for k, v in doc["key"].items()]


def _evaluate(
    keys: list[tuple[str, int]], eq: set[str], rng: set[str], sort: list[tuple[str, int]]
) -> tuple[list[str], bool, str | None]:
    """For one index: the equality fields its leading keys bound, whether its order gives
    ``sort``, and the range field bounded after them."""
    used = []
    i = 0
    while i < len(keys) and keys[i][0] in eq:
        used.append(keys[i][0])
        i += 1
    wanted = [(f, d) for f, d in sort if f not in eq]  # sorting by a constant is no sort
    s, sign = 0, 0
    for field, direction in keys:
        if s < len(wanted) and field == wanted[s][0]:
            agree = 1 if direction == wanted[s][1] else -1
            if sign and agree != sign:
                break
            sign, s = agree, s + 1
        elif field in eq:
            continue
        else:
            break
    sort_ok = s == len(wanted)
    # the range the scan is bounded by: on a sort key (its bounds keep the order), or on the
    # first key after the equality and sort keys
    sort_fields = {f for f, _ in wanted} if sort_ok else set()
    ranged = None
    for field, _ in keys[i:]:
        if field in rng:
            ranged = field
            break
        if field not in sort_fields and field not in eq:
            break
    return used, sort_ok, ranged


def plan(
    query: Mapping[str, Any],
    sort: Iterable[tuple[str, int]],
    indexes: Iterable[IndexModel],
) -> Plan:
    """The best declared index for ``query`` sorted by ``sort``, by the equality, sort, range
    rule: first one that bounds every equality field and gives the sort; else the one that
    bounds the most equality fields (ties: one that gives the sort, then one with a range)."""
    eq, rng, other = split_filter(query)
    wanted = list(sort)
    candidates = [("_id_", [("_id", 1)]), *(index_keys(m) for m in indexes)]
    best: tuple[tuple[int, ...], Plan] | None = None
    for name, keys in candidates:
        used, sort_ok, ranged = _evaluate(keys, eq, rng, wanted)
        if not used and not ranged and not (sort_ok and wanted):
            continue
        bounded = set(used) | ({ranged} if ranged else set())
        residual = tuple(sorted((eq | rng | other) - bounded))
        p = Plan(name, tuple(used), bool(wanted), sort_ok, ranged, residual)
        rank = (int(sort_ok and set(used) == eq), len(used), int(sort_ok), int(bool(ranged)))
        if best is None or rank > best[0]:
            best = (rank, p)
    if best is None:
        return Plan("COLLSCAN", (), bool(wanted), not wanted, None, tuple(sorted(eq | rng | other)))
    return best[1]
