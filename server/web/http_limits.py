"""Limits on what an HTTP client may send, answered with a typed 4xx before GraphQL runs.

- :class:`RequestLimits` (ASGI middleware): a body larger than ``max_body_bytes`` is 413, a
  body not received within ``read_timeout`` seconds is 408; a JSON body (or GET ``variables`` /
  ``extensions``) that is not valid UTF-8 JSON, is nested deeper than ``max_json_depth``, or is
  not an object is 400 ``BAD_REQUEST``; a string holding a lone surrogate (``"\\ud800"``, which
  no database can store) is 400 ``BAD_USER_INPUT``.
- :func:`protocol_class`: uvicorn's h11 protocol with a deadline for the request line and
  headers (``header_timeout``): uvicorn itself waits for them forever (slowloris).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
from typing import Any
from urllib.parse import parse_qs

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from .media import error_response, response_media_type

log = logging.getLogger("leadgraph")

SURROGATE = re.compile("[\ud800-\udfff]")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class Rejected(Exception):
    """A request the limits refuse: status, message and ``extensions.code``."""

    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code

    def response(self, accept: str | None) -> Response:
        # The rest of an unread body is not drained: the connection is closed instead.
        headers = {"Connection": "close"} if self.status in (408, 413) else None
        return error_response(
            self.status, self.message, self.code, response_media_type(accept), headers
        )


# JSON (RFC 8259) has no NaN or Infinity, and a number too large for a double is no number the
# API can store: Python's json module accepts all three, so they are refused here.
MAX_INT_DIGITS = 100


class _NotJson(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _NotJson(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _NotJson(f"the number {text[:40]} is too large")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _NotJson(f"a number has more than {MAX_INT_DIGITS} digits")
    return int(text)


def check_json(text: str | bytes, max_depth: int, what: str = "the request body") -> Any:
    """Parse JSON the API accepts: valid UTF-8, at most ``max_depth`` deep, no lone surrogates."""
    try:
        value = json.loads(
            text, parse_constant=_no_constant, parse_float=_finite_float, parse_int=_bounded_int
        )
    except _NotJson as exc:
        raise Rejected(400, f"{what} is not valid JSON: {exc}", "BAD_REQUEST") from None
    except RecursionError:
        raise Rejected(400, f"{what} is nested too deeply", "BAD_REQUEST") from None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise Rejected(400, f"{what} is not valid JSON: {exc}", "BAD_REQUEST") from None
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if SURROGATE.search(item):
                raise Rejected(
                    400, f"{what} holds a string with a lone UTF-16 surrogate", "BAD_USER_INPUT"
                )
            continue
        if not isinstance(item, dict | list):
            continue
        if depth > max_depth:
            raise Rejected(400, f"{what} is nested deeper than {max_depth}", "BAD_REQUEST")
        children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children)
    return value


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


class RequestLimits:
    """ASGI middleware applying the limits above to every HTTP request."""

    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, read_timeout: float, max_json_depth: int
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.read_timeout = read_timeout
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            if scope["method"] in BODY_METHODS:
                body = await self.read_body(scope, receive)
                if _is_json(_header(scope, b"content-type")):
                    value = check_json(body, self.max_json_depth)
                    if not isinstance(value, dict | list):  # an array is a batch (web/batch)
                        raise Rejected(
                            400,
                            "the request body must be a JSON object (or an array of them)",
                            "BAD_REQUEST",
                        )
                receive = _replay(body, receive)
            else:
                query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
                for name in ("variables", "extensions"):
                    for text in query.get(name, ()):
                        check_json(text, self.max_json_depth, f"the {name} parameter")
        except Rejected as exc:  # the client's doing: one INFO line, no traceback
            log.info(
                "refused %s %s: %d %s: %s",
                scope["method"],
                scope.get("path", ""),
                exc.status,
                exc.code,
                exc.message,
            )
            await exc.response(_header(scope, b"accept"))(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def read_body(self, scope: Scope, receive: Receive) -> bytes:
        """The whole body, or :class:`Rejected` (413 too large, 408 too slow)."""
        too_large = Rejected(
            413, f"the request body is larger than {self.max_body_bytes} bytes", "BAD_REQUEST"
        )
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            raise too_large
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.read_timeout):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        break
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > self.max_body_bytes:
                        raise too_large
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            raise Rejected(
                408,
                f"the request body was not received within {self.read_timeout:g} s",
                "REQUEST_TIMEOUT",
            ) from None
        return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body already read, then the server's messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def protocol_class(header_timeout: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol, closing connections whose request headers take too long.

    The deadline runs from the connection's opening (and from the end of each response on a
    kept-alive connection) to the end of the next request's headers; a client that misses it
    gets ``408`` and the connection is closed.
    """

    class HeaderTimeoutH11Protocol(H11Protocol):
        _header_deadline: asyncio.TimerHandle | None = None
        _waiting_for: Any = None  # the headers of the last request (a new list per request)

        def _arm(self) -> None:
            if self._header_deadline is None:
                self._header_deadline = self.loop.call_later(header_timeout, self._headers_late)

        def _disarm(self) -> None:
            if self._header_deadline is not None:
                self._header_deadline.cancel()
                self._header_deadline = None

        def _headers_late(self) -> None:
            self._header_deadline = None
            if self.headers is self._waiting_for and not self.transport.is_closing():
                self.transport.write(
                    b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n"
                    b"connection: close\r\n\r\n"
                )
                self.transport.close()

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._waiting_for = self.headers
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.headers is self._waiting_for:
                self._arm()  # part of a request: its headers are due within the deadline
            else:
                self._disarm()  # the headers arrived (or the connection was upgraded)

        def on_response_complete(self) -> None:
            # Waiting idle for the next request is uvicorn's keep-alive timeout; the deadline
            # starts again with the first bytes of that request.
            self._disarm()
            self._waiting_for = self.headers
            super().on_response_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return HeaderTimeoutH11Protocol


def uvicorn_options(header_timeout: float) -> dict[str, Any]:
    """The uvicorn settings ``leadgraph serve`` runs with (limits on connections and headers)."""
    return {
        "http": protocol_class(header_timeout),
        "h11_max_incomplete_event_size": 16 * 1024,  # request line + headers; more: 400
        "timeout_keep_alive": 5,  # an idle kept-alive connection is closed after 5 s
    }
