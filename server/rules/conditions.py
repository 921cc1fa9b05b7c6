"""The one condition language, compiled to a Python predicate over one record's facts.

A condition (``all`` / ``any`` / ``not``, ``{fact, op, value}`` comparisons, ``event``
conditions over the contact's interactions) is evaluated against *facts*::

    {"lead": {...} | None, "contact": {...} | None, "account": {...} | None,
     "interactions": [{...}, ...]}

Comparisons follow MongoDB's query semantics (a missing field equals ``null``; an array field
matches when any element does; values of different types never compare), so the same
condition compiled to MongoDB (:mod:`leadgraph.store.segment_query`) selects exactly the records
this
predicate accepts.
"""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Callable, Collection, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId

from .models import AllOf, AnyOf, Compare, Condition, Event, EventSpec, NotOf, duration

Facts = Mapping[str, Any]  # any record's facts (a lead's: leadgraph.contracts.Facts)
Predicate = Callable[[Facts, datetime], bool]
Counter = Callable[[Facts, datetime], int]

ENTITIES = ("contact", "lead", "account", "interaction")

# Documented fields per record (docs/architecture.md); ``name.*`` allows any sub-field.
KNOWN_FACTS: dict[str, tuple[str, ...]] = {
    "contact": (
        "_id",
        "firstName",
        "lastName",
        "email",
        "emailNormalized",
        "phone",
        "jobTitle",
        "role",
        "contactType",
        "accountId",
        "marketingSource",
        "preferences.allowBulkEmail",
        "preferences.allowEmail",
        "preferences.allowPrefill",
        "preferences.trackEmail",
        "subscriptions",
        "unsubscribed",
        "consent.level",
        "consent.isChild",
        "consent.guardian",
        "marketingOnly",
        "insights.total",
        "insights.counts.*",
        "insights.lastActivityAt",
        "createdAt",
        "updatedAt",
    ),
    "account": (
        "_id",
        "name",
        "nameNormalized",
        "domain",
        "industry",
        "numberOfEmployees",
        "annualRevenue",
        "country",
        "createdAt",
        "updatedAt",
    ),
    "lead": (
        "_id",
        "topic",
        "marketingContext.kind",
        "marketingContext.name",
        "formId",
        "email",
        "emailNormalized",
        "firstName",
        "lastName",
        "companyName",
        "jobTitle",
        "parentContactId",
        "parentAccountId",
        "stage",
        "salesReady",
        "teleprospectReady",
        "status",
        "scores.model",
        "scores.score",
        "scores.salesReady",
        "scores.grade",
        "scoreOf.*",
        "gradeOf.*",
        "marketingSource",
        "createdBy.name",
        "createdBy.role",
        "owner",
        "salesAccepted.owner",
        "salesAccepted.by",
        "salesAccepted.at",
        "stageFields.*",
        "createdAt",
        "updatedAt",
    ),
    # segments only: an opportunity reaches its contact, or its account's contacts
    "opportunity": (
        "_id",
        "topic",
        "value",
        "owner",
        "stage",
        "leadId",
        "contactId",
        "accountId",
        "createdBy",
        "closedAt",
        "closedBy",
        "closeReason",
        "createdAt",
        "updatedAt",
    ),
    "interaction": (
        "_id",
        "contactId",
        "type",
        "occurredAt",
        "leadId",
        "formId",
        "eventId",
        "emailId",
        "url",
        "details.*",
    ),
}


def known_facts(extra: Mapping[str, Any] = ()) -> set[str]:  # type: ignore[assignment]
    names = {f"{entity}.{field}" for entity, fields in KNOWN_FACTS.items() for field in fields}
    return names | set(extra)


def fact_problem(fact: str, known: set[str], allowed: tuple[str, ...]) -> str | None:
    """Why ``fact`` cannot be used (None when it can)."""
    entity, _, path = fact.partition(".")
    if entity not in allowed or not path:
        return f"unknown fact {fact!r}: expected {' or '.join(e + '.<field>' for e in allowed)}"
    if fact in known:
        return None
    parts = fact.split(".")
    if any(not part or part.startswith("$") or "\0" in part for part in parts):
        # a wildcard's sub-field becomes a query path: `$...` would be an operator there
        return f"unknown fact {fact!r}: a field name is not empty and does not start with $"
    for i in range(len(parts) - 1, 0, -1):
        if ".".join(parts[:i]) + ".*" in known:
            return None
    close = difflib.get_close_matches(fact, sorted(known), n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return f"unknown fact {fact!r}{hint}"


def interaction_type_problem(name: Any, known: Collection[str]) -> str | None:
    """Why ``name`` is not an interaction type of the vocabulary ``known`` (None when it is)."""
    if isinstance(name, str) and name in known:
        return None
    close = difflib.get_close_matches(str(name).lower(), sorted(known), n=1)
    hint = (
        f"did you mean {close[0]!r}?" if close else f"expected one of: {', '.join(sorted(known))}"
    )
    return f"unknown interaction type {name!r}; {hint}"


# ---------------------------------------------------------------- MongoDB value semantics

MISSING = object()


def values_at(doc: Any, path: str) -> list[Any]:
    """What a dotted ``path`` reaches in ``doc``, as MongoDB sees it: an array yields its
    elements and itself; documents inside arrays are searched; ``[]`` when it reaches nothing."""
    return _walk(doc, path.split(".")) if doc is not None else []


def _walk(value: Any, parts: list[str]) -> list[Any]:
    if not parts:
        return [*value, value] if isinstance(value, list) else [value]
    if isinstance(value, dict):
        return _walk(value[parts[0]], parts[1:]) if parts[0] in value else []
    if isinstance(value, list):
        return [v for item in value if isinstance(item, dict) for v in _walk(item, parts)]
    return []


def type_class(value: Any) -> str:
    """The BSON comparison class of a value (values of different classes never compare)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, datetime):
        return "date"
    if isinstance(value, ObjectId):
        return "objectid"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.replace(microsecond=value.microsecond // 1000 * 1000)
    return value


def same(a: Any, b: Any) -> bool:
    """BSON equality: same type class and equal value (``True`` is not ``1``)."""
    ca, cb = type_class(a), type_class(b)
    if ca != cb:
        return False
    if ca == "array":
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if ca == "object":
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return bool(_plain(a) == _plain(b))


def equals(values: list[Any], value: Any) -> bool:
    """MongoDB ``{path: value}``: some reached value equals it (``null`` also matches missing)."""
    if value is None and not values:
        return True
    return any(same(v, value) for v in values)


def compares(values: list[Any], value: Any, op: Callable[[Any, Any], bool]) -> bool:
    """MongoDB ``$gt``/``$lt``/...: some reached value of the same type class satisfies ``op``."""
    kind = type_class(value)
    return any(type_class(v) == kind and op(_plain(v), _plain(value)) for v in values)


def as_utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# ---------------------------------------------------------------- walking conditions


def walk(cond: Condition, loc: tuple[Any, ...] = ()) -> Iterator[tuple[Any, tuple[Any, ...]]]:
    """Every node of a condition with its location (as pydantic would report it)."""
    yield cond, loc
    if isinstance(cond, AllOf):
        for i, child in enumerate(cond.all):
            yield from walk(child, (*loc, "all", i))
    elif isinstance(cond, AnyOf):
        for i, child in enumerate(cond.any):
            yield from walk(child, (*loc, "any", i))
    elif isinstance(cond, NotOf):
        yield from walk(cond.not_, (*loc, "not"))
    elif isinstance(cond, Event) and cond.event.where is not None:
        yield from walk(cond.event.where, (*loc, "event", "where"))


def entities(cond: Condition) -> set[str]:
    """Which records a condition reads: ``contact``, ``lead``, ``account``, ``events``."""
    out: set[str] = set()
    for node, _ in _top(cond):
        if isinstance(node, Compare):
            out.add(node.fact.partition(".")[0])
        elif isinstance(node, Event):
            out.add("events")
    return out


def in_event(loc: tuple[Any, ...]) -> bool:
    """Whether a location is inside an event's ``where`` (which reads ``interaction.`` facts)."""
    return any(a in ("event", "per_event") and b == "where" for a, b in itertools.pairwise(loc))


def _top(cond: Condition) -> Iterator[tuple[Any, tuple[Any, ...]]]:
    """Like :func:`walk` but not into an event's ``where``."""
    for node, loc in walk(cond):
        if not in_event(loc):
            yield node, loc


def describe(cond: Condition | None) -> str:
    """A condition as one line of text, for explanations: ``contact.role eq decisionMaker and
    account.numberOfEmployees gte 250``; None (no condition) is ``otherwise``."""
    if cond is None:
        return "otherwise"
    if isinstance(cond, AllOf):
        return " and ".join(_group(c) for c in cond.all)
    if isinstance(cond, AnyOf):
        return " or ".join(_group(c) for c in cond.any)
    if isinstance(cond, NotOf):
        return f"not {_group(cond.not_)}"
    if isinstance(cond, Event):
        spec = cond.event
        text = f"{'/'.join(spec.type)} at least {spec.min}"
        text += f", at most {spec.max}" if spec.max is not None else ""
        text += f" within {spec.within}" if spec.within else ""
        return text + (f" where {describe(spec.where)}" if spec.where is not None else "")
    value = cond.value
    shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return f"{cond.fact} {cond.op} {shown}"


def _group(cond: Condition) -> str:
    text = describe(cond)
    return f"({text})" if isinstance(cond, AllOf | AnyOf) else text


def spec_key(spec: EventSpec) -> str:
    """The name of ``spec``'s count in ``facts["counts"]``: its types, window and ``where``
    (not ``min``/``max``, which only judge the count)."""
    where = spec.where.model_dump_json(by_alias=True) if spec.where is not None else ""
    return f"{','.join(sorted(spec.type))}|{spec.within or ''}|{where}"


# ---------------------------------------------------------------- compiling to Python


def _always(facts: Facts, now: datetime) -> bool:
    return True


class Compiler:
    """Compiles conditions with a given set of operators (built-in and from plugins)."""

    def __init__(self, operators: Mapping[str, Any]) -> None:
        self.operators = dict(operators)
        # Compiled once per condition object of the rule set (the rule set keeps them alive,
        # so their ids stay theirs): evaluating a lead never compiles anything.
        self._compiled: dict[int, tuple[Condition, Predicate]] = {}

    def predicate(self, cond: Condition | None) -> Predicate:
        """A function ``(facts, now) -> bool`` equivalent to ``cond`` (None: always true)."""
        if cond is None:
            return _always
        cached = self._compiled.get(id(cond))
        if cached is not None and cached[0] is cond:
            return cached[1]
        compiled = self._compile(cond)
        self._compiled[id(cond)] = (cond, compiled)
        return compiled

    def _compile(self, cond: Condition) -> Predicate:
        if isinstance(cond, AllOf):
            parts = [self.predicate(c) for c in cond.all]
            return lambda facts, now: all(p(facts, now) for p in parts)
        if isinstance(cond, AnyOf):
            parts = [self.predicate(c) for c in cond.any]
            return lambda facts, now: any(p(facts, now) for p in parts)
        if isinstance(cond, NotOf):
            inner = self.predicate(cond.not_)
            return lambda facts, now: not inner(facts, now)
        if isinstance(cond, Event):
            return self._event(cond.event)
        return self._compare(cond)

    def _compare(self, cond: Compare) -> Predicate:
        entity, _, path = cond.fact.partition(".")
        test = self.operators[cond.op].test
        value = cond.value

        def check(facts: Facts, now: datetime) -> bool:
            return bool(test(values_at(facts.get(entity), path), value))

        return check

    def _event(self, spec: EventSpec) -> Predicate:
        count = self.count(spec)
        low, high = spec.min, spec.max

        def check(facts: Facts, now: datetime) -> bool:
            n = count(facts, now)
            return low <= n and (high is None or n <= high)

        return check

    def ages(self, spec: EventSpec) -> Callable[[Facts, datetime], list[timedelta]]:
        """``(facts, now) -> [age, ...]``: how long ago each interaction matching the event spec
        occurred (an interaction dated after ``now`` is of age 0)."""
        types = set(spec.type)
        window = duration(spec.within) if spec.within else None
        where = self.predicate(spec.where) if spec.where is not None else None

        def ages(facts: Facts, now: datetime) -> list[timedelta]:
            at_now = _plain(as_utc(now))
            out = []
            for item in facts.get("interactions") or ():
                at = item.get("occurredAt")
                if item.get("type") not in types or not isinstance(at, datetime):
                    continue
                age = max(at_now - _plain(at), timedelta(0))
                if window is not None and age > window:
                    continue
                if where is not None and not where({"interaction": item}, now):
                    continue
                out.append(age)
            return out

        return ages

    def count(self, spec: EventSpec) -> Counter:
        """``(facts, now) -> int``: how many of the interactions match the event spec (the
        database's count in ``facts["counts"]`` when the facts carry one)."""
        types = set(spec.type)
        window = duration(spec.within) if spec.within else None
        where = self.predicate(spec.where) if spec.where is not None else None
        key = spec_key(spec)

        def count(facts: Facts, now: datetime) -> int:
            known = facts.get("counts")
            if known is not None and key in known:
                return int(known[key])
            since = as_utc(now) - window if window is not None else None
            n = 0
            for item in facts.get("interactions") or ():
                if item.get("type") not in types:
                    continue
                if since is not None:
                    at = item.get("occurredAt")
                    if not isinstance(at, datetime) or _plain(at) < _plain(since):
                        continue
                if where is not None and not where({"interaction": item}, now):
                    continue
                n += 1
            return n

        return count
