"""Segments as the segment service holds them: one :class:`SegmentRecord` per segment, whatever
its source, in a :class:`Catalog`; the errors of a segment that cannot be evaluated.

A stored segment is checked each time it is read, as a new one is on save: one stored by an
older version (before condition values were checked) or made invalid by a change of the rules
or plugins since is kept in the catalog *marked* (:attr:`SegmentRecord.problems`), so that the
list and every other segment still answer, and only its own members report
:class:`SegmentInvalid`.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pydantic
from bson import ObjectId
from pymongo.errors import OperationFailure, PyMongoError

from ..errors import UserError
from ..rules.models import SEGMENT_KINDS, Segment
from ..rules.ruleset import RuleSet, segment_problems

log = logging.getLogger("leadgraph.segments")


class SegmentCycle(UserError):
    """A compound segment would include or exclude itself through others."""

    code = "SEGMENT_CYCLE"

    def __init__(self, cycle: list[str]) -> None:
        self.cycle = cycle
        super().__init__(f"segment cycle: {' -> '.join(cycle)}")

    @property
    def extensions(self) -> dict[str, Any]:
        return {"code": self.code, "cycle": self.cycle}


class SegmentUnusable(UserError):
    """A segment whose members cannot be computed (base of the two reasons below)."""

    def __init__(self, segment: str, message: str, fields: tuple[tuple[str, str], ...] = ()):
        self.segment, self.fields = segment, fields
        super().__init__(message)

    @property
    def extensions(self) -> dict[str, Any]:
        fields = [{"field": f, "message": m} for f, m in self.fields]
        return {"code": self.code, "segment": self.segment, "fields": fields}


class SegmentInvalid(SegmentUnusable):
    """A stored segment whose definition is not valid now."""

    code = "SEGMENT_INVALID"

    def __init__(self, segment: str, fields: tuple[tuple[str, str], ...]) -> None:
        said = "; ".join(f"{f}: {m}" for f, m in fields)
        super().__init__(
            segment,
            f"segment {segment!r} cannot be evaluated: {said} (change it with updateSegment "
            "or delete it)",
            fields,
        )


class SegmentEvaluationFailed(SegmentUnusable):
    """A segment whose evaluation raised (a plugin operator, a query the database refused)."""

    code = "SEGMENT_EVALUATION_FAILED"

    def __init__(self, segment: str) -> None:
        super().__init__(
            segment,
            f"segment {segment!r} could not be evaluated (the server log says why); check its "
            "definition and the plugins its operators come from",
        )


@contextlib.contextmanager
def evaluating(name: str) -> Iterator[None]:
    """Turn a fault while computing segment ``name`` into :class:`SegmentEvaluationFailed`
    (logged with its traceback: it is the server's or a plugin's fault, not the caller's).
    A database that cannot be reached stays what it is (the API answers ``UNAVAILABLE``)."""
    try:
        yield
    except UserError:
        raise
    except PyMongoError as exc:
        if not isinstance(exc, OperationFailure):
            raise
        log.exception("segment %r: the database refused its query", name)
        raise SegmentEvaluationFailed(name) from exc
    except Exception as exc:
        log.exception("segment %r could not be evaluated", name)
        raise SegmentEvaluationFailed(name) from exc


@dataclass(frozen=True)
class SegmentRecord:
    """One segment as the API shows it, whatever its source."""

    segment: Segment
    source: str  # "rules" | "api"
    status: str  # "draft" | "published"
    id: ObjectId | None = None
    rev: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    published_at: datetime | None = None
    #: What is wrong with a stored definition (path, message); empty when it can be evaluated.
    #: Then :attr:`segment` holds only its name and kind and :attr:`stored_where` the
    #: condition as stored.
    problems: tuple[tuple[str, str], ...] = ()
    stored_where: Any = None

    @property
    def name(self) -> str:
        return self.segment.name

    @property
    def where(self) -> Any:
        """The condition as the rule files write it (as stored when the segment is invalid)."""
        if self.problems:
            return self.stored_where
        return self.segment.model_dump(by_alias=True, mode="json")["where"]

    def usable(self) -> Segment:
        """The segment, or :class:`SegmentInvalid` when its definition is not valid now."""
        if self.problems:
            raise SegmentInvalid(self.name, self.problems)
        return self.segment


@dataclass(frozen=True)
class Catalog:
    """Every segment visible now, by name, and a version that changes with any of them."""

    by_name: Mapping[str, SegmentRecord]
    version: str

    def get(self, name: str) -> SegmentRecord | None:
        return self.by_name.get(name)

    def segment(self, name: str) -> Segment | None:
        found = self.by_name.get(name)
        return found.segment if found else None

    def graph(self) -> dict[str, list[str]]:
        return {n: [*r.segment.include, *r.segment.exclude] for n, r in self.by_name.items()}


CONDITION_TAGS = frozenset(("all", "any", "not", "event", "fact"))
FIELDS = {  # Segment model field -> API input field
    "name": "name",
    "description": "description",
    "kind": "kind",
    "where": "where",
    "include": "include",
    "exclude": "exclude",
    "purpose": "purpose",
    "subscription_list": "subscriptionList",
}


def data_path(data: Any, loc: tuple[Any, ...]) -> list[str]:
    """A pydantic error location as a path into the input (union tags left out: a condition's
    tag is also one of its keys, so ``fact`` followed by a key of the same mapping is the tag
    of ``{fact, op, value}``, not its ``fact``)."""
    out: list[str] = []
    node = data
    for i, part in enumerate(loc):
        after = loc[i + 1] if i + 1 < len(loc) else None
        if isinstance(node, dict) and after in node and part in CONDITION_TAGS:
            continue
        if (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        ):
            node = node[part]
        else:
            continue
        out.append(str(part))
    return out


def field_path(loc: tuple[Any, ...] | list[str], prefix: str) -> str:
    """``input.where.all.0.value.0``: a location in the API's names (no prefix: ``where...``)."""
    parts = [str(p) for p in loc]
    if parts:
        parts[0] = FIELDS.get(parts[0], parts[0])
    return ".".join([prefix, *parts] if prefix else parts) or prefix


def problems_of(
    data: dict[str, Any], ruleset: RuleSet, prefix: str, lists: Collection[str] | None = None
) -> tuple[Segment | None, list[tuple[str, str]]]:
    """A segment from its fields, checked as a rule file's is (and, given ``lists``, against
    the subscription lists): (the segment or None, its problems as (path, message))."""
    try:
        segment = Segment.model_validate(data)
    except pydantic.ValidationError as exc:
        return None, [
            (field_path(data_path(data, tuple(e["loc"])), prefix), _said(e["msg"]))
            for e in exc.errors()
        ]
    found = segment_problems(ruleset, segment, (), lists)
    return segment, [(field_path(p.loc, prefix), p.message) for p in found]


def _said(message: str) -> str:
    return message.removeprefix("Value error, ")


def record_of(doc: dict[str, Any], ruleset: RuleSet) -> SegmentRecord:
    """A stored segment, checked against the rules now (marked when it is not valid)."""
    stored_where: Any = doc.get("where")
    problems: list[tuple[str, str]] = []
    if isinstance(stored_where, str):
        try:
            stored_where = json.loads(stored_where)
        except ValueError:
            problems.append(("where", "the stored condition is not JSON"))
    data = {
        "name": doc["name"],
        "description": doc.get("description") or "",
        "kind": doc.get("kind"),
        "where": stored_where or None,
        "include": doc.get("include") or [],
        "exclude": doc.get("exclude") or [],
        "purpose": doc.get("purpose"),
        "subscription_list": doc.get("subscriptionList"),
    }
    segment, found = (None, []) if problems else problems_of(data, ruleset, "")
    problems += found
    if segment is None or problems:
        segment = Segment.model_construct(
            name=str(doc["name"]),
            description=str(doc.get("description") or ""),
            kind=doc["kind"] if doc.get("kind") in SEGMENT_KINDS else "dynamic",
        )
    return SegmentRecord(
        segment=segment,
        source="api",
        status=doc.get("status", "draft"),
        id=doc["_id"],
        rev=doc.get("rev", 0),
        created_at=doc.get("createdAt"),
        updated_at=doc.get("updatedAt"),
        published_at=doc.get("publishedAt"),
        problems=tuple(problems),
        stored_where=stored_where,
    )
