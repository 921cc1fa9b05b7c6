"""Incremental delivery (``@defer``, ``@stream``) over HTTP, behind
``LEADGRAPH_INCREMENTAL_DELIVERY=1`` (off by default; docs/performance.md "Incremental delivery"
says what it was measured to do for the README's nested page).

With the setting on, the schema carries strawberry's experimental ``@defer`` and ``@stream``
directives and executes with graphql-core's incremental executor; an operation that defers
something is answered as ``multipart/mixed`` (the initial result, then one part per delivered
fragment or batch of items, ``hasNext`` false on the last).  strawberry's own handling is kept
except where it falls short of the rest of the endpoint:

- the parts after the first carry the errors of deferred fields: each is logged once by whose
  fault it is and masked like every other error (:func:`leadgraph.web.schema.log_error`,
  ``MaskInternalErrors``), which strawberry only does for the first part;
- deferred work runs after the request's operation has "ended" for the schema extensions, so
  the request deadline (``LEADGRAPH_REQUEST_DEADLINE``) is kept here: at the deadline the
  remaining fragments are completed with a ``REQUEST_TIMEOUT`` error in one last part;
- an operation using the directives is refused, before it runs, inside a JSON-array batch (an
  array of answers has no room for parts) and from a client whose ``Accept`` does not admit
  ``multipart/mixed`` (a request error, code ``NOT_ACCEPTABLE``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any

from graphql import DirectiveNode, GraphQLError, Visitor, parse, visit
from graphql.execution import (
    CompletedResult,
    ExperimentalIncrementalExecutionResults,
    SubsequentIncrementalExecutionResult,
)

from .validation import DeadlineExceeded

DIRECTIVES = frozenset({"defer", "stream"})
MULTIPART = "multipart/mixed"


class _Finder(Visitor):
    found = False

    def enter_directive(self, node: DirectiveNode, *_args: Any) -> Any:
        if node.name.value in DIRECTIVES:
            self.found = True
            return Visitor.BREAK
        return None


def uses_incremental(query: object, max_tokens: int) -> bool:
    """Whether a document uses ``@defer`` or ``@stream`` (a document that does not parse does
    not: its syntax error is answered as usual)."""
    if not isinstance(query, str) or not ("@defer" in query or "@stream" in query):
        return False
    try:
        document = parse(query, max_tokens=max_tokens)
    except GraphQLError:
        return False
    finder = _Finder()
    visit(document, finder)
    return finder.found


def accepts_multipart(accept: str | None) -> bool:
    """Whether an ``Accept`` header admits ``multipart/mixed`` (``*/*`` does)."""
    for item in (accept or "").split(","):
        kind, *params = (p.strip().lower() for p in item.split(";"))
        refused = any(p.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for p in params)
        if kind in (MULTIPART, "multipart/*", "*/*") and not refused:
            return True
    return False


def refusal(
    query: object, in_batch: bool, accept: str | None, max_tokens: int
) -> GraphQLError | None:
    """The request error answered instead of running an operation that uses ``@defer`` or
    ``@stream`` where its parts cannot be sent (None: run it)."""
    if not uses_incremental(query, max_tokens):
        return None
    if in_batch:
        message = "@defer and @stream are not answered inside a batch: send the operation alone"
        return GraphQLError(message, extensions={"code": "BAD_REQUEST"})
    if not accepts_multipart(accept):
        message = f"@defer and @stream are answered in parts: send Accept: {MULTIPART}"
        return GraphQLError(message, extensions={"code": "NOT_ACCEPTABLE"})
    return None


Errors = list[GraphQLError]


def guarded(
    result: ExperimentalIncrementalExecutionResults,
    mask: Callable[[Errors], Errors],
    codes: Callable[[Errors], None],
    log: Callable[[GraphQLError], None],
    deadline: tuple[float, float] | None,
) -> ExperimentalIncrementalExecutionResults:
    """``result`` whose later parts have their errors logged (``log``), masked (``mask``) and
    given their ``extensions.code`` (``codes``) as the first part's are, and which ends at
    ``deadline`` (monotonic time, its length in seconds) with the fragments still pending
    completed by a ``REQUEST_TIMEOUT`` error."""

    def finish(errors: Errors) -> Errors:
        for error in errors:
            log(error)
        masked = mask(errors)
        codes(masked)
        return masked

    pending = {p.id for p in result.initial_result.pending}
    return ExperimentalIncrementalExecutionResults(
        initial_result=result.initial_result,
        subsequent_results=_parts(result.subsequent_results, pending, finish, deadline),
    )


async def _parts(
    source: AsyncGenerator[SubsequentIncrementalExecutionResult, None],
    pending: set[str],
    finish: Callable[[Errors], Errors],
    deadline: tuple[float, float] | None,
) -> AsyncGenerator[SubsequentIncrementalExecutionResult, None]:
    try:
        while True:
            try:
                if deadline is None:
                    part = await anext(source)
                else:
                    async with asyncio.timeout(deadline[0] - time.monotonic()):
                        part = await anext(source)
            except StopAsyncIteration:
                return
            except TimeoutError:
                late = [DeadlineExceeded(deadline[1])] if deadline else []
                yield SubsequentIncrementalExecutionResult(
                    has_next=False,
                    completed=[CompletedResult(id_, errors=list(late)) for id_ in sorted(pending)],
                )
                return
            pending.update(p.id for p in part.pending or ())
            pending.difference_update(c.id for c in part.completed or ())
            for piece in [*(part.incremental or ()), *(part.completed or ())]:
                if piece.errors:
                    piece.errors = finish(piece.errors)
            yield part
    finally:
        await source.aclose()
