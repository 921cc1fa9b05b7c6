"""Persisted documents by id (GraphQL over HTTP): ``{"documentId": "sha256:<hex>"}``.

Besides Automatic Persisted Queries (:mod:`leadgraph.web.persisted`), a client may send the
id of a registered document instead of its text: ``documentId`` in a POST body (a batch's
elements included) or as a GET parameter, ``sha256:`` and the 64 hexadecimal digits of the
document's SHA-256 (the bare 64 digits too, as Relay's persisted map keys them).  The
documents are the ones ``leadgraph persisted add`` registered (or APQ did): ids are never
registered by a request.  An unknown id is ``PERSISTED_DOCUMENT_NOT_FOUND`` (400); an id that
is no SHA-256 id, or sent with a query text or an APQ hash, is ``BAD_REQUEST``.  It runs in
``LEADGRAPH_PERSISTED_ONLY`` mode too, and a GET by id is cacheable like a persisted GET.
"""

from __future__ import annotations

import re
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from .persisted import PersistedQueries, PersistedQueryError

DOCUMENT_ID = "documentId"
SHA256_ID = re.compile(r"(?:sha256:)?([0-9a-fA-F]{64})")


def lift(data: dict[str, Any]) -> dict[str, Any]:
    """A request (POST body, batch element or GET parameters) whose top-level ``documentId``
    travels in its extensions, where :func:`resolve` reads it."""
    if DOCUMENT_ID not in data:
        return data
    extensions = data.get("extensions")
    if extensions is not None and not isinstance(extensions, dict):
        return data  # refused as any request whose extensions are no object
    return {**data, "extensions": {**(extensions or {}), DOCUMENT_ID: data[DOCUMENT_ID]}}


def sha256_of(document_id: Any) -> str | None:
    """The SHA-256 a document id names (lower case), or None when it names none."""
    match = SHA256_ID.fullmatch(document_id) if isinstance(document_id, str) else None
    return match.group(1).lower() if match else None


async def resolve(
    persisted: PersistedQueries,
    db: AsyncDatabase,
    query: str | None,
    extensions: dict[str, Any] | None,
) -> str | None:
    """The registered text a request's ``documentId`` names; None for a request without one.
    Raises :class:`PersistedQueryError` for an unknown, malformed or doubled id."""
    document_id = (extensions or {}).get(DOCUMENT_ID)
    if document_id is None:
        return None
    if query is not None or "persistedQuery" in (extensions or {}):
        raise PersistedQueryError(
            "send a documentId, a query or extensions.persistedQuery: one of them",
            "BAD_REQUEST",
        )
    sha256 = sha256_of(document_id)
    if sha256 is None:
        raise PersistedQueryError(
            "documentId must be 'sha256:' and the 64 hexadecimal digits of the document's SHA-256",
            "BAD_REQUEST",
        )
    text = await persisted.lookup(db, sha256)
    if text is None:
        raise PersistedQueryError(
            f"no persisted document has the id {document_id}: register it with "
            "`leadgraph persisted add`",
            "PERSISTED_DOCUMENT_NOT_FOUND",
        )
    return text
