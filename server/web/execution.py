"""Field execution without per-field overhead where the stored value is the answer.

graphql-core executes every field alike: a resolver call (strawberry's wrapper around
``getattr``), a ``GraphQLResolveInfo``, a response path and ``complete_value``'s type dispatch,
about 10 µs per field.  Most fields of a page are leaves read straight off the object a
resolver built from a document (``Contact.firstName`` is ``contact.first_name``).

:class:`FastExecutionContext` plans, once per selection set of a request (the plan serves
every object of a list), which of its fields are *plain*:

- a strawberry field without a resolver, permission classes or field extensions
  (``StrawberryField.is_basic_field``), without arguments, whose type is a scalar or an enum,
  or a list of them;
- the Relay ``id`` of a :class:`strawberry.relay.Node` type that keeps strawberry's default
  ``resolve_id``/``resolve_typename``: encoded once per node from its ``NodeID`` attribute.

A plain field is read and coerced in place (the attribute, then the type's
``coerce_output_value``, as ``complete_leaf_value`` does).  Anything unusual about one value
(an exception, a null for a non-null type, a value the type refuses, a non-list for a list)
sends that field down graphql-core's ordinary path, which reports it exactly as before
(typed, located errors).  Every other field (resolvers, permissions, arguments, objects,
unions) always takes the ordinary path, and so does every field while a schema extension
resolves fields (middleware).

New fields get this automatically: a field declared as a plain attribute of a type built
from a document (see docs/architecture.md, "Types from documents") is plain.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import Any

from graphql import (
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLField,
    GraphQLFloat,
    GraphQLID,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLString,
    OperationType,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.pyutils import Path, Undefined, gather_with_cancel
from strawberry import relay
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

from .validation import DEADLINE, DeadlineExceeded

_SLOW = object()  # a value the plain path does not answer: the field takes the ordinary path
# the function behind `Node.id` (bound to each Node type, so compared unbound)
_NODE_ID_FUNC = relay.Node.__dict__["_id"].__func__

Read = Callable[[Any], Any]  # source object -> response value, or _SLOW


class _ObjectRead:
    """A plain field whose type is an object type (or a list of them): the attribute is the
    object, its selection runs as graphql-core runs it (errors located and nulled alike)."""

    def __init__(
        self,
        name: str,
        resolve: Callable[[Any, str], Any],
        object_type: GraphQLObjectType,
        return_type: Any,
        item_type: Any,
        non_null: bool,
        is_list: bool,
    ) -> None:
        self.name, self.resolve = name, resolve
        self.object_type, self.return_type, self.item_type = object_type, return_type, item_type
        self.non_null, self.is_list = non_null, is_list
        self.is_type_of = object_type.is_type_of

    def value(self, source: Any) -> Any:
        """The attribute, or _SLOW when it is missing, null for a non-null type, or not a
        list for a list type."""
        try:
            value = self.resolve(source, self.name)
        except Exception:
            return _SLOW
        if value is None:
            return _SLOW if self.non_null else None
        if isinstance(value, Exception) or (self.is_list and not isinstance(value, list | tuple)):
            return _SLOW
        return value

    def fits(self, value: Any) -> bool:
        """The object is of the type (the check graphql-core makes with ``is_type_of``; an
        awaitable answer is left to the ordinary path)."""
        if value is None:
            return False
        return self.is_type_of is None or self.is_type_of(value, None) is True  # type: ignore[arg-type]


Plan = list[Read | _ObjectRead | None]


def _leaf(of_type: Any) -> tuple[GraphQLScalarType | GraphQLEnumType, bool] | None:
    """``(leaf type, non-null)`` when ``of_type`` is a (non-null) scalar or enum."""
    non_null = isinstance(of_type, GraphQLNonNull)
    inner = of_type.of_type if non_null else of_type
    if isinstance(inner, GraphQLScalarType | GraphQLEnumType):
        return inner, non_null
    return None


# leaf types whose coercion returns a value of this exact Python type unchanged
_UNCHANGED: dict[Any, type] = {GraphQLString: str, GraphQLID: str, GraphQLBoolean: bool}


_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1


_SHORTCUTS: dict[Any, Callable[[Any], Any] | None] = {}  # per leaf type, built once


def _shortcut(leaf: GraphQLScalarType | GraphQLEnumType) -> Callable[[Any], Any] | None:
    if leaf not in _SHORTCUTS:
        _SHORTCUTS[leaf] = _make_shortcut(leaf)
    return _SHORTCUTS[leaf]


def _make_shortcut(leaf: GraphQLScalarType | GraphQLEnumType) -> Callable[[Any], Any] | None:
    """For the commonest leaves, their coercion of the commonest values without the type's
    generic code: ``_SLOW`` for any other value (which then takes ``_coerce``). An enum's
    member -> name (what strawberry's ``coerce_output_value`` finds by a scan), an ``Int`` in
    range and a finite ``Float`` as they are."""
    wrapped = getattr(leaf, "wrapped_cls", None)
    if isinstance(leaf, GraphQLEnumType) and wrapped is not None:
        names: dict[Any, str] = {}
        for member in wrapped:
            for name, value in leaf.values.items():
                if member.value == value.value:
                    names.setdefault(member, name)
                    break

        def enum_name(value: Any) -> Any:
            return names.get(value, _SLOW) if type(value) is wrapped else _SLOW

        return enum_name
    if leaf is GraphQLInt:
        return lambda v: v if type(v) is int and _INT_MIN <= v <= _INT_MAX else _SLOW
    if leaf is GraphQLFloat:
        return lambda v: v if type(v) is float and math.isfinite(v) else _SLOW
    return None


def _coerce(leaf: GraphQLScalarType | GraphQLEnumType, non_null: bool, value: Any) -> Any:
    if value is None or value is Undefined:
        return _SLOW if non_null else None
    if isinstance(value, Exception):
        return _SLOW
    try:
        coerced = leaf.coerce_output_value(value)
    except Exception:
        return _SLOW
    return _SLOW if coerced is None or coerced is Undefined else coerced


def _object_read(field: StrawberryField, return_type: Any) -> _ObjectRead | None:
    """A plain field of an object type (or a list of one) whose type check ignores ``info``
    (strawberry's own, or none)."""
    non_null = isinstance(return_type, GraphQLNonNull)
    inner = return_type.of_type if non_null else return_type
    is_list = isinstance(inner, GraphQLList)
    item_type = inner.of_type if is_list else inner
    item = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
    if not isinstance(item, GraphQLObjectType):
        return None
    definition = (item.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if definition is None or getattr(definition, "is_type_of", None) is not None:
        return None  # a type of its own make, or one with a custom is_type_of(obj, info)
    return _ObjectRead(
        field.python_name, field.default_resolver, item, return_type, item_type, non_null, is_list
    )


def _plain_read(
    parent_type: GraphQLObjectType, field_def: GraphQLField, details: FieldDetailsList
) -> Read | _ObjectRead | None:
    """How to answer one field of ``parent_type`` in place, or None (the ordinary path)."""
    field = (field_def.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if not isinstance(field, StrawberryField) or field_def.args:
        return None
    if any(d.node.arguments or d.node.directives for d in details):
        return None
    resolver = field.base_resolver
    if resolver is not None and getattr(resolver.wrapped_func, "__func__", None) is _NODE_ID_FUNC:
        return _node_id_read(parent_type)
    if not field.is_basic_field:
        return None
    resolve, name = field.default_resolver, field.python_name
    return_type: Any = field_def.type
    non_null = isinstance(return_type, GraphQLNonNull)
    inner = return_type.of_type if non_null else return_type
    if isinstance(inner, GraphQLList):
        item = _leaf(inner.of_type)
        if item is None:
            return _object_read(field, return_type)
        item_type, item_non_null = item
        item_shortcut = _shortcut(item_type) or (lambda _: _SLOW)

        def coerce_item(v: Any) -> Any:
            out = item_shortcut(v)
            return _coerce(item_type, item_non_null, v) if out is _SLOW else out

        def read_list(source: Any) -> Any:
            try:
                value = resolve(source, name)
            except Exception:
                return _SLOW
            if value is None:
                return _SLOW if non_null else None
            if not isinstance(value, list | tuple):
                return _SLOW
            out = [coerce_item(v) for v in value]
            return _SLOW if _SLOW in out else out

        return read_list
    leaf = _leaf(return_type)
    if leaf is None:
        return _object_read(field, return_type)
    leaf_type, leaf_non_null = leaf
    unchanged = _UNCHANGED.get(leaf_type)
    shortcut = _shortcut(leaf_type)

    def read(source: Any) -> Any:
        try:
            value = resolve(source, name)
        except Exception:
            return _SLOW
        if type(value) is unchanged:  # a str for String/ID, a bool for Boolean: as it is
            return value
        if shortcut is not None and (out := shortcut(value)) is not _SLOW:
            return out
        return _coerce(leaf_type, leaf_non_null, value)

    return read


def _node_id_read(parent_type: GraphQLObjectType) -> Read | None:
    """``Node.id`` of a type with strawberry's default id and type name resolution."""
    definition = (parent_type.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    origin = getattr(definition, "origin", None)
    if not (isinstance(origin, type) and issubclass(origin, relay.Node)):
        return None
    if (
        origin.resolve_id.__func__ is not relay.Node.resolve_id.__func__  # type: ignore[attr-defined]
        or origin.resolve_typename.__func__ is not relay.Node.resolve_typename.__func__  # type: ignore[attr-defined]
    ):
        return None
    attr, type_name = origin.resolve_id_attr(), parent_type.name

    def read(source: Any) -> Any:
        node_id = getattr(source, attr, None) if isinstance(source, origin) else None
        if node_id is None:
            return _SLOW
        return relay.to_base64(type_name, node_id)

    return read


class FastExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context, answering plain fields in place (module docstring),
    and answering ``REQUEST_TIMEOUT`` for a query still running at the request's deadline
    (:mod:`leadgraph.web.validation`).  Mutations run to their end: stopping one midway could
    leave a write half done; subscriptions have no deadline."""

    def execute_collected_root_fields(self, *args: Any, **kwargs: Any) -> Any:
        result = super().execute_collected_root_fields(*args, **kwargs)
        deadline = DEADLINE.get()
        if (
            deadline is None
            or self.operation.operation != OperationType.QUERY
            or not self.is_awaitable(result)
        ):
            return result
        return self._within(result, deadline)

    async def _within(self, result: Any, deadline: tuple[float, float]) -> Any:
        try:
            async with asyncio.timeout(deadline[0] - time.monotonic()):
                return await result
        except TimeoutError:
            raise DeadlineExceeded(deadline[1]) from None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # plans by selection set (graphql-core memoizes a list's sub-selection, so one plan
        # serves all its items); the set is kept alive with its plan so its id stays unique
        self._plans: dict[int, tuple[GroupedFieldSet, Plan | None]] = {}
        manager = self.middleware_manager
        self._plain_allowed = manager is None or not manager.middlewares

    def _plan(self, parent_type: GraphQLObjectType, fields: GroupedFieldSet) -> Plan | None:
        cached = self._plans.get(id(fields))
        if cached is not None:
            return cached[1]
        reads: Plan = []
        for details in fields.values():
            field_def = self.schema.get_field(parent_type, details[0].node.name.value)
            reads.append(
                _plain_read(parent_type, field_def, details) if field_def is not None else None
            )
        plan = reads if self._plain_allowed and any(reads) else None
        self._plans[id(fields)] = (fields, plan)
        return plan

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> Any:
        plan = self._plan(parent_type, grouped_field_set)
        if plan is None:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        results: dict[str, Any] = {}
        awaitable_fields: list[str] = []
        is_awaitable = self.is_awaitable
        try:
            for read, (response_name, details) in zip(plan, grouped_field_set.items(), strict=True):
                if isinstance(read, _ObjectRead):
                    value = read.value(source_value)
                    if value is not _SLOW:
                        result = self._complete_plain(
                            read,
                            details,
                            Path(path, response_name, parent_type.name),
                            value,
                            position_context,
                        )
                        if result is not _SLOW:
                            results[response_name] = result
                            if is_awaitable(result):
                                awaitable_fields.append(response_name)
                            continue
                elif read is not None:
                    value = read(source_value)
                    if value is not _SLOW:
                        results[response_name] = value
                        continue
                result = self.execute_field(
                    parent_type,
                    source_value,
                    details,
                    Path(path, response_name, parent_type.name),
                    position_context,
                )
                if result is not Undefined:
                    results[response_name] = result
                    if is_awaitable(result):
                        awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:
                self.settle_in_background([results[f] for f in awaitable_fields])
            raise
        if not awaitable_fields:
            return results
        return self._gather(results, awaitable_fields)

    def _complete_plain(
        self,
        read: _ObjectRead,
        details: FieldDetailsList,
        path: Path,
        value: Any,
        position_context: Any,
    ) -> Any:
        """An object (or list of objects) read off the source, completed as graphql-core's
        ``execute_field`` completes a resolver's answer; _SLOW when an object is not of the
        type (the ordinary path reports it)."""
        if value is None:
            return None
        if not read.is_list:
            if not read.fits(value):
                return _SLOW
            return self._complete_object(
                read, read.return_type, details, path, value, position_context
            )
        if not all(read.fits(v) for v in value):
            return _SLOW
        items: list[Any] = []
        try:
            for i, v in enumerate(value):
                items.append(
                    self._complete_object(
                        read, read.item_type, details, path.add_key(i, None), v, position_context
                    )
                )
        except Exception as error:  # a non-null item failed: the list fails as one field
            self.settle_in_background([item for item in items if self.is_awaitable(item)])
            self.handle_field_error(error, read.return_type, details, path)
            return None
        pending = [i for i, item in enumerate(items) if self.is_awaitable(item)]
        if not pending:
            return items
        return self._gather_items(items, pending, read, details, path)

    def _complete_object(
        self,
        read: _ObjectRead,
        return_type: Any,
        details: FieldDetailsList,
        path: Path,
        value: Any,
        position_context: Any,
    ) -> Any:
        try:
            completed = self.collect_and_execute_subfields(
                read.object_type, details, path, value, position_context
            )
        except Exception as error:
            self.handle_field_error(error, return_type, details, path)
            return None
        if not self.is_awaitable(completed):
            return completed
        return self._await_object(completed, return_type, details, path)

    async def _await_object(
        self, completed: Any, return_type: Any, details: FieldDetailsList, path: Path
    ) -> Any:
        try:
            return await completed
        except Exception as error:
            self.handle_field_error(error, return_type, details, path)
            return None

    async def _gather_items(
        self,
        items: list[Any],
        pending: list[int],
        read: _ObjectRead,
        details: FieldDetailsList,
        path: Path,
    ) -> Any:
        try:
            values = await gather_with_cancel(*(items[i] for i in pending))
        except Exception as error:  # a non-null item failed: the list itself fails
            self.handle_field_error(error, read.return_type, details, path)
            return None
        for i, v in zip(pending, values, strict=True):
            items[i] = v
        return items

    async def _gather(self, results: dict[str, Any], awaitable_fields: list[str]) -> Any:
        if len(awaitable_fields) == 1:
            name = awaitable_fields[0]
            results[name] = await results[name]
        else:
            values = await gather_with_cancel(*(results[f] for f in awaitable_fields))
            results.update(zip(awaitable_fields, values, strict=True))
        return results
