"""The condition language compiled to MongoDB query filters and ``aggregate`` pipelines, with
a rule set's operators (built-in and plugins'): what :mod:`leadgraph.store.segment_query` runs
and what the fact gathering matches interactions with.  Builds queries; runs none."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from bson import ObjectId

from ..rules.conditions import Compiler, as_utc, entities
from ..rules.models import AllOf, AnyOf, Compare, Condition, EventSpec, NotOf, duration
from ..rules.ruleset import RuleSet

#: Operators whose negation is another operator (``not`` pushed down to the fields, so a
#: filter stays a plain field query that the database answers from its indexes).
COMPLEMENTS = {"eq": "ne", "ne": "eq", "in": "not_in", "not_in": "in"}


def negate(cond: Condition) -> Condition:
    """A condition equivalent to ``not cond``, with the negation pushed as far down as the
    operators allow (De Morgan; ``eq``/``ne``, ``in``/``not_in``, ``exists`` flip)."""
    if isinstance(cond, NotOf):
        return cond.not_
    if isinstance(cond, AllOf):
        return AnyOf(any=[negate(c) for c in cond.all])
    if isinstance(cond, AnyOf):
        return AllOf(all=[negate(c) for c in cond.any])
    if isinstance(cond, Compare):
        if cond.op in COMPLEMENTS:
            return cond.model_copy(update={"op": COMPLEMENTS[cond.op]})
        if cond.op == "exists" and isinstance(cond.value, bool):
            return cond.model_copy(update={"value": not cond.value})
    return NotOf.model_validate({"not": cond})


def pushed_down(cond: Condition) -> Condition:
    """``cond`` with every ``not`` pushed down as far as it goes (see :func:`negate`)."""
    if isinstance(cond, NotOf):
        return negate(pushed_down(cond.not_))
    if isinstance(cond, AllOf):
        return AllOf(all=[pushed_down(c) for c in cond.all])
    if isinstance(cond, AnyOf):
        return AnyOf(any=[pushed_down(c) for c in cond.any])
    return cond


def by_record(children: list[Condition]) -> list[Condition]:
    """The parts of an ``all`` with those on the same record kind (contact, lead, account, ...:
    no events) joined into one ``all`` at the first one's place: one read of that collection
    with every filter on it (``stage`` and ``value`` of an opportunity together), not a read
    per part narrowed by the one before."""
    groups: dict[str, list[Condition]] = {}
    order: list[str | Condition] = []
    for child in children:
        kinds = entities(child)
        kind = next(iter(kinds)) if len(kinds) == 1 else "events"
        if kind == "events":
            order.append(child)
            continue
        if kind not in groups:
            groups[kind] = []
            order.append(kind)
        groups[kind].append(child)
    out: list[Condition] = []
    for item in order:
        if not isinstance(item, str):
            out.append(item)
        else:
            group = groups[item]
            out.append(group[0] if len(group) == 1 else AllOf(all=group))
    return out


def _operators(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and all(k.startswith("$") for k in value)


def _merge_ops(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any] | None:
    out = dict(a)
    for key, value in b.items():
        if key in ("$ne", "$nin") and ("$ne" in out or "$nin" in out):
            # none of these values: {$ne: x} and {$nin: [y]} become {$nin: [x, y]}
            values = list(out.pop("$nin", []))
            if "$ne" in out:
                values.append(out.pop("$ne"))
            out["$nin"] = values + (list(value) if key == "$nin" else [value])
        elif key in out:
            return None
        else:
            out[key] = value
    return out


def merge_filters(*parts: dict[str, Any]) -> dict[str, Any]:
    """One query meaning all of ``parts``: a plain field query when their fields can be
    combined (some servers use an index only for those), else ``$and``."""
    parts = tuple(p for p in parts if p)
    out: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            if key not in out:
                out[key] = value
                continue
            merged = (
                _merge_ops(out[key], value)
                if not key.startswith("$") and _operators(out[key]) and _operators(value)
                else None
            )
            if merged is None:
                return {"$and": list(parts)} if len(parts) > 1 else parts[0]
            out[key] = merged
    return out


def is_plain(query: dict[str, Any]) -> bool:
    """Whether a filter is a plain field query (no top-level ``$and``/``$or``/``$nor``)."""
    return not any(k.startswith("$") for k in query)


class MongoCompiler:
    """Compiles conditions to query filters and pipelines with a rule set's operators."""

    def __init__(self, operators: Mapping[str, Any], python: Compiler | None = None) -> None:
        self.operators = dict(operators)
        self.python = python or Compiler(operators)

    def filter(self, cond: Condition, entity: str) -> dict[str, Any]:
        """The query filter on ``entity``'s collection equivalent to ``cond``, which may only
        compare fields of that entity (no events)."""
        if isinstance(cond, AllOf):
            return merge_filters(*(self.filter(c, entity) for c in cond.all))
        if isinstance(cond, AnyOf):
            return {"$or": [self.filter(c, entity) for c in cond.any]}
        if isinstance(cond, NotOf):
            return {"$nor": [self.filter(cond.not_, entity)]}
        if isinstance(cond, Compare):
            owner, _, path = cond.fact.partition(".")
            if owner != entity:
                raise ValueError(f"{cond.fact} is not a field of {entity}")
            return dict(self.operators[cond.op].mongo(path, cond.value))
        raise ValueError(f"an event condition cannot filter the {entity} collection")

    def event_pipeline(
        self, spec: EventSpec, now: datetime, contacts: Collection[ObjectId] | None = None
    ) -> list[dict[str, Any]]:
        """``aggregate`` stages on ``interactions`` giving ``{_id: contactId, n: count}``
        (only for ``contacts`` when given)."""
        types = list(spec.type)
        match: dict[str, Any] = {"type": types[0] if len(types) == 1 else {"$in": types}}
        if spec.within:
            match["occurredAt"] = {"$gte": as_utc(now) - duration(spec.within)}
        if contacts is not None:
            match["contactId"] = {"$in": list(contacts)}
        if spec.where is not None:
            match = merge_filters(match, self.filter(pushed_down(spec.where), "interaction"))
        if spec.min <= 1 and spec.max is None:  # one occurrence is enough: no counting
            return [{"$match": match}, {"$group": {"_id": "$contactId"}}]
        return [{"$match": match}, {"$group": {"_id": "$contactId", "n": {"$sum": 1}}}]


def compiler_of(ruleset: RuleSet) -> MongoCompiler:
    """The MongoDB compiler of ``ruleset``'s operators (sharing its compiled Python predicates)."""
    return MongoCompiler(ruleset.compiler.operators, ruleset.compiler)
