"""Cross-origin requests (``LEADGRAPH_CORS_ORIGINS``): browser apps served from other origins.

Only the configured origins (exact ``scheme://host[:port]`` values, none by default) are
handed to Starlette's :class:`~starlette.middleware.cors.CORSMiddleware`: their preflight
(``OPTIONS`` with ``Access-Control-Request-Method``) is answered, allowing ``GET`` and
``POST`` with the ``Authorization`` and ``Content-Type`` headers, and their answers carry
``Access-Control-Allow-Origin``.  A request from any other origin (or without ``Origin``) goes
to the app untouched, so it gets no CORS header at all (an ``OPTIONS`` there is the view's
405 with a JSON error body).  Keys travel in ``Authorization``, never in cookies: no
credentials mode is needed or allowed.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

ALLOWED_HEADERS = ("Authorization", "Content-Type")
ALLOWED_METHODS = ("GET", "POST")
EXPOSED_HEADERS = ("ETag", "Retry-After", "WWW-Authenticate")


class Cors:
    """ASGI middleware: :class:`CORSMiddleware` for the configured origins, nothing else."""

    def __init__(self, app: ASGIApp, *, origins: Iterable[str]) -> None:
        self.app = app
        self.origins = frozenset(origins)
        self.cors = CORSMiddleware(
            app,
            allow_origins=sorted(self.origins),
            allow_methods=ALLOWED_METHODS,
            allow_headers=ALLOWED_HEADERS,
            expose_headers=EXPOSED_HEADERS,
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.origins:
            for name, value in scope.get("headers", ()):
                if name == b"origin":
                    if value.decode("latin-1").lower() in self.origins:
                        await self.cors(scope, receive, send)
                        return
                    break
        await self.app(scope, receive, send)
