"""Persisted queries: Automatic Persisted Queries (APQ) and the allow-list mode.

A client sends ``extensions.persistedQuery = {"version": 1, "sha256Hash": H}`` (POST body, or
the ``extensions`` query parameter of a GET) instead of the query text:

- a hash this deployment knows runs its query (a GET of a query can then be cached by HTTP
  caches: see :mod:`leadgraph.web.view`);
- an unknown hash answers the error ``PersistedQueryNotFound`` (``extensions.code``
  ``PERSISTED_QUERY_NOT_FOUND``, HTTP 200, not cacheable), the Apollo convention: the client
  sends the query again with the hash, which registers it once it ran without a request error;
- a query whose SHA-256 is not the hash sent is refused (``BAD_REQUEST``,
  ``provided sha does not match query``), as is a version other than 1.

With ``LEADGRAPH_PERSISTED_ONLY=1`` only registered hashes run (``leadgraph persisted add``
registers a front end's queries at deploy): a query sent as text is refused with
``PERSISTED_QUERY_REQUIRED``, a registration with ``PERSISTED_QUERY_NOT_ALLOWED``.

Who may register, and how much (issue 16 point 5):

- a client's APQ registration needs an API key (any role: a read-only front end registers
  its queries too); a caller without one (the subscription centre's public operations) runs
  its query but registers nothing;
- a registered text is at most ``max_persisted_query_bytes`` UTF-8 bytes, comments and
  whitespace included (they are stored too): a longer one is refused before it runs with
  ``PERSISTED_QUERY_TOO_LARGE``;
- each API key registers at most ``max_persisted_queries_per_key`` queries (its quota,
  counted atomically across processes; a query already registered costs nothing): past it,
  ``PERSISTED_QUERY_QUOTA_EXCEEDED``, before it runs;
- ``leadgraph persisted add`` (the operator's deploy-time allow-list) is bounded by neither:
  whoever runs it holds the database.

Registered queries live in MongoDB (``store.persisted_queries``), so every server process
knows them; each process keeps the ones it used in a bounded in-memory LRU cache.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError
from pymongo.asynchronous.database import AsyncDatabase

from ..store import persisted_queries as store
from .auth import PUBLIC_ROLE, Principal

if TYPE_CHECKING:
    from ..config import Settings

NOT_FOUND = "PersistedQueryNotFound"  # the message Apollo clients look for
SHA256 = re.compile(r"[0-9a-fA-F]{64}")
# Apollo's answer to a miss: never cached, so a registration is seen at once
NOT_FOUND_HEADERS = {"Cache-Control": "private, no-cache, must-revalidate"}


class PersistedQueryError(Exception):
    """A persisted-query request refused before anything ran (a typed GraphQL error)."""

    def __init__(
        self, message: str, code: str, status: int = 400, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message, self.code, self.status, self.headers = message, code, status, headers


@dataclass(frozen=True)
class Registrar:
    """Who asks to register (their API key's id; None: a caller without a key) and the limits
    that apply (from the settings)."""

    key_id: str | None
    max_bytes: int
    quota: int

    @classmethod
    def of(cls, principal: Principal | None, settings: Settings) -> Registrar:
        key_id = principal.key_id if principal is not None else None
        if principal is not None and principal.role == PUBLIC_ROLE:
            key_id = None  # the subscription centre's callers: per address, not a key
        return cls(
            key_id, settings.max_persisted_query_bytes, settings.max_persisted_queries_per_key
        )


class PersistedQueries:
    """What the process knows about persisted queries: the mode and a cache of the store."""

    def __init__(self, persisted_only: bool = False, cache_size: int = 4096) -> None:
        self.persisted_only = persisted_only
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[str, str], str] = OrderedDict()

    async def lookup(self, db: AsyncDatabase, sha256: str) -> str | None:
        """The query registered under ``sha256`` (cached per database)."""
        key = (db.name, sha256)
        query = self._cache.get(key)
        if query is not None:
            self._cache.move_to_end(key)
            return query
        query = await store.get(db, sha256)
        if query is not None:
            self._remember(key, query)
        return query

    def _remember(self, key: tuple[str, str], query: str) -> None:
        self._cache[key] = query
        self._cache.move_to_end(key)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    async def resolve(
        self,
        db: AsyncDatabase,
        query: str | None,
        extensions: dict[str, Any] | None,
        registrar: Registrar | None = None,
    ) -> tuple[str | None, str | None]:
        """``(query to run, query to register once it ran)`` for a request; raises
        :class:`PersistedQueryError` for a miss, a mismatch, what the mode refuses and a
        registration over the size or the caller's quota (``registrar``; None: no key)."""
        persisted = (extensions or {}).get("persistedQuery")
        if persisted is None:
            if self.persisted_only and query is not None:
                raise PersistedQueryError(
                    "this server runs persisted queries only: send "
                    "extensions.persistedQuery.sha256Hash of a registered query",
                    "PERSISTED_QUERY_REQUIRED",
                )
            return query, None
        if not isinstance(persisted, dict) or persisted.get("version") != 1:
            raise PersistedQueryError("Unsupported persisted query version", "BAD_REQUEST")
        sha256 = persisted.get("sha256Hash")
        if not isinstance(sha256, str) or not SHA256.fullmatch(sha256):
            raise PersistedQueryError(
                "extensions.persistedQuery.sha256Hash must be 64 hexadecimal digits",
                "BAD_REQUEST",
            )
        sha256 = sha256.lower()
        if query is None:
            known = await self.lookup(db, sha256)
            if known is None:
                raise PersistedQueryError(
                    NOT_FOUND, "PERSISTED_QUERY_NOT_FOUND", 200, dict(NOT_FOUND_HEADERS)
                )
            return known, None
        if store.query_hash(query) != sha256:
            raise PersistedQueryError("provided sha does not match query", "BAD_REQUEST")
        if await self.lookup(db, sha256) is not None:
            return query, None
        if self.persisted_only:
            raise PersistedQueryError(
                "this query is not on the allow-list, and clients cannot register queries "
                "here (LEADGRAPH_PERSISTED_ONLY): register it with `leadgraph persisted add`",
                "PERSISTED_QUERY_NOT_ALLOWED",
            )
        if registrar is None or registrar.key_id is None:
            return query, None  # runs, registers nothing: registering needs an API key
        await self._check_limits(db, query, registrar)
        return query, query

    @staticmethod
    async def _check_limits(db: AsyncDatabase, query: str, registrar: Registrar) -> None:
        size = len(query.encode())
        if size > registrar.max_bytes:
            raise PersistedQueryError(
                f"a persisted query is at most {registrar.max_bytes} bytes, comments and "
                f"whitespace included; this one has {size} (LEADGRAPH_MAX_PERSISTED_QUERY_BYTES)",
                "PERSISTED_QUERY_TOO_LARGE",
            )
        assert registrar.key_id is not None
        if await store.registered_count(db, registrar.key_id) >= registrar.quota:
            raise PersistedQueryError(
                quota_message(registrar.quota), "PERSISTED_QUERY_QUOTA_EXCEEDED"
            )

    async def register(self, db: AsyncDatabase, query: str, registrar: Registrar) -> bool:
        """Store a query a client sent with its hash (after it ran without a request error),
        within its key's quota; False when a concurrent registration took the last slot (the
        query ran; it is not stored)."""
        assert registrar.key_id is not None
        outcome = await store.add_within_quota(db, query, registrar.key_id, registrar.quota)
        if outcome == "quota":
            return False
        self._remember((db.name, store.query_hash(query)), query)
        return True


def quota_message(quota: int) -> str:
    return (
        f"this API key has registered its {quota} persisted queries "
        "(LEADGRAPH_MAX_PERSISTED_QUERIES_PER_KEY): send the query as text, or have the "
        "operator register it with `leadgraph persisted add`"
    )


def read_queries(path: Path) -> list[tuple[str, str | None]]:
    """The queries a file holds, as ``(query, name)``: a ``.graphql``/``.gql`` file is one
    document (all its operations, registered as one text); a ``.json`` file is an Apollo
    persisted query manifest (``{"format": "apollo-persisted-query-manifest", "operations":
    [{"id", "body", "name"}]}``) or a map of hash to query (Relay's output).  Every query must
    parse and validate against the schema and, where the file gives one, match its hash.
    Raises ValueError naming the file and the entry otherwise."""
    from graphql import OperationDefinitionNode, parse, validate

    from .schema import schema

    text = path.read_text(encoding="utf-8")
    entries: list[tuple[str, str | None]] = []  # (query, the hash the file claims)
    if path.suffix.lower() == ".json":
        data = json.loads(text)
        if isinstance(data, dict) and isinstance(data.get("operations"), list):
            for op in data["operations"]:
                if not isinstance(op, dict) or not isinstance(op.get("body"), str):
                    raise ValueError(f"{path}: every operation needs a 'body' string")
                entries.append((op["body"], op.get("id")))
        elif isinstance(data, dict) and all(isinstance(v, str) for v in data.values()):
            entries.extend((query, sha) for sha, query in data.items())
        else:
            raise ValueError(
                f"{path}: expected an Apollo persisted query manifest or a map of hash to query"
            )
    else:
        entries.append((text, None))
    out: list[tuple[str, str | None]] = []
    for query, claimed in entries:
        sha = store.query_hash(query)
        if claimed is not None:
            _check_claim(path, str(claimed), sha)
        try:
            document = parse(query)
        except GraphQLError as exc:
            raise ValueError(f"{path}: query {sha[:12]}: {exc.message}") from None
        problems = validate(schema._schema, document)
        if problems:
            raise ValueError(f"{path}: query {sha[:12]}: {problems[0].message}")
        names = [
            d.name.value
            for d in document.definitions
            if isinstance(d, OperationDefinitionNode) and d.name is not None
        ]
        out.append((query, ", ".join(names) or None))
    return out


def _check_claim(path: Path, claimed: str, sha: str) -> None:
    """A file's id for a query must be its SHA-256 (``sha256:`` before it allowed, as
    GraphQL over HTTP's document ids); Relay's MD5 or SHA-1 ids are named as such."""
    bare = claimed.lower().removeprefix("sha256:")
    if bare == sha:
        return
    if re.fullmatch(r"[0-9a-f]{32}|[0-9a-f]{40}", bare):
        raise ValueError(
            f"{path}: {claimed} looks like an MD5 or SHA-1 id: leadgraph names documents by "
            "SHA-256 (Relay: persistConfig.algorithm 'SHA256')"
        )
    raise ValueError(f"{path}: {claimed} is not the SHA-256 of its query ({sha})")
