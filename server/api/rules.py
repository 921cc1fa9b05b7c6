"""GraphQL for the rules: their status and reload (admins), and the segments they define."""

from __future__ import annotations

import bisect
from datetime import UTC, datetime
from typing import Any

import strawberry
from strawberry.types import Info

from ..answer_cache import AnswerCache
from ..errors import NotFound
from ..rules.segments import member_ids
from ..store import contacts
from ..store.pagination import Order, Page, decode_cursor
from .contacts import Contact
from .relay import Connection, check_page_args, connection, known_count


@strawberry.type(description="A problem in the rule files, where it is and what was expected.")
class RuleFileError:
    file: str
    line: int
    column: int
    message: str


@strawberry.type(description="Which rules are live and what went wrong with the last change.")
class RulesStatus:
    version: str | None = strawberry.field(
        description="Content hash of the live rules; every score and stage move records it."
    )
    loaded_at: datetime | None = strawberry.field(description="When the live rules loaded.")
    directory: str
    errors: list[RuleFileError] = strawberry.field(
        description="Errors of the last load; when not empty the previous rules stay live."
    )


def _status(manager: Any) -> RulesStatus:
    if manager is None:
        return RulesStatus(version=None, loaded_at=None, directory="", errors=[])
    return RulesStatus(
        version=manager.version,
        loaded_at=manager.loaded_at,
        directory=str(manager.directory),
        errors=[
            RuleFileError(file=e.file, line=e.line, column=e.column, message=e.message)
            for e in manager.errors
        ],
    )


def _ruleset(info: Info) -> Any:
    manager = info.context.rules
    ruleset = getattr(manager, "current", None)
    if ruleset is None:
        raise NotFound("Rules", "current")
    return ruleset


async def _members(info: Info, name: str) -> list[Any]:
    """The segment's member ids, computed once per request (members and memberCount share,
    and so do aliases resolved at the same time)."""
    ruleset = _ruleset(info)
    cache = info.context.extras.get("segment_members")
    if cache is None:
        cache = info.context.extras["segment_members"] = AnswerCache(ttl=None)

    async def compute() -> list[Any]:
        return await member_ids(info.context.db, ruleset, name, datetime.now(UTC))

    members: list[Any] = await cache.get((ruleset.version, name), compute)
    return members


async def _member_count(info: Info, name: str) -> int:
    """How many members the segment has: cached per (database, rules version, segment) for
    ``segment_count_ttl`` seconds across requests, computed once however many ask at once."""
    ruleset = _ruleset(info)
    counts = info.context.segment_counts
    assert counts is not None

    async def compute() -> int:
        return len(await _members(info, name))

    return await counts.get((info.context.db.name, ruleset.version, name), compute)


@strawberry.type(description="A named query whose members are contacts.")
class Segment:
    name: str
    description: str

    @strawberry.field(description="Contacts in the segment now, ordered by id.")
    async def members(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Contact]:
        first, _ = check_page_args(info, first, None)
        ids = await _members(info, self.name)
        start = 0
        if after is not None:
            _, last_id = decode_cursor("_id", after, "after")
            start = bisect.bisect_right(ids, last_id)
        chunk = ids[start : start + (first or 0)]
        docs = await contacts.by_ids(info.context.db, chunk)
        page = Page(
            docs=[docs[i] for i in chunk if i in docs],
            has_next=start + len(chunk) < len(ids),
            has_previous=start > 0,
            order=Order("_id"),
            filter={},
            total=len(ids),
        )
        return connection(page, Contact.from_doc, known_count(len(ids)))

    @strawberry.field(
        description="How many contacts are in the segment (computed at most once per "
        "`segment_count_ttl` seconds, 60 by default, and rules version)."
    )
    async def member_count(self, info: Info) -> int:
        return await _member_count(info, self.name)


@strawberry.type
class RulesQuery:
    @strawberry.field(description="The live rules' version, load time and last errors (admins).")
    def rules_status(self, info: Info) -> RulesStatus:
        info.context.require("rules:admin")
        return _status(info.context.rules)


@strawberry.type
class RulesMutation:
    @strawberry.mutation(
        description="Reload the rule files now (admins). A bad change keeps the live rules and "
        "is reported in the returned status."
    )
    async def reload_rules(self, info: Info) -> RulesStatus:
        info.context.require("rules:admin")
        await info.context.rules.areload()
        return _status(info.context.rules)


@strawberry.type
class SegmentQuery:
    @strawberry.field(description="The segments the rule files define.")
    def segments(self, info: Info) -> list[Segment]:
        return [Segment(name=s.name, description=s.description) for s in _ruleset(info).segments]

    @strawberry.field(description="One segment by name.")
    def segment(self, info: Info, name: str) -> Segment | None:
        found = _ruleset(info).segment(name)
        return Segment(name=found.name, description=found.description) if found else None
