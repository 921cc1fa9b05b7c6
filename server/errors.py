"""Errors a client can act on, as plain Python exceptions (no GraphQL here).

Services, store and web raise :class:`UserError` subclasses; each carries a ``code`` and the
``extensions`` a GraphQL error shows.  The api layer (:mod:`leadgraph.api.errors`) maps them to
the typed GraphQL error objects of a mutation's result union ("errors as data"); a query's
surfaces as a GraphQL error with those extensions.  Nothing here ever reaches the client as a
stack trace.
"""

from __future__ import annotations

from typing import Any

from .contracts import PluginFailure


class UserError(Exception):
    """Base of the errors raised for the client (by services, store, web or resolvers)."""

    code = "BAD_REQUEST"

    @property
    def extensions(self) -> dict[str, Any]:
        """Read by graphql-core when the error surfaces as a GraphQL error (queries)."""
        return {"code": self.code}


class InvalidInput(UserError):
    code = "BAD_USER_INPUT"

    @property
    def extensions(self) -> dict[str, Any]:
        return {"code": self.code, "fields": [{"field": f, "message": m} for f, m in self.errors]}

    def __init__(self, errors: list[tuple[str, str]] | str, message: str | None = None) -> None:
        if isinstance(errors, str):
            errors = [(errors, message or "is invalid")]
        self.errors = errors
        super().__init__("; ".join(f"{f}: {m}" for f, m in errors))


class NotFound(UserError):
    code = "NOT_FOUND"

    def __init__(self, kind: str, id: str) -> None:
        self.kind, self.id = kind, id
        super().__init__(f"{kind} {id} does not exist")


class Forbidden(UserError):
    code = "FORBIDDEN"

    def __init__(self, permission: str, role: str) -> None:
        self.permission, self.role = permission, role
        super().__init__(f"role {role!r} may not {permission}")


class Conflict(UserError):
    code = "CONFLICT"


class InvalidToken(UserError):
    """A subscription-centre token that is forged, altered, expired or names nobody."""

    code = "INVALID_TOKEN"

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)

    @property
    def extensions(self) -> dict[str, Any]:
        return {"code": self.code, "reason": self.reason}


class PluginFailed(UserError):
    """A plugin failed and the operation could not be completed (nothing else was lost)."""

    code = "PLUGIN_ERROR"

    def __init__(self, failure: PluginFailure) -> None:
        self.failure = failure
        super().__init__(f"plugin {failure.plugin!r}: {failure.hook} raised {failure.message}")

    @property
    def extensions(self) -> dict[str, Any]:
        return {"code": self.code, **self.failure.as_document()}
