"""Query plans: how the database would answer the reads the connections issue (for the index
test and for operators checking a deployment).

``explain`` output differs between servers: MongoDB's classic engine nests the winning plan as
``inputStage``/``inputStages``, its slot-based engine (MongoDB 7+) puts it under
``winningPlan.queryPlan``, and an aggregation's plan sits in ``stages[0].$cursor`` (or at the
top).  The embedded SecantusDB answers in the classic shape.  :func:`plan_stages` reads them
all by collecting every ``stage`` name under any ``winningPlan``, never from rejected plans.
"""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase


async def find_plan(
    db: AsyncDatabase,
    collection: str,
    filter: dict[str, Any],
    sort: list[tuple[str, int]] | None = None,
    limit: int = 21,
) -> dict[str, Any]:
    """The ``explain`` (queryPlanner) of a page read: ``find(filter).sort(sort).limit(limit)``."""
    command: dict[str, Any] = {"find": collection, "filter": filter, "limit": limit}
    if sort:
        command["sort"] = dict(sort)
    return dict(await db.command("explain", command, verbosity="queryPlanner"))


async def count_plan(db: AsyncDatabase, collection: str, filter: dict[str, Any]) -> dict[str, Any]:
    """The ``explain`` of a filtered count as :func:`.batches.count` runs it (the driver's
    ``count_documents`` aggregation)."""
    pipeline = [{"$match": filter}, {"$group": {"_id": 1, "n": {"$sum": 1}}}]
    command = {"aggregate": collection, "pipeline": pipeline, "cursor": {}}
    return dict(await db.command("explain", command, verbosity="queryPlanner"))


def plan_stages(explained: Any) -> list[str]:
    """Every stage name of the winning plan(s) in an ``explain`` answer, outermost first."""
    found: list[str] = []

    def stages(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("stage"), str):
                found.append(node["stage"])
            for key, value in node.items():
                if key not in ("rejectedPlans", "executionStats"):
                    stages(value)
        elif isinstance(node, list):
            for item in node:
                stages(item)

    def winning(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "winningPlan":
                    stages(value)
                elif key not in ("rejectedPlans", "executionStats"):
                    winning(value)
        elif isinstance(node, list):
            for item in node:
                winning(item)

    winning(explained)
    return found


def scans_collection(explained: Any) -> bool:
    """Whether the winning plan reads the whole collection (a ``COLLSCAN`` stage)."""
    return "COLLSCAN" in plan_stages(explained)
