"""The audit log: pages of the record of what changed (``events``), filtered."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from ..cursors import Page
from ..errors import InvalidInput
from ..store import events
from .webhooks import pattern_problems


class Audit:
    def __init__(self, db: AsyncDatabase) -> None:
        self.db = db

    async def page(
        self,
        *,
        record: ObjectId | str | None,
        actor: str | None,
        actions: list[str] | None,
        first: int | None,
        after: str | None,
    ) -> tuple[Page, Callable[[], Awaitable[int]]]:
        """One page, newest first, and how to count every entry the filter matches."""
        if actions is not None:
            problems = pattern_problems(actions, "actions")
            if problems:
                raise InvalidInput(problems)
        page = await events.page(
            self.db, record=record, actor=actor, types=actions, first=first, after=after
        )

        async def count() -> int:
            return await events.count(self.db, record=record, actor=actor, types=actions)

        return page, count
