"""The per-request context every resolver sees as ``info.context``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from pymongo.asynchronous.database import AsyncDatabase

from .. import events
from ..errors import Forbidden
from ..services import ServiceCache, Services
from ..types import PluginManager
from .answer_cache import AnswerCache
from .auth import Principal
from .loaders import Loaders

if TYPE_CHECKING:
    from ..config import Settings
    from .live import Feed, Hub, Subscription

T = TypeVar("T")


@dataclass
class Batch:
    """What the operations of one JSON-array request share (:mod:`leadgraph.web.batch`): the
    cost budget they spend together and one deadline."""

    cost: int = 0
    deadline: tuple[float, float] | None = None


@dataclass
class Context:
    db: AsyncDatabase
    loaders: Loaders
    settings: Settings
    principal: Principal | None = None
    live: Hub | None = None  # the subscriptions' change-stream hub (leadgraph.web.live)
    rules: Any = None  # leadgraph.rules.manager.RulesManager
    pm: PluginManager | None = None
    request: Any = None
    response: Any = None
    connection_params: Any = None  # graphql-transport-ws connection_init payload
    extras: dict[str, Any] = field(default_factory=dict)
    services_cache: ServiceCache | None = None
    # segment member counts by (database, rules version, segment): the process's cache, shared
    # by all requests (a context built without one gets its own)
    segment_counts: AnswerCache[tuple[str, str, str], int] | None = None
    batch: Batch | None = None  # set while the operations of a batched request run

    def __post_init__(self) -> None:
        if self.segment_counts is None:
            self.segment_counts = AnswerCache(self.settings.segment_count_ttl)

    @property
    def services(self) -> Services:
        """The services over this request's database with the live rules, acting for the
        caller (the events they record name its key and role, via ``api``)."""
        cache = self.services_cache or ServiceCache()
        self.services_cache = cache
        principal = self.principal
        events.act_as(events.Actor(principal.name, principal.role, "api") if principal else None)
        return cache.get(self.db, self.rules, self.pm)

    def require(self, permission: str) -> Principal:
        """The caller, if its role grants ``permission``; raises :class:`Forbidden` otherwise."""
        principal = self.principal
        if principal is None or not principal.can(permission):
            raise Forbidden(permission, principal.role if principal else "anonymous")
        return principal

    async def subscribe(
        self,
        feed: Feed,
        *,
        matches: Callable[[dict[str, Any]], bool],
        convert: Callable[[dict[str, Any]], T],
    ) -> Subscription[T]:
        """The caller's live subscription to ``feed`` (every role may read; the socket's key
        is re-checked while it runs), within the per-key and per-process limits."""
        principal = self.principal
        if principal is None or self.live is None:
            raise Forbidden("subscribe", "anonymous")
        return await self.live.subscribe(
            self.db,
            feed,
            principal.key_id or principal.name,
            self.settings,
            matches=matches,
            convert=convert,
        )
