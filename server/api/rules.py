"""GraphQL for the rules: their status and reload (admins); segments are in
:mod:`leadgraph.api.segments.resolvers`."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.types import Info

from ..services import rescore_job


@strawberry.type(description="A problem in the rule files, where it is and what was expected.")
class RuleFileError:
    file: str = strawberry.field(
        description="The file, relative to the rules directory (or `(plugins)` for a plugin that "
        "failed to load).",
    )
    line: int = strawberry.field(description="The line, from 1.")
    column: int = strawberry.field(description="The column, from 1.")
    message: str = strawberry.field(description="What is wrong and what was expected.")


@strawberry.enum(description="Where the background rescore of a rules version is.")
class RescoreState(Enum):
    PENDING = strawberry.enum_value("pending", description="Waiting for a server to start it.")
    RUNNING = strawberry.enum_value("running", description="A server is rescoring the leads.")
    DONE = strawberry.enum_value("done", description="Every lead was rescored.")
    FAILED = strawberry.enum_value(
        "failed", description="It ended with leads not rescored (see `error`)."
    )
    SUPERSEDED = strawberry.enum_value(
        "superseded", description="A newer rules version went live first; its run replaces it."
    )


@strawberry.type(
    description="The background rescore of every lead that starts when a rules version goes "
    "live (unless LEADGRAPH_RESCORE_ON_RULES_CHANGE=0)."
)
class RulesRescore:
    state: RescoreState = strawberry.field(description="Where the run is.")
    rules_version: str = strawberry.field(description="The rules version the leads go to.")
    done: int = strawberry.field(description="Leads rescored so far.")
    total: int | None = strawberry.field(
        description="Leads to rescore: those that existed when the version went live (null "
        "until a server starts the run)."
    )
    failed: int = strawberry.field(description="Leads a plugin failed on (marked stale).")
    error: str | None = strawberry.field(description="Why it failed or was retried, if it did.")
    started_at: datetime | None = strawberry.field(
        description="When a server started the run; null while pending.",
    )
    finished_at: datetime | None = strawberry.field(
        description="When it ended (done, failed or superseded); null while pending or running.",
    )

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> RulesRescore:
        return cls(
            state=RescoreState(doc["state"]),
            rules_version=doc["rulesVersion"],
            done=int(doc.get("done") or 0),
            total=doc.get("total"),
            failed=int(doc.get("failed") or 0),
            error=doc.get("error"),
            started_at=doc.get("startedAt"),
            finished_at=doc.get("finishedAt"),
        )


@strawberry.type(description="Which rules are live and what went wrong with the last change.")
class RulesStatus:
    version: str | None = strawberry.field(
        description="Content hash of the live rules; every score and stage move records it."
    )
    loaded_at: datetime | None = strawberry.field(description="When the live rules loaded.")
    directory: str = strawberry.field(
        description="The rules directory the server reads and watches, as configured; empty "
        "when the server runs without rules.",
    )
    errors: list[RuleFileError] = strawberry.field(
        description="Errors of the last load; when not empty the previous rules stay live."
    )

    @strawberry.field(
        description="The background rescore of the latest rules version that went live (null "
        "before any)."
    )
    async def rescore(self, info: Info) -> RulesRescore | None:
        doc = await rescore_job.status(info.context.db)
        return RulesRescore.from_doc(doc) if doc is not None else None


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
