"""Stages that still hold leads: new rules may not drop them, only retire them to another stage.

A lead's ``stage`` must be a stage of the live lifecycle (else no transition leaves it).  So
before new rules go live, the leads are counted per stage: a stage that holds leads and is
neither in the new lifecycle nor mapped by ``lifecycle.retired_stages`` rejects the change
(the last good rules stay live); a mapped one has its leads moved, with a ``stageHistory``
entry, when the rules go live.  The server and ``leadgraph rules check`` run the same check.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from ..config import Settings
from ..db import make_client, reachable_uri
from ..events import RulesVersionLive
from ..rules.fields import removal_errors, undeclared_held
from ..rules.lifecycle import stage_errors
from ..rules.loader import RuleError
from ..rules.ruleset import RuleSet
from ..rules.scoring import indexed_models
from ..store import custom_fields as custom_store
from ..store import events as events_store
from ..store import lead_scores
from ..store import leads as leads_store
from ..types import PluginManager
from . import sla
from .funnel import Funnel
from .rescore_job import went_live

log = logging.getLogger("leadgraph")


class DatabaseStages:
    """:class:`~leadgraph.rules.manager.LeadStages` of a database (a callable: the server's
    database may be replaced)."""

    def __init__(
        self,
        db: Callable[[], AsyncDatabase],
        pm: Callable[[], PluginManager | None] = lambda: None,
        *,
        rescore: bool = True,
    ) -> None:
        self._db = db
        self._pm = pm
        self._rescore = rescore  # LEADGRAPH_RESCORE_ON_RULES_CHANGE

    async def counts(self) -> Mapping[str, int]:
        return await leads_store.count_by_stage(self._db())

    async def custom_values(self, removed: Mapping[str, list[str]]) -> Mapping[str, int]:
        """How many records hold a value of each removed custom field (``{record type:
        [field, ...]}``), by ``<type>.custom.<name>``."""
        db = self._db()
        out: dict[str, int] = {}
        for entity, names in removed.items():
            held = await custom_store.holding(db, entity, names)
            out.update({f"{entity}.custom.{n}": k for n, k in held.items()})
        return out

    async def held_custom(self) -> Mapping[str, int]:
        """How many records hold a value of each custom field, declared or not, by
        ``<type>.custom.<name>`` (what start-up and ``leadgraph rules check`` compare with the
        rules)."""
        db = self._db()
        out: dict[str, int] = {}
        for entity in custom_store.COLLECTIONS:
            held = await custom_store.held_fields(db, entity)
            out.update({f"{entity}.custom.{n}": k for n, k in held.items()})
        return out

    async def move(
        self, moves: Mapping[str, str], ruleset: RuleSet, pm: PluginManager | None
    ) -> Mapping[str, int]:
        return await Funnel(self._db(), ruleset, pm).retire_stages(dict(moves))

    async def prepare(self, ruleset: RuleSet) -> None:
        """The rules are about to go live: the indexes their models need, and when the
        version is not the one live last, the stored SLAs brought to it
        (:func:`leadgraph.services.sla.restate`) and the ``rules.version_live`` event with the
        background rescore of the leads (:mod:`leadgraph.services.rescore_job`)."""
        db = self._db()
        await lead_scores.ensure_model_indexes(db, indexed_models(ruleset))
        await custom_store.ensure_field_indexes(db, ruleset.custom_fields.indexed())
        last = await events_store.latest(db, RulesVersionLive.type)
        if (last["record"]["id"] if last else None) != ruleset.version:
            restated = await sla.restate(db, ruleset)
            if restated:
                log.info("%d lead(s) got their stage's SLA of %s", restated, ruleset.version)
            await went_live(db, self._pm(), ruleset.version, last, rescore=self._rescore)


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
        found = DatabaseStages(lambda: client[settings.db_name])
        counts = await found.counts()
        held = undeclared_held(ruleset.custom_fields, await found.held_custom())
    except PyMongoError as exc:
        return [], f"skipped the occupied-stage check: database not reachable ({exc})"
    finally:
        await client.close()
    checked = (
        f"checked the stages of {sum(counts.values())} lead(s) in database {settings.db_name} "
        "and the custom fields its records hold"
    )
    where = ruleset.fields_source or (ruleset.directory, 1, 1)
    fields = [RuleError(*e) for e in removal_errors(held, where)]
    return stage_errors(ruleset, counts) + fields, checked
