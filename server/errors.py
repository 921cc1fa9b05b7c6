"""Errors a client can act on, returned as typed GraphQL objects ("errors as data").

Resolvers raise :class:`UserError` subclasses; :func:`errors_as_data` turns them into the
matching GraphQL type of the mutation's result union.  Nothing here ever reaches the client as
a stack trace.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

import strawberry

from .contracts import PluginFailure


@strawberry.interface(description="An error a client can act on.")
class Error:
    message: str
    code: str


@strawberry.type(description="One invalid input field.")
class FieldError:
    field: str = strawberry.field(description="Path of the input field, e.g. `input.email`.")
    message: str


@strawberry.type(description="The input was rejected; nothing was written.")
class ValidationError(Error):
    field: str | None = strawberry.field(description="The first offending input field.")
    fields: list[FieldError]


@strawberry.type(description="A referenced record does not exist.")
class NotFoundError(Error):
    id: str


@strawberry.type(description="The caller's role does not grant this operation.")
class ForbiddenError(Error):
    permission: str
    role: str


@strawberry.type(description="The operation conflicts with the current state of the data.")
class ConflictError(Error):
    pass


@strawberry.type(description="A compound segment would include or exclude itself.")
class SegmentCycleError(Error):
    cycle: list[str] = strawberry.field(description="The names on the cycle, first = last.")


@strawberry.type(
    description="A segment whose members cannot be computed: `SEGMENT_INVALID` (its stored "
    "definition is not valid now: stored by an older version, or the rules or plugins changed "
    "since; `fields` say where, fix it with updateSegment) or `SEGMENT_EVALUATION_FAILED` (it "
    "failed when run, e.g. a plugin operator raised; the server log has the details)."
)
class SegmentError(Error):
    segment: str = strawberry.field(description="The segment that cannot be evaluated.")
    fields: list[FieldError] = strawberry.field(
        description="What is wrong with its definition, e.g. `where.all.0.value.0`."
    )


@strawberry.type(
    description="A subscription-centre link that is not honoured: `reason` is `INVALID` "
    "(forged, altered, or its contact no longer exists) or `EXPIRED`."
)
class InvalidTokenError(Error):
    reason: str


@strawberry.type(
    name="PluginError",
    description="A plugin failed. What the caller sent was stored; derived data the plugin "
    "could not compute (scores, stages) is left as it was and marked stale (`Lead.scoreError`).",
)
class PluginErrorType(Error):
    plugin: str = strawberry.field(description="The plugin's registered name.")
    hook: str = strawberry.field(description="What of the plugin failed: a hook or a kind.")

    @classmethod
    def of(cls, failure: PluginFailure) -> PluginErrorType:
        return cls(
            message=f"plugin {failure.plugin!r}: {failure.hook} raised {failure.message}",
            code="PLUGIN_ERROR",
            plugin=failure.plugin,
            hook=failure.hook,
        )


def plugin_errors(failures: list[PluginFailure]) -> list[PluginErrorType]:
    return [PluginErrorType.of(f) for f in dict.fromkeys(failures)]


class UserError(Exception):
    """Base of the errors resolvers raise for the client."""

    code = "BAD_REQUEST"

    @property
    def extensions(self) -> dict[str, Any]:
        """Read by graphql-core when the error surfaces as a GraphQL error (queries)."""
        return {"code": self.code}

    def to_graphql(self) -> Error:  # pragma: no cover - abstract
        raise NotImplementedError


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

    def to_graphql(self) -> ValidationError:
        return ValidationError(
            message=str(self),
            code="BAD_USER_INPUT",
            field=self.errors[0][0] if self.errors else None,
            fields=[FieldError(field=f, message=m) for f, m in self.errors],
        )


class NotFound(UserError):
    code = "NOT_FOUND"

    def __init__(self, kind: str, id: str) -> None:
        self.kind, self.id = kind, id
        super().__init__(f"{kind} {id} does not exist")

    def to_graphql(self) -> NotFoundError:
        return NotFoundError(message=str(self), code="NOT_FOUND", id=self.id)


class Forbidden(UserError):
    code = "FORBIDDEN"

    def __init__(self, permission: str, role: str) -> None:
        self.permission, self.role = permission, role
        super().__init__(f"role {role!r} may not {permission}")

    def to_graphql(self) -> ForbiddenError:
        return ForbiddenError(
            message=str(self), code="FORBIDDEN", permission=self.permission, role=self.role
        )


class Conflict(UserError):
    code = "CONFLICT"

    def to_graphql(self) -> ConflictError:
        return ConflictError(message=str(self), code="CONFLICT")


class InvalidToken(UserError):
    """A subscription-centre token that is forged, altered, expired or names nobody."""

    code = "INVALID_TOKEN"

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)

    @property
    def extensions(self) -> dict[str, Any]:
        return {"code": self.code, "reason": self.reason}

    def to_graphql(self) -> InvalidTokenError:
        return InvalidTokenError(message=str(self), code=self.code, reason=self.reason)


class PluginFailed(UserError):
    """A plugin failed and the operation could not be completed (nothing else was lost)."""

    code = "PLUGIN_ERROR"

    def __init__(self, failure: PluginFailure) -> None:
        self.failure = failure
        super().__init__(f"plugin {failure.plugin!r}: {failure.hook} raised {failure.message}")

    @property
    def extensions(self) -> dict[str, Any]:
        return {"code": self.code, **self.failure.as_document()}

    def to_graphql(self) -> PluginErrorType:
        return PluginErrorType.of(self.failure)


P = ParamSpec("P")
R = TypeVar("R")


def errors_as_data(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Return a raised :class:`UserError` as its GraphQL type instead of a GraphQL error."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
        try:
            return await fn(*args, **kwargs)
        except UserError as exc:
            return exc.to_graphql()

    wrapper.__signature__ = inspect.signature(fn)  # type: ignore[attr-defined]
    return wrapper
