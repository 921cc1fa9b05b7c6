"""What lives as long as the server process (:class:`AppState`): settings, database, rules,
plugins, schema and the process-wide caches; the app, the GraphQL view and the runtime share it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import strawberry
from pymongo.asynchronous.database import AsyncDatabase

from ..config import Settings
from ..db import Connection
from ..services import ServiceCache
from ..types import PluginManager
from .answer_cache import AnswerCache
from .key_states import KeyStates, VerifiedKeys
from .live import Hub
from .persisted import PersistedQueries


@dataclass
class AppState:
    """What lives as long as the process: settings, database, rules, plugins, schema."""

    settings: Settings
    schema: strawberry.Schema
    connection: Connection | None = None
    rules: Any = None
    pm: PluginManager | None = None
    tasks: list[Any] = field(default_factory=list)
    services: ServiceCache = field(default_factory=ServiceCache)
    live: Hub = field(default_factory=Hub)
    key_states: KeyStates = field(default_factory=KeyStates)
    #: Keys HTTP requests found live lately (``key_cache_seconds``; web/key_states.py).
    verified_keys: VerifiedKeys | None = None
    segment_counts: AnswerCache[tuple[str, str, str], int] | None = None
    persisted: PersistedQueries | None = None
    #: The start-up task linking the orphan leads already stored (web/orphan_link.py).
    orphan_link: Any = None
    #: The SLA scheduler's start-up round (web/sla_scheduler.py).
    sla_start: Any = None

    def __post_init__(self) -> None:
        if self.segment_counts is None:  # one per process, shared by all requests
            self.segment_counts = AnswerCache(self.settings.segment_count_ttl)
        if self.verified_keys is None:
            self.verified_keys = VerifiedKeys(self.settings.key_cache_seconds)
        if self.persisted is None:
            self.persisted = PersistedQueries(self.settings.persisted_only)

    @property
    def db(self) -> AsyncDatabase:
        assert self.connection is not None, "database not open yet"
        return self.connection.db
