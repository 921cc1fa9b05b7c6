"""What a GraphQL request may cost, checked before anything runs.

Every request's operation is priced from its validated document with the variables resolved
(so a list sent as a variable counts like one written inline):

- every field costs 1;
- a field with a ``first``/``last`` argument (a connection or a bounded list) multiplies the
  cost of its selection by its page size: ``first``/``last``, or the default page size when
  neither is given;
- a field with a list argument (``nodes(ids:)``) multiplies it by the longest list given;
- nested multipliers multiply, fragments count where they are spread (each fragment is priced
  once and multiplied by its spreads: the document is never expanded), and every branch of an
  abstract type counts (the cost is an upper bound, never an undercount).

:class:`QueryCost` (a schema extension, beside the depth, alias and token limits) rejects
before execution a request whose ``first``/``last`` is negative or above the maximum page
size, whose argument lists are longer than the maximum list length (``BAD_USER_INPUT``), or
whose cost is over the budget (``COST_LIMIT_EXCEEDED``); then charges the cost to the caller's
key in a :class:`~leadgraph.web.rate_limit.RateLimiter` (``RATE_LIMITED``, HTTP 429 with
``Retry-After`` once the key's points are spent).  Every answer carries
``extensions.cost = {requested, budget}`` so clients can tune their queries.
"""

from __future__ import annotations

import dataclasses
import math
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLNamedType,
    GraphQLSchema,
    InlineFragmentNode,
    SelectionSetNode,
    get_named_type,
    get_operation_ast,
    is_interface_type,
    is_object_type,
    type_from_ast,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.extensions import SchemaExtension

from ..config import Settings
from ..errors import InvalidInput
from .rate_limit import RateLimiter

PAGE_ARGS = ("first", "last")


def check_page_size(arg: str, value: int | None, maximum: int) -> None:
    """Reject a ``first``/``last`` that is negative or above ``maximum`` (BAD_USER_INPUT)."""
    if value is None:
        return
    if value < 0:
        raise InvalidInput(arg, "must not be negative")
    if value > maximum:
        raise InvalidInput(arg, f"must be at most {maximum}")


@dataclass(frozen=True)
class Pricing:
    """The limits a document is priced and checked against."""

    default_page_size: int
    max_page_size: int
    max_list_length: int

    @classmethod
    def of(cls, settings: Settings) -> Pricing:
        return cls(settings.default_page_size, settings.max_page_size, settings.max_list_length)


def operation_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    pricing: Pricing,
) -> int | None:
    """The cost of the operation to run (see the module docstring).

    Raises :class:`OverLimit` (an ``InvalidInput``) for a page size or a list over its limit.
    Returns None when the operation or its variables are not valid: execution reports that.
    """
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return None
    coerced = get_variable_values(
        schema, operation.variable_definitions or (), dict(variables or {}), max_errors=1
    )
    if isinstance(coerced, list):
        return None
    root = schema.get_root_type(operation.operation)
    if root is None:
        return None
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    return _Pricer(schema, fragments, coerced, pricing).selection(root, operation.selection_set)


class OverLimit(InvalidInput):
    """A page size or an argument list over its limit, at ``node`` of the document."""

    def __init__(self, node: FieldNode, arg: str, message: str) -> None:
        super().__init__(arg, message)
        self.node = node


class _Pricer:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: VariableValues,
        pricing: Pricing,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.pricing = pricing
        self._spreading: set[str] = set()  # validation forbids cycles; never loop anyway
        self._priced: dict[str, int] = {}  # each fragment priced once, whatever its spreads
        self.visited = 0  # nodes priced: at most the document's, never its expansion

    def selection(self, parent: GraphQLNamedType, selection_set: SelectionSetNode) -> int:
        total = 0
        for node in selection_set.selections:
            self.visited += 1
            if isinstance(node, FieldNode):
                total += self.field(parent, node)
            elif isinstance(node, InlineFragmentNode):
                on = (
                    type_from_ast(self.schema, node.type_condition) if node.type_condition else None
                )
                total += self.selection(get_named_type(on) or parent, node.selection_set)
            elif isinstance(node, FragmentSpreadNode):
                total += self.fragment(parent, node.name.value)
        return total

    def fragment(self, parent: GraphQLNamedType, name: str) -> int:
        """A fragment's cost, computed at its first spread and reused at the others."""
        priced = self._priced.get(name)
        if priced is not None:
            return priced
        fragment = self.fragments.get(name)
        if fragment is None or name in self._spreading:
            return 0
        self._spreading.add(name)
        on = type_from_ast(self.schema, fragment.type_condition)
        cost = self.selection(get_named_type(on) or parent, fragment.selection_set)
        self._spreading.discard(name)
        self._priced[name] = cost
        return cost

    def field(self, parent: GraphQLNamedType, node: FieldNode) -> int:
        if not (is_object_type(parent) or is_interface_type(parent)):
            return 1  # __typename on a union
        definition = parent.fields.get(node.name.value)
        if definition is None:
            return 1  # __typename, __schema, __type: introspection is cheap and bounded
        try:
            args = get_argument_values(definition, node, self.variables)
        except GraphQLError:
            return 1  # an invalid argument: execution reports it, nothing runs
        multiplier = self.multiplier(node, args)
        if node.selection_set is None:
            return 1
        child = get_named_type(definition.type)
        return 1 + multiplier * self.selection(child, node.selection_set)

    def multiplier(self, node: FieldNode, args: dict[str, Any]) -> int:
        """Page size (first/last) or the longest list argument; checks both limits."""
        pricing = self.pricing
        for name, value in args.items():
            longest = _longest_list(value)
            if longest > pricing.max_list_length:
                raise OverLimit(
                    node, name, f"holds {longest} items, at most {pricing.max_list_length} allowed"
                )
        sizes: list[int] = []
        for name in PAGE_ARGS:
            value = args.get(name)
            if isinstance(value, int):
                try:
                    check_page_size(name, value, pricing.max_page_size)
                except InvalidInput as exc:
                    raise OverLimit(node, *exc.errors[0]) from None
                sizes.append(value)
        if sizes:
            return min(sizes)
        if any(name in args for name in PAGE_ARGS):  # declared, left out: the default page
            return pricing.default_page_size
        lists = [len(v) for v in args.values() if isinstance(v, list)]
        return max(lists, default=1)


def _longest_list(value: Any) -> int:
    """The length of the longest list inside an argument value (input objects included)."""
    longest = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list | tuple):
            longest = max(longest, len(item))
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif dataclasses.is_dataclass(item) and not isinstance(item, type):  # input objects
            stack.extend(vars(item).values())
    return longest


class CostCache:
    """Costs already computed, by document, operation, variables and limits (LRU of
    ``maxsize``): a repeated request is priced once.  Only successful pricings are kept (a
    page or list over its limit is priced, and refused, every time), and only for variables of
    at most :attr:`MAX_VARIABLES_BYTES` as JSON; the budget and the rate limit are checked on
    every request against the cost, kept or not."""

    MAX_VARIABLES_BYTES = 4096

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self.pricings = 0  # how many requests were priced (not answered from the cache)
        self._kept: OrderedDict[tuple[Any, ...], int | None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._kept)

    def cost(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation_name: str | None,
        variables: Mapping[str, Any] | None,
        pricing: Pricing,
    ) -> int | None:
        """:func:`operation_cost`, from the cache when the same request was priced before."""
        key = _key(document, operation_name, variables, pricing)
        if key is not None and key in self._kept:
            self._kept.move_to_end(key)
            return self._kept[key]
        self.pricings += 1
        cost = operation_cost(schema, document, operation_name, variables, pricing)
        if key is not None:
            self._kept[key] = cost
            while len(self._kept) > self.maxsize:
                self._kept.popitem(last=False)
        return cost


def _key(
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    pricing: Pricing,
) -> tuple[Any, ...] | None:
    """What a cost depends on, or None when the variables are too long to keep (or not JSON)."""
    try:
        encoded = orjson.dumps(variables or {}, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return None
    if len(encoded) > CostCache.MAX_VARIABLES_BYTES:
        return None
    return (document, operation_name, encoded, pricing)


class QueryCost(SchemaExtension):
    """Prices the request (through ``costs``, a :class:`CostCache`, when given), enforces the
    budget and the key's rate limit, reports the cost."""

    def __init__(
        self, settings: Settings, limiter: RateLimiter, costs: CostCache | None = None
    ) -> None:
        self.settings = settings
        self.limiter = limiter
        self.costs = costs
        self.cost: int | None = None

    def on_execute(self) -> Iterator[None]:
        document = self.execution_context.graphql_document
        error = self._check(document) if document is not None else None
        if error is not None:
            raise error  # strawberry answers it as a request error (subscriptions included)
        yield

    def _check(self, document: DocumentNode) -> GraphQLError | None:
        ctx = self.execution_context
        budget = self.settings.max_query_cost
        try:
            price = operation_cost if self.costs is None else self.costs.cost
            self.cost = price(
                ctx.schema._schema,
                document,
                ctx.operation_name,
                ctx.variables,
                Pricing.of(self.settings),
            )
        except OverLimit as exc:
            return GraphQLError(str(exc), exc.node, original_error=exc)
        if self.cost is None:
            return None
        batch = getattr(ctx.context, "batch", None)
        spent = batch.cost if batch is not None else 0  # a batch's operations share the budget
        if spent + self.cost > budget:
            left = f" ({budget - spent} left after the batch's earlier operations)" if spent else ""
            return GraphQLError(
                f"query cost {self.cost} is over the budget of {budget}{left}: ask for smaller "
                "pages (first/last) or fewer nested connections",
                extensions={
                    "code": "COST_LIMIT_EXCEEDED",
                    "cost": self.cost,
                    "budget": budget,
                    **({"batchSpent": spent} if spent else {}),
                },
            )
        if batch is not None:
            batch.cost += self.cost
        principal = getattr(ctx.context, "principal", None)
        if principal is None:
            return None
        wait = self.limiter.take(principal.key_id or principal.name, self.cost)
        if wait is None:
            return None
        retry_after = max(1, math.ceil(wait))
        response = getattr(ctx.context, "response", None)
        request = getattr(ctx.context, "request", None)
        if isinstance(response, Response) and not isinstance(request, WebSocket):  # HTTP
            response.status_code = 429
            response.headers["Retry-After"] = str(retry_after)
        return GraphQLError(
            f"rate limit of key {principal.name!r} reached: retry in {retry_after} s",
            extensions={"code": "RATE_LIMITED", "retryAfter": retry_after, "cost": self.cost},
        )

    def get_results(self) -> dict[str, Any]:
        if self.cost is None:
            return {}
        return {"cost": {"requested": self.cost, "budget": self.settings.max_query_cost}}
