"""Validation that a small document cannot turn into a long one: limits checked without
expanding fragments, then graphql-core's validation under the request's deadline.

A fragment spread twice in a fragment spread twice ... (``fragment F0 on Query { ...F1 ...F1 }``,
30 levels in about 1 KB) stands for 2^30 fields once expanded.  Anything that walks the
expanded document (strawberry's depth and alias limiters did) never finishes.  So:

- :func:`document_shape` measures every operation -- selections after expansion (fields,
  inline fragments and spreads), aliases after expansion, field depth -- walking each fragment
  definition once, in dependency order, and multiplying by its spreads.  A spread that closes
  a cycle counts as nothing (graphql-core's ``NoFragmentCyclesRule`` refuses the document).
  The walk visits each node of the document at most twice, whatever the spreads stand for.
- :class:`CheckedValidation` (a schema extension, in place of strawberry's depth, alias and
  validation-cache extensions) checks ``max_depth``, ``max_aliases`` and ``max_selections``
  on that shape *first*, and only then runs graphql-core's validation (cached per document,
  LRU).  Its fragment-overlap rule is the one rule whose work grows faster than the document:
  graphql-core meters it (``MAX_COMPLEXITY_BUDGET``, lowered here) and aborts past the budget.
- The request's deadline (``request_deadline`` seconds, from the start of the operation)
  is checked at every node graphql-core's validation visits, and bounds the execution of a
  query (:mod:`leadgraph.web.execution`): past it the answer is ``REQUEST_TIMEOUT``.
"""

from __future__ import annotations

import contextvars
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FloatValueNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
    Visitor,
    visit,
)
from graphql.validation.rules import overlapping_fields_can_be_merged
from graphql.validation.validate import ValidationAbortedError
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from ..config import Settings

# graphql-core's default (500,000 units, up to about a second of CPU here) is more than any
# real query needs; 150,000 keeps the worst document near 0.2 s and still admits one field
# repeated about 200 times in one selection.
overlapping_fields_can_be_merged.MAX_COMPLEXITY_BUDGET = 150_000

TIMEOUT = "REQUEST_TIMEOUT"
MAX_INT_DIGITS = 100  # the longest number literal a document may hold (as in a JSON body)
# When the current request must be answered by (time.monotonic()) and the setting it came
# from (seconds); None: no deadline.
DEADLINE: contextvars.ContextVar[tuple[float, float] | None] = contextvars.ContextVar(
    "leadgraph_deadline", default=None
)


@dataclass(frozen=True)
class Shape:
    """What a selection set stands for once its fragments are expanded."""

    selections: int = 0  # fields, inline fragments and fragment spreads
    aliases: int = 0
    depth: int = 0  # nested fields with a selection (introspection fields not counted)

    def __add__(self, other: Shape) -> Shape:
        return Shape(
            self.selections + other.selections,
            self.aliases + other.aliases,
            max(self.depth, other.depth),
        )


ZERO = Shape()


@dataclass(frozen=True)
class DocumentShape:
    """The shape of each operation of a document (by name, ``None`` for an anonymous one),
    and how many nodes the walk visited (it is linear in the document's size)."""

    operations: dict[str | None, Shape]
    visited: int

    @property
    def total(self) -> Shape:
        return sum(self.operations.values(), ZERO)


class _Walker:
    def __init__(self, document: DocumentNode) -> None:
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.shapes: dict[str, Shape] = {}
        self.visited = 0

    def spreads(self, selection_set: SelectionSetNode) -> list[str]:
        """The fragments a selection set spreads (its own, not theirs)."""
        found: list[str] = []
        stack = [selection_set]
        while stack:
            for node in stack.pop().selections:
                self.visited += 1
                if isinstance(node, FragmentSpreadNode):
                    found.append(node.name.value)
                elif isinstance(node, FieldNode | InlineFragmentNode) and node.selection_set:
                    stack.append(node.selection_set)
        return found

    def measure_fragments(self) -> None:
        """Every fragment's shape, each computed once after the fragments it spreads
        (iterative depth-first order, so a long chain of fragments needs no deep recursion)."""
        edges = {name: self.spreads(f.selection_set) for name, f in self.fragments.items()}
        done: set[str] = set()
        for root in edges:
            if root in done:
                continue
            path, on_path = [(root, iter(edges[root]))], {root}
            while path:
                name, pending = path[-1]
                following = next((s for s in pending if s in edges and s not in done), None)
                if following is not None and following not in on_path:
                    path.append((following, iter(edges[following])))
                    on_path.add(following)
                    continue
                if following is not None:  # a cycle: refused by validation, counted as 0
                    continue
                path.pop()
                on_path.discard(name)
                done.add(name)
                self.shapes[name] = self.selection_set(self.fragments[name].selection_set)

    def selection_set(self, selection_set: SelectionSetNode) -> Shape:
        """The expanded shape of a selection set; spreads use the fragments' shapes."""
        selections = aliases = depth = 0
        for node in selection_set.selections:
            self.visited += 1
            selections += 1
            if isinstance(node, FragmentSpreadNode):
                inner = self.shapes.get(node.name.value, ZERO)
            elif isinstance(node, FieldNode | InlineFragmentNode) and node.selection_set:
                inner = self.selection_set(node.selection_set)
            else:
                inner = ZERO
            selections += inner.selections
            aliases += inner.aliases
            if isinstance(node, FieldNode):
                aliases += node.alias is not None
                introspection = node.name.value.startswith("__")
                if node.selection_set is not None and not introspection:
                    depth = max(depth, 1 + inner.depth)
            elif isinstance(node, InlineFragmentNode | FragmentSpreadNode):
                depth = max(depth, inner.depth)
        return Shape(selections, aliases, depth)


def document_shape(document: DocumentNode) -> DocumentShape:
    """Measure ``document`` without expanding its fragments (see the module docstring)."""
    walker = _Walker(document)
    walker.measure_fragments()
    operations = {
        (d.name.value if d.name else None): walker.selection_set(d.selection_set)
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode)
    }
    return DocumentShape(operations, walker.visited)


def shape_errors(shape: DocumentShape, settings: Settings) -> list[GraphQLError]:
    """The limits ``shape`` is over (``GRAPHQL_VALIDATION_FAILED``)."""
    errors: list[str] = []
    for name, operation in shape.operations.items():
        if operation.depth > settings.max_depth:
            errors.append(
                f"'{name or 'anonymous'}' exceeds maximum operation depth of {settings.max_depth}"
            )
    total = shape.total
    if total.aliases > settings.max_aliases:
        errors.append(f"{total.aliases} aliases found. Allowed: {settings.max_aliases}")
    if total.selections > settings.max_selections:
        count = f"{total.selections:,}" if total.selections < 10**12 else "over 10^12"
        errors.append(
            f"the document stands for {count} selections once its fragments are expanded, "
            f"at most {settings.max_selections:,} allowed: spread fewer fragments"
        )
    return [
        GraphQLError(message, extensions={"code": "GRAPHQL_VALIDATION_FAILED"})
        for message in errors
    ]


class _Numbers(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[IntValueNode | FloatValueNode] = []

    def enter_int_value(self, node: IntValueNode, *_args: Any) -> None:
        if len(node.value) > MAX_INT_DIGITS:
            self.found.append(node)

    def enter_float_value(self, node: FloatValueNode, *_args: Any) -> None:
        if len(node.value) > MAX_INT_DIGITS:
            self.found.append(node)


def long_numbers(document: DocumentNode) -> list[GraphQLError]:
    """Number literals of over :data:`MAX_INT_DIGITS` characters, refused before any rule
    converts one (Python's int() would refuse one of over 4,300 digits in its own words, and
    such a number fits no Int, Float or stored value anyway)."""
    numbers = _Numbers()
    visit(document, numbers)
    return [
        GraphQLError(
            f"a number of {len(node.value):,} characters: numbers have at most "
            f"{MAX_INT_DIGITS} (an Int is 32-bit, a Float a double)",
            node,
            extensions={"code": "GRAPHQL_VALIDATION_FAILED"},
        )
        for node in numbers.found[:1]
    ]


class DeadlineExceeded(ValidationAbortedError):
    """The request's deadline passed (raised inside validation, which reports it)."""

    def __init__(self, deadline: float) -> None:
        super().__init__(
            f"the request did not finish within its deadline of {deadline:g} s",
            extensions={"code": TIMEOUT, "deadline": deadline},
        )


class DeadlineRule(ValidationRule):
    """Stops validation once the request's deadline has passed (checked at every node)."""

    def enter(self, *_args: Any) -> None:
        deadline = DEADLINE.get()
        if deadline is not None and time.monotonic() > deadline[0]:
            raise DeadlineExceeded(deadline[1])


class ValidationResults:
    """The validation answers kept per document (LRU); timeouts are never kept."""

    def __init__(self, settings: Settings, maxsize: int) -> None:
        self.settings = settings
        self.maxsize = maxsize
        self._kept: OrderedDict[tuple[Any, ...], list[GraphQLError]] = OrderedDict()

    def validate(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        rules: tuple[type[ASTValidationRule], ...],
    ) -> list[GraphQLError]:
        key = (document, rules)
        kept = self._kept.get(key)
        if kept is not None:
            self._kept.move_to_end(key)
            return kept
        shape = document_shape(document)
        errors = long_numbers(document) or shape_errors(shape, self.settings)
        if not errors:  # only a document within the limits meets graphql-core's rules
            found = validate_document(schema, document, (*rules, DeadlineRule))
            errors = [_typed(e) for e in found]
        if not any(isinstance(e, DeadlineExceeded) for e in errors):
            self._kept[key] = errors
            while len(self._kept) > self.maxsize:
                self._kept.popitem(last=False)
        return errors


def _typed(error: GraphQLError) -> GraphQLError:
    """graphql-core's abort of an overlap check too costly to finish, in our words."""
    if type(error) is ValidationAbortedError and error.message == "Validation aborted.":
        return GraphQLError(
            "the document is too complex to validate: its fragments nest too deeply, or it "
            "repeats the same fields too often (merge them into one)",
            extensions={"code": "GRAPHQL_VALIDATION_FAILED"},
        )
    return error


class CheckedValidation(SchemaExtension):
    """Sets the request's deadline, then validates (limits first, see the module)."""

    def __init__(self, results: ValidationResults) -> None:
        self.results = results

    def on_operation(self) -> Iterator[None]:
        # every request (and every operation on a socket) runs in its own task: its own value.
        # The request's settings (the server's current ones), else the schema's.
        context = self.execution_context.context
        settings = getattr(context, "settings", self.results.settings)
        seconds = settings.request_deadline
        deadline = (time.monotonic() + seconds, seconds) if seconds > 0 else None
        batch = getattr(context, "batch", None)
        if batch is not None:  # a batch's operations share the deadline of its first
            if batch.deadline is None:
                batch.deadline = deadline
            deadline = batch.deadline
        DEADLINE.set(deadline)
        yield

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        assert ctx.graphql_document is not None
        ctx.pre_execution_errors = self.results.validate(
            ctx.schema._schema, ctx.graphql_document, tuple(ctx.validation_rules)
        )
        yield
