"""Stages that still hold leads: new rules may not drop them, only retire them to another stage.

A lead's ``stage`` must be a stage of the live lifecycle (else no transition leaves it).  So
before new rules go live, the leads are counted per stage: a stage that holds leads and is
neither in the new lifecycle nor mapped by ``lifecycle.retired_stages`` rejects the change
(the last good rules stay live); a mapped one has its leads moved, with a ``stageHistory``
entry, when the rules go live.  The server and ``leadgraph rules check`` run the same check.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from ..config import Settings
from ..db import make_client, reachable_uri
from ..rules.loader import RuleError
from ..rules.ruleset import RuleSet
from ..rules.scoring import indexed_models
from ..store import leads as leads_store
from .funnel import Funnel


class LeadStages(Protocol):
    """Where the leads are: what :class:`~leadgraph.rules.manager.RulesManager` asks."""

    async def counts(self) -> Mapping[str, int]:
        """The number of leads in each stage."""
        ...

    async def move(self, moves: Mapping[str, str], ruleset: RuleSet, pm: Any) -> Mapping[str, int]:
        """Move the leads of each ``old`` stage to ``new`` (through the funnel, announced to
        the plugins of ``pm``); how many moved per old stage."""
        ...

    async def prepare(self, ruleset: RuleSet) -> None:
        """Make the database ready for ``ruleset`` before it goes live: the indexes its scoring
        models need (leads by each model's score and grade)."""
        ...


class DatabaseStages:
    """:class:`LeadStages` of a database (a callable: the server's database may be replaced)."""

    def __init__(self, db: Callable[[], AsyncDatabase]) -> None:
        self._db = db

    async def counts(self) -> Mapping[str, int]:
        return await leads_store.count_by_stage(self._db())

    async def move(self, moves: Mapping[str, str], ruleset: RuleSet, pm: Any) -> Mapping[str, int]:
        return await Funnel(self._db(), ruleset, pm).retire_stages(dict(moves))

    async def prepare(self, ruleset: RuleSet) -> None:
        await leads_store.ensure_model_indexes(self._db(), indexed_models(ruleset))


def stage_errors(ruleset: RuleSet, counts: Mapping[str, int]) -> list[RuleError]:
    """Errors for every occupied stage the rules drop without retiring it."""
    lifecycle = ruleset.lifecycle
    stages = set(lifecycle.stage_names) if lifecycle else set()
    retired = lifecycle.retired_stages if lifecycle else {}
    file, line, column = ruleset.lifecycle_source or (ruleset.directory, 1, 1)
    errors = []
    for stage, n in sorted(counts.items()):
        if n <= 0 or stage in stages or stage in retired:
            continue
        hint = (
            f"keep the stage or map it to another under lifecycle.retired_stages "
            f"(e.g. retired_stages: {{{stage}: {lifecycle.initial}}})"
            if lifecycle
            else "add a lifecycle with that stage"
        )
        errors.append(
            RuleError(
                file,
                line,
                column,
                f"stage {stage!r} is removed but {n} lead(s) are in it; {hint}",
            )
        )
    return errors


def stage_moves(ruleset: RuleSet, counts: Mapping[str, int]) -> dict[str, str]:
    """``{retired stage: its new stage}`` for the retired stages that hold leads."""
    retired = ruleset.lifecycle.retired_stages if ruleset.lifecycle else {}
    return {old: new for old, new in retired.items() if counts.get(old, 0) > 0}


async def check_database(settings: Settings, ruleset: RuleSet) -> tuple[list[RuleError], str]:
    """The stage check against the database of ``settings`` when one is reachable without
    starting one (``MONGODB_URI`` or a running server's embedded database): ``(errors, what
    was checked or why the check was skipped)``."""
    uri = reachable_uri(settings)
    if uri is None:
        return [], (
            "skipped the occupied-stage check: no database reachable "
            "(set MONGODB_URI, or run this while `leadgraph serve` runs)"
        )
    client = make_client(uri, serverSelectionTimeoutMS=5000)
    try:
        counts = await DatabaseStages(lambda: client[settings.db_name]).counts()
    except PyMongoError as exc:
        return [], f"skipped the occupied-stage check: database not reachable ({exc})"
    finally:
        await client.close()
    checked = f"checked the stages of {sum(counts.values())} lead(s) in database {settings.db_name}"
    return stage_errors(ruleset, counts), checked
