"""Media types, the error bodies every refusal shares, and the GraphiQL page's policy.

- :func:`response_media_type`: ``application/graphql-response+json`` when the Accept header
  prefers it, ``application/json`` otherwise; :func:`acceptable`: whether it admits either
  (not: 406).
- :func:`error_response`: ``{"errors": [{"message", "extensions": {"code"}}]}`` with the
  status's headers (401 ``WWW-Authenticate``, 503 ``Retry-After``).
- :data:`GRAPHIQL_CSP`: the Content-Security-Policy of the GraphiQL page, whose assets are
  the package's own (``static/graphiql``, see its ``manifest.json``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.responses import JSONResponse, Response

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
RETRY_AFTER = "5"  # seconds a client should wait before retrying a 503


STATIC = Path(__file__).parent / "static"
GRAPHIQL_ASSETS = STATIC / "graphiql"
# The GraphiQL page runs only the package's own files: no CDN, no inline script or style
# (React sets styles through the CSSOM, which style-src does not govern); the editor's fonts
# and icons are data: URLs inside graphiql.min.css; queries and subscriptions go to this origin.
GRAPHIQL_CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "font-src 'self' data:",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
ACCEPTABLE = frozenset({GRAPHQL_RESPONSE, JSON, "application/*", "*/*"})


def _media_ranges(accept: str) -> list[tuple[str, float]]:
    """The ``(media range, q)`` pairs of an Accept header (an unreadable q counts as 0)."""
    ranges = []
    for part in accept.split(","):
        kind, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        ranges.append((kind.strip().lower(), q))
    return ranges


def acceptable(accept: str | None) -> bool:
    """Whether an Accept header (absent: anything) admits one of the media types we answer
    in; when it does not, GraphQL over HTTP allows a 406 Not Acceptable."""
    if not accept or not accept.strip():
        return True
    return any(kind in ACCEPTABLE and q > 0 for kind, q in _media_ranges(accept))


def response_media_type(accept: str | None) -> str:
    """Pick the response media type from an Accept header (graphql-response+json preferred)."""
    if not accept:
        return JSON
    best, best_q = None, -1.0
    for kind, q in _media_ranges(accept):
        if kind in ACCEPTABLE and q > best_q:
            best, best_q = kind, q
        elif kind == GRAPHQL_RESPONSE and q == best_q:
            best = kind
    return GRAPHQL_RESPONSE if best == GRAPHQL_RESPONSE else JSON


def error_response(
    status: int,
    message: str,
    code: str,
    media_type: str = JSON,
    headers: dict[str, str] | None = None,
) -> Response:
    extensions: dict[str, Any] = {"code": code}
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": 'Bearer realm="leadgraph"'}
    if status == 503:
        headers = {**(headers or {}), "Retry-After": RETRY_AFTER}
        extensions["retryable"] = True
    return JSONResponse(
        {"errors": [{"message": message, "extensions": extensions}]},
        status_code=status,
        media_type=media_type,
        headers=headers,
    )
