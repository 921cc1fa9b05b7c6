"""Which plans the database picks for the reads a request sends: record the commands through a
command listener (``conftest.listening``), then ask the same database to ``explain`` each one.

Usage::

    async with listening(server, api, mongo_uri, Commands(api.db.name, "leads")) as seen:
        await api.gql(...)
    for command in seen.commands:
        assert "COLLSCAN" not in await plan_stages(api.db, command)
"""

from __future__ import annotations

from typing import Any

from pymongo import monitoring
from pymongo.asynchronous.database import AsyncDatabase

_FIND = ("find", "filter", "sort", "projection", "limit", "skip", "hint")
_AGGREGATE = ("aggregate", "pipeline", "hint")


class Commands(monitoring.CommandListener):
    """Records the ``find`` and ``aggregate`` commands sent to one collection of one database."""

    def __init__(self, db_name: str, collection: str) -> None:
        self.db_name = db_name
        self.collection = collection
        self.commands: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        if event.database_name != self.db_name or name not in ("find", "aggregate"):
            return
        if event.command.get(name) == self.collection:
            keep = _FIND if name == "find" else _AGGREGATE
            self.commands.append({k: event.command[k] for k in keep if k in event.command})

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def explain(db: AsyncDatabase, command: dict[str, Any]) -> dict[str, Any]:
    """The winning plan of a recorded command (the query planner's choice, not run)."""
    if "aggregate" in command:
        command = {**command, "cursor": {}}
    out = await db.command("explain", command, verbosity="queryPlanner")
    planner = out.get("queryPlanner") or out["stages"][0]["$cursor"]["queryPlanner"]
    return dict(planner["winningPlan"])


def stages(plan: dict[str, Any]) -> list[str]:
    """A plan's stages, outermost first (``IXSCAN`` as ``IXSCAN:<index name>``)."""
    stage = str(plan.get("stage"))
    out = [f"{stage}:{plan['indexName']}" if stage == "IXSCAN" else stage]
    for child in [plan.get("inputStage"), *(plan.get("inputStages") or [])]:
        if child:
            out += stages(child)
    return out


async def plan_stages(db: AsyncDatabase, command: dict[str, Any]) -> list[str]:
    return stages(await explain(db, command))
