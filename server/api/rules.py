"""GraphQL for the rules: their status and reload (admins); segments are in
:mod:`leadgraph.api.segments.resolvers`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.types import Info


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
