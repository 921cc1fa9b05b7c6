"""GraphQL error types ("errors as data") and the mapping of the domain exceptions of
:mod:`leadgraph.errors` onto them.

Resolvers of mutations are wrapped in :func:`errors_as_data`: a raised
:class:`~leadgraph.errors.UserError` is returned as its GraphQL type (:func:`as_graphql`, by the
first class along the exception's MRO that has a mapping) instead of a GraphQL error.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

import strawberry

from ..contracts import PluginFailure
from ..errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    InvalidToken,
    NotFound,
    PluginFailed,
    UserError,
)
from ..services.segment_records import SegmentCycle, SegmentUnusable


@strawberry.interface(description="An error a client can act on.")
class Error:
    message: str = strawberry.field(
        description="What went wrong, as a sentence for a person (English; wording may change: "
        "branch on `code`)."
    )
    code: str = strawberry.field(
        description="Stable machine-readable reason, e.g. `BAD_USER_INPUT`, `NOT_FOUND`, "
        "`FORBIDDEN`, `CONFLICT`."
    )


@strawberry.type(description="One invalid input field.")
class FieldError:
    field: str = strawberry.field(description="Path of the input field, e.g. `input.email`.")
    message: str = strawberry.field(description="What is wrong with that field's value.")


@strawberry.type(description="The input was rejected; nothing was written.")
class ValidationError(Error):
    field: str | None = strawberry.field(description="The first offending input field.")
    fields: list[FieldError] = strawberry.field(
        description="Every offending input field with its own message (at least one)."
    )


@strawberry.type(description="A referenced record does not exist.")
class NotFoundError(Error):
    id: str = strawberry.field(
        description="The id that matched nothing, as it was given (a global id or a name)."
    )


@strawberry.type(description="The caller's role does not grant this operation.")
class ForbiddenError(Error):
    permission: str = strawberry.field(
        description="The permission the operation needs, e.g. `leads:write`."
    )
    role: str = strawberry.field(
        description="The role of the API key that called (`admin`, `marketer`, `sales`, "
        "`read-only`)."
    )


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
    reason: str = strawberry.field(
        description="`INVALID` (forged, altered or its contact is gone) or `EXPIRED`."
    )


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


F = TypeVar("F", bound=Callable[..., Error])
_MAPPINGS: dict[type[UserError], Callable[[Any], Error]] = {}


def maps(kind: type[UserError]) -> Callable[[F], F]:
    """Register the GraphQL type of the domain error ``kind`` (and of its subclasses)."""

    def register(fn: F) -> F:
        _MAPPINGS[kind] = fn
        return fn

    return register


def as_graphql(exc: UserError) -> Error:
    """The GraphQL error object of a domain error (one without a mapping is raised again, to
    surface as a GraphQL error with its extensions)."""
    for kind in type(exc).__mro__:
        fn = _MAPPINGS.get(kind)
        if fn is not None:
            return fn(exc)
    raise exc


@maps(InvalidInput)
def _invalid(exc: InvalidInput) -> ValidationError:
    return ValidationError(
        message=str(exc),
        code="BAD_USER_INPUT",
        field=exc.errors[0][0] if exc.errors else None,
        fields=[FieldError(field=f, message=m) for f, m in exc.errors],
    )


@maps(NotFound)
def _not_found(exc: NotFound) -> NotFoundError:
    return NotFoundError(message=str(exc), code="NOT_FOUND", id=exc.id)


@maps(Forbidden)
def _forbidden(exc: Forbidden) -> ForbiddenError:
    return ForbiddenError(
        message=str(exc), code="FORBIDDEN", permission=exc.permission, role=exc.role
    )


@maps(Conflict)
def _conflict(exc: Conflict) -> ConflictError:
    return ConflictError(message=str(exc), code="CONFLICT")


@maps(InvalidToken)
def _invalid_token(exc: InvalidToken) -> InvalidTokenError:
    return InvalidTokenError(message=str(exc), code=exc.code, reason=exc.reason)


@maps(PluginFailed)
def _plugin_failed(exc: PluginFailed) -> PluginErrorType:
    return PluginErrorType.of(exc.failure)


@maps(SegmentCycle)
def _segment_cycle(exc: SegmentCycle) -> SegmentCycleError:
    return SegmentCycleError(message=str(exc), code=exc.code, cycle=exc.cycle)


@maps(SegmentUnusable)
def segment_error(exc: SegmentUnusable) -> SegmentError:
    return SegmentError(
        message=str(exc),
        code=exc.code,
        segment=exc.segment,
        fields=[FieldError(field=f, message=m) for f, m in exc.fields],
    )


P = ParamSpec("P")
R = TypeVar("R")


def errors_as_data(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Return a raised :class:`UserError` as its GraphQL type instead of a GraphQL error."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
        try:
            return await fn(*args, **kwargs)
        except UserError as exc:
            return as_graphql(exc)

    wrapper.__signature__ = inspect.signature(fn)  # type: ignore[attr-defined]
    return wrapper
