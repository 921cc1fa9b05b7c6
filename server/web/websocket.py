"""graphql-transport-ws sockets that re-read their API key while they are open (the only
WebSocket protocol spoken at ``/graphql``; see :mod:`leadgraph.web.view`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    SubscribeMessage,
)

from . import key_states
from .context import Context

log = logging.getLogger("leadgraph")

KEY_REVOKED = 4403  # WebSocket close code: the socket's API key was revoked


class RecheckingTransportWS(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws whose sockets re-read their API key while they are open.

    - on every ``subscribe`` message (queries and mutations sent over the socket included),
      read now, as an HTTP request would;
    - every ``ws_recheck_seconds``, through the shared :class:`KeyStates` cache, so that
      long-running subscriptions stop within seconds of a revocation.

    A revoked (or deleted) key closes the socket with code 4403 and reason "API key revoked",
    which ends all its subscriptions; a changed role replaces the socket's principal, so
    permission checks that follow use the new role.
    """

    recheck_task: asyncio.Task[None] | None = None
    revoked = False

    @property
    def states(self) -> key_states.KeyStates:
        return self.view.state.key_states  # type: ignore[attr-defined]

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        if self.connection_acknowledged and self.recheck_task is None:
            self.recheck_task = asyncio.create_task(self._recheck_periodically())

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if self.revoked:
            return  # sent before the socket was closed: ignored
        if self.connection_acknowledged:
            try:
                live = await self._recheck(max_age=0.0)
            except Exception:  # the database cannot say: refuse this operation only
                log.warning("cannot re-check a WebSocket's API key", exc_info=True)
                await self.send_message(
                    {
                        "id": message["id"],
                        "type": "error",
                        "payload": [
                            {
                                "message": "cannot verify the API key now; try again",
                                "extensions": {"code": "UNAVAILABLE", "retryable": True},
                            }
                        ],
                    }
                )
                return
            if not live:
                return
        await super().handle_subscribe(message)

    async def _recheck(self, max_age: float) -> bool:
        """Re-read the key; closes the socket and answers False when it is no longer live."""
        principal = self.context.principal
        current = None
        if principal is not None:
            current = await self.states.current(self.context.db, principal, max_age)
        if current is None:
            self.context.principal = None
            if not self.revoked:
                self.revoked = True
                await self.websocket.close(code=KEY_REVOKED, reason="API key revoked")
            return False
        self.context.principal = current
        return True

    async def _recheck_periodically(self) -> None:
        interval = self.context.settings.ws_recheck_seconds
        while True:
            await asyncio.sleep(interval)
            try:
                if not await self._recheck(max_age=interval / 2):
                    return
            except Exception:  # a database hiccup must not end the socket; retry next time
                log.warning("cannot re-check a WebSocket's API key", exc_info=True)

    async def shutdown(self) -> None:
        if self.recheck_task is not None:
            self.recheck_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.recheck_task
        await super().shutdown()
