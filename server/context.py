"""The per-request context every resolver sees as ``info.context``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pymongo.asynchronous.database import AsyncDatabase

from .auth import Principal
from .errors import Forbidden
from .loaders import Loaders

if TYPE_CHECKING:
    from .config import Settings


@dataclass
class Context:
    db: AsyncDatabase
    loaders: Loaders
    settings: Settings
    principal: Principal | None = None
    rules: Any = None  # leadgraph.rules.manager.RulesManager
    pm: Any = None  # pluggy.PluginManager
    request: Any = None
    response: Any = None
    connection_params: Any = None  # graphql-transport-ws connection_init payload
    extras: dict[str, Any] = field(default_factory=dict)

    async def emit(self, event: str, **payload: Any) -> None:
        """Tell plugins that something happened (after the write): see :mod:`leadgraph.events`."""
        from .events import emit

        await emit(self.pm, event, payload)

    def require(self, permission: str) -> Principal:
        """The caller, if its role grants ``permission``; raises :class:`Forbidden` otherwise."""
        principal = self.principal
        if principal is None or not principal.can(permission):
            raise Forbidden(permission, principal.role if principal else "anonymous")
        return principal
