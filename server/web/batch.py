"""Batched requests: a JSON array body of operations (Apollo's ``BatchHttpLink``, urql).

- At most ``max_batch`` operations (``LEADGRAPH_MAX_BATCH``, default 10); more, or none, is a
  400 (``BATCH_TOO_LARGE`` / ``BAD_REQUEST``) before anything runs.  The body as a whole is
  bounded like any other (``LEADGRAPH_MAX_BODY_BYTES``, 413).
- Each element is checked like a single request (an object; ``query`` and ``operationName``
  strings, ``variables`` and ``extensions`` objects, when given): a bad one gets its own error
  entry (``BAD_REQUEST``) in the answer and the others still run.
- They run one after another, in order, and the answer is an array in the same order.  Their
  costs add up against one budget (``LEADGRAPH_MAX_QUERY_COST``: the operation that would
  pass it answers ``COST_LIMIT_EXCEEDED``) and each is charged to the key's rate limit; they
  share one deadline (``LEADGRAPH_REQUEST_DEADLINE``); each gets fresh DataLoaders, so a
  query after a mutation reads what the mutation wrote.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from cross_web import HTTPException
from graphql import GraphQLError
from strawberry.http import GraphQLRequestData
from strawberry.types.execution import ExecutionResult

from . import documents
from .context import Batch, Context
from .loaders import Loaders
from .persisted import PersistedQueryError


class BatchRefused(Exception):
    """A batch refused as a whole (HTTP 400 with ``extensions.code``)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message, self.code = message, code


@dataclass
class BadElement(GraphQLRequestData):
    """An element of a batch that is no operation: answered with its own error."""

    reason: str = ""


def looks_like_batch(body: bytes) -> bool:
    """Whether a JSON body is an array (the limits middleware has checked it is JSON)."""
    return body.lstrip()[:1] == b"["


_TYPES: tuple[tuple[str, type, str], ...] = (
    ("query", str, "a string"),
    ("operationName", str, "a string"),
    ("variables", dict, "an object"),
    ("extensions", dict, "an object"),
)


def element(item: Any, where: str) -> GraphQLRequestData:
    """The operation ``where`` names (``batch operation 2``), or a :class:`BadElement` saying
    what is wrong with it; a ``documentId`` goes into its extensions (web/documents)."""
    if not isinstance(item, dict):
        found = "an array" if isinstance(item, list) else type(item).__name__
        reason = f"{where} must be a JSON object with a query, not {found}"
        return BadElement(None, None, None, None, reason=reason)
    item = documents.lift(item)
    for name, kind, wanted in _TYPES:
        value = item.get(name)
        if value is not None and not isinstance(value, kind):
            return BadElement(None, None, None, None, reason=f"{where}: {name} must be {wanted}")
    return GraphQLRequestData(
        query=item.get("query"),
        variables=item.get("variables"),
        operation_name=item.get("operationName"),
        extensions=item.get("extensions"),
    )


def requests(items: list[Any], max_batch: int) -> list[GraphQLRequestData]:
    """The operations of a batch body; :class:`BatchRefused` for an empty or too large one."""
    if not items:
        raise BatchRefused("an empty batch: send at least one operation", "BAD_REQUEST")
    if len(items) > max_batch:
        raise BatchRefused(
            f"a batch of {len(items)} operations is over the limit of {max_batch} "
            "(LEADGRAPH_MAX_BATCH): split it",
            "BATCH_TOO_LARGE",
        )
    return [element(item, f"batch operation {index}") for index, item in enumerate(items)]


def error_result(message: str, code: str) -> ExecutionResult:
    """The answer of one operation of a batch that could not run (no ``data``)."""
    return ExecutionResult(data=None, errors=[GraphQLError(message, extensions={"code": code})])


async def run(
    operations: list[GraphQLRequestData],
    context: Context,
    execute: Callable[[GraphQLRequestData], Awaitable[ExecutionResult]],
) -> list[ExecutionResult]:
    """Run a batch's operations in order through ``execute`` (the view's single-operation
    path), sharing one :class:`Batch` (cost budget, deadline); what refuses one operation
    (a persisted-query miss, no query, a subscription) is that operation's answer."""
    context.batch = Batch()
    results: list[ExecutionResult] = []
    for operation in operations:
        if isinstance(operation, BadElement):
            results.append(error_result(operation.reason, "BAD_REQUEST"))
            continue
        context.loaders = Loaders(context.db, cache=True)
        try:
            results.append(await execute(operation))
        except PersistedQueryError as exc:
            results.append(error_result(exc.message, exc.code))
        except HTTPException as exc:
            results.append(error_result(exc.reason, "BAD_REQUEST"))
    return results
