"""Relay plumbing: global ids, cursor connections with ``totalCount``, page-size limits."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Annotated, Any, Generic, Optional, Self, TypeVar, cast

import strawberry
from bson import ObjectId
from bson.errors import InvalidId
from strawberry import relay
from strawberry.types import Info

from ..cursors import InvalidCursor, Order, Page
from ..errors import InvalidInput
from ..services import listing as listing_service
from ..web.cost import check_page_size
from ..web.loaders import Children
from .common import PER_MODEL, Direction
from .custom import custom_query

NodeT = TypeVar("NodeT")


def _start_cursor(root: Any) -> str | None:
    docs = root._page.docs
    return str(root._page.cursor(docs[0])) if docs else None


def _end_cursor(root: Any) -> str | None:
    docs = root._page.docs
    return str(root._page.cursor(docs[-1])) if docs else None


@strawberry.type(description="Relay page information.")
class PageInfo:
    has_next_page: bool = strawberry.field(
        description="More records follow this page: page on with `first` and `after: endCursor`."
    )
    has_previous_page: bool = strawberry.field(
        description="Records come before this page: page back with `last` and "
        "`before: startCursor`."
    )
    start_cursor: str | None = strawberry.field(
        resolver=_start_cursor,
        description="The cursor of the page's first edge; null when the page is empty.",
    )
    end_cursor: str | None = strawberry.field(
        resolver=_end_cursor,
        description="The cursor of the page's last edge; null when the page is empty.",
    )
    _page: strawberry.Private[Page]


def _edge_cursor(root: Any) -> str:
    # encoded on demand: most queries never ask for the cursor of every edge
    return str(root._page.cursor(root._doc))


@strawberry.type(description="An edge in a connection.")
class Edge(Generic[NodeT]):
    cursor: str = strawberry.field(
        resolver=_edge_cursor,
        description="Opaque position of this record in the connection's order, for `after` or "
        "`before`; only valid with the same filter and order.",
    )
    node: NodeT = strawberry.field(description="The record.")
    _doc: strawberry.Private[dict[str, Any]]
    _page: strawberry.Private[Page]


@strawberry.type(description="A page of a list, with Relay cursors and the total count.")
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]] = strawberry.field(
        description="The page's records with their cursors, in the requested order."
    )
    page_info: PageInfo = strawberry.field(description="Where this page is and how to page on.")
    _count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="How many records match the filter (across all pages).")
    async def total_count(self) -> int:
        return await self._count()

    @strawberry.field(description="The nodes of this page, without cursors.")
    def nodes(self) -> list[NodeT]:
        return [edge.node for edge in self.edges]


def connection(
    page: Page, to_node: Callable[[dict[str, Any]], Any], count: Callable[[], Awaitable[int]]
) -> Connection[Any]:
    docs = page.docs
    edges = [Edge(node=to_node(doc), _doc=doc, _page=page) for doc in docs]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next,
            has_previous_page=page.has_previous,
            _page=page,
        ),
        _count=count,
    )


def known_count(n: int) -> Callable[[], Awaitable[int]]:
    async def count() -> int:
        return n

    return count


def check_page_args(
    info: Info, first: int | None, last: int | None
) -> tuple[int | None, int | None]:
    """``first``/``last`` checked against the maximum page size (``BAD_USER_INPUT`` naming the
    argument, never clamped), ``first`` set to the default page size when neither is given.

    The cost check (:mod:`leadgraph.web.cost`) applies the same rule to every field before
    execution; this is the resolvers' reading of it."""
    settings = info.context.settings
    check_page_size("first", first, settings.max_page_size)
    check_page_size("last", last, settings.max_page_size)
    if first is None and last is None:
        first = settings.default_page_size
    return first, last


def object_id(global_id: relay.GlobalID | str, type_name: str, field: str = "id") -> ObjectId:
    """The ObjectId behind a global id of the expected type (raises InvalidInput otherwise)."""
    if isinstance(global_id, str):
        try:
            global_id = relay.GlobalID.from_id(global_id)
        except Exception as exc:  # strawberry raises GlobalIDValueError on garbage
            raise InvalidInput(field, "is not a valid global id") from exc
    if global_id.type_name != type_name:
        raise InvalidInput(field, f"is {_a(global_id.type_name)} id, expected {_a(type_name)} id")
    try:
        return ObjectId(global_id.node_id)
    except (InvalidId, TypeError) as exc:
        raise InvalidInput(field, "is not a valid global id") from exc


def _a(noun: str) -> str:
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def global_id(type_name: str, oid: ObjectId | None) -> relay.GlobalID | None:
    return relay.GlobalID(type_name, str(oid)) if oid is not None else None


__all__ = [
    "Connection",
    "Edge",
    "InvalidCursor",
    "Listing",
    "PageInfo",
    "check_page_args",
    "connection",
    "connection_field",
    "global_id",
    "known_count",
    "object_id",
]


class StoredNode(relay.Node):
    """A Node type stored one document per record in a collection (named by the subclass:
    ``class Contact(StoredNode, collection="contacts")``) and built by ``from_doc``; its
    global ids resolve through the request's batched loader."""

    collection: str

    def __init_subclass__(cls, collection: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.collection = collection or cls.collection

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Self:
        raise NotImplementedError

    @classmethod
    async def resolve_nodes(  # type: ignore[override]  # one async road for the overloads
        cls, *, info: Info, node_ids: Any, required: bool = False
    ) -> list[Self | None]:
        return await load_nodes(info, cls.collection, node_ids, cls.from_doc)


async def load_nodes(
    info: Info, collection: str, node_ids: Any, to_node: Callable[[dict[str, Any]], NodeT]
) -> list[NodeT | None]:
    """``resolve_nodes`` of a Node type stored in ``collection`` (one batched load)."""
    ids = [ObjectId(i) if ObjectId.is_valid(i) else None for i in node_ids]
    docs = await info.context.loaders.by_id(collection).load_many([i for i in ids if i])
    found = {d["_id"]: d for d in docs if d}
    return [to_node(found[i]) if i in found else None for i in ids]


async def load_one(
    info: Info, collection: str, oid: ObjectId | None, to_node: Callable[[dict[str, Any]], NodeT]
) -> NodeT | None:
    """A related record by id through the request's batched loader."""
    doc = await info.context.loaders.by_id(collection).load(oid) if oid is not None else None
    return to_node(doc) if doc else None


def relation_field(collection: str, key: str, node: str, *, description: str) -> Any:
    """A to-one relation field of a stored node: the record of ``collection`` whose ``_id`` the
    node's document holds under ``key``, through the request's batched loader (null when unset
    or gone).  ``node`` names the GraphQL type as ``"module:Class"``; it is imported only when
    the schema is built and the field resolved, so types may refer to each other."""
    module, name = node.split(":")

    async def resolve(root: Any, info: Info) -> Any:
        to_node = getattr(importlib.import_module(module), name).from_doc
        return await load_one(info, collection, root._doc.get(key), to_node)

    resolve.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("root", _ARG), inspect.Parameter("info", _ARG, annotation=Info)],
        return_annotation=Optional[Annotated[name, strawberry.lazy(module)]],  # noqa: UP045
    )
    return strawberry.field(resolver=resolve, description=description)


async def children_page(
    info: Info,
    collection: str,
    field: str,
    parent: ObjectId,
    query: dict[str, Any],
    order: Order,
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> tuple[Page, Callable[[], Awaitable[int]]]:
    """A page of a parent's children (``first``/``last`` already checked) and their count on
    demand, both batched with the parent's siblings' by the loaders.

    The database reads at most ``first`` (or ``last``) + 1 children per parent, after the
    cursors: never a parent's whole list.
    """
    forward = first is not None
    n = first if first is not None else last
    assert n is not None
    window = [query] if query else []
    if after is not None:
        window.append(order.after(after, arg="after", scope=collection))
    if before is not None:
        window.append(order.after(before, reverse=True, arg="before", scope=collection))
    narrowed = window[0] if len(window) == 1 else ({"$and": window} if window else {})
    loaders = info.context.loaders
    key = Children.of(
        collection, field, parent, narrowed, order.sort(reverse=not forward), limit=n + 1
    )
    docs = await loaders.children.load(key)
    more = len(docs) > n
    docs = docs[:n] if forward else list(reversed(docs[:n]))
    has_next = before is not None or (more and forward)
    has_previous = after is not None or (more and not forward)
    if forward and last is not None:  # both: the last `last` of the first `first`
        has_previous = has_previous or len(docs) > last
        docs = docs[-last:] if last else []
    page = Page(
        docs,
        has_next=has_next,
        has_previous=has_previous,
        order=order,
        filter=query,
        scope=collection,
    )

    async def count() -> int:
        return await loaders.child_counts.load(Children.of(collection, field, parent, query))

    return page, count


@dataclass(frozen=True)
class Listing:
    """How one stored Node type (``node``) is listed as a connection: its GraphQL filter input
    type and how a given filter reads into a query; its order input type (built by
    :func:`common.order_input`), or the one ``fixed_order`` it is always listed in (the field
    then takes no ``orderBy``)."""

    node: type[StoredNode]
    filter: Any
    to_query: Callable[[Any], dict[str, Any]]
    order: Any = None
    fixed_order: Order | None = None
    #: The index of an ordering per scoring model (a stored field with ``{model}``), by model.
    model_index: Callable[[str], str] | None = None
    #: Checks a request's ``filter`` and ``orderBy`` against what is live (the rules), raising
    #: :class:`InvalidInput`; called before anything is read.
    check: Callable[[Info, Any, Any], None] | None = None
    #: The index that serves a filter best, hinted after a cursor when the ordering has none.
    filter_index: Callable[[Any], str | None] | None = None
    #: Conditions the caller's role adds to a top-level listing given its filter (None too):
    #: e.g. a sales key's ``contacts`` leave marketing-only contacts out unless asked.
    scope: Callable[[Info, Any], dict[str, Any]] | None = None
    #: Filter fields that only steer ``scope`` (they compile to no condition of their own),
    #: or that are read against the live rules (``custom``, see :attr:`custom`).
    scope_fields: tuple[str, ...] = ()
    #: The record type whose indexed custom fields the filter's ``custom`` reads, if any.
    custom: str | None = None

    def sort(self, order_by: Any) -> Order:
        """The sort an ``orderBy`` value (None: the order input's defaults) asks for."""
        if self.fixed_order is not None:
            return self.fixed_order
        o = order_by or self.order()
        stored, descending = o.field.value, o.direction is Direction.DESC
        if PER_MODEL not in stored:
            return Order(stored, descending=descending)
        if not o.model:
            raise InvalidInput("orderBy.model", f"ordering by {o.field.name} needs the model")
        return Order(
            stored.replace(PER_MODEL, o.model),
            descending=descending,
            nullable=True,  # leads a model does not score have no score of it
            index=self.model_index(o.model) if self.model_index else None,
        )


_ARG = inspect.Parameter.POSITIONAL_OR_KEYWORD

# The paging arguments of every connection (Relay's), described once: a resolver annotates
# ``first: First = None`` and the schema carries the description.
First = Annotated[
    int | None,
    strawberry.argument(
        description="Page forward: at most this many records from the start of the window "
        "(after `after`); capped by the server's page size."
    ),
]
After = Annotated[
    str | None,
    strawberry.argument(
        description="Page forward: start after this cursor (a `pageInfo.endCursor` or an "
        "edge's `cursor` of the same connection)."
    ),
]
Last = Annotated[
    int | None,
    strawberry.argument(
        description="Page backward: at most this many records from the end of the window "
        "(before `before`); capped by the server's page size."
    ),
]
Before = Annotated[
    str | None,
    strawberry.argument(
        description="Page backward: end before this cursor (a `pageInfo.startCursor` or an "
        "edge's `cursor` of the same connection)."
    ),
]
#: The ``id`` argument of a field that reads or acts on one record.
RecordId = Annotated[
    relay.GlobalID,
    strawberry.argument(
        description="The record's global id: its `id` field, as `node(id:)` takes it."
    ),
]
FILTER_DESCRIPTION = "Only the records matching every condition given; none given: all."
ORDER_DESCRIPTION = "The order of the records; ties are broken by id. Default: oldest first."

# Every connection field built by :func:`connection_field`: its listing and, for a field of a
# Node type, the key that points to the parent (None: a top-level field).  The index test
# explains each one's filters and orderings, so a new filter or ordering is checked on its own.
CONNECTIONS: list[tuple[Listing, str | None]] = []


def _described(kind: Any, description: str) -> Any:
    """``kind | None`` as an argument with ``description``."""
    return Annotated[kind | None, strawberry.argument(description=description)]


def _signature(listing: Listing) -> inspect.Signature:
    """The resolver signature of a connection over ``listing``: strawberry reads the GraphQL
    arguments from it, so it carries the listing's filter and order types."""
    params = [
        inspect.Parameter("root", _ARG),
        inspect.Parameter("info", _ARG, annotation=Info),
        *(
            inspect.Parameter(name, _ARG, default=None, annotation=kind)
            for name, kind in (
                ("first", First),
                ("after", After),
                ("last", Last),
                ("before", Before),
            )
        ),
        inspect.Parameter(
            "filter", _ARG, default=None, annotation=_described(listing.filter, FILTER_DESCRIPTION)
        ),
    ]
    if listing.fixed_order is None:
        params.append(
            inspect.Parameter(
                "order_by",
                _ARG,
                default=None,
                annotation=_described(listing.order, ORDER_DESCRIPTION),
            )
        )
    return inspect.Signature(params, return_annotation=cast(Any, Connection)[listing.node])


def connection_field(
    listing: Listing,
    *,
    description: str,
    parent_key: str | None = None,
    relation: str | None = None,
) -> Any:
    """A connection field (``first/after/last/before``, ``filter``, ``orderBy``) over ``listing``.

    Without ``parent_key`` a top-level field over the whole collection; with it, a field of a
    Node type listing the children whose ``parent_key`` is the parent's ``_id``; with
    ``relation``, a field of a Node type listing a relation no single key holds, which the
    request's loaders batch by that name (:data:`leadgraph.web.loaders.ACCOUNT_LEADS`: an
    account's own and its contacts' leads)."""
    CONNECTIONS.append((listing, parent_key))

    async def resolve(
        root: Any,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: Any = None,
        order_by: Any = None,
    ) -> Connection[Any]:
        if listing.check is not None:
            listing.check(info, filter, order_by)
        query = listing.to_query(filter) if filter is not None else {}
        if listing.custom is not None and filter is not None:
            query = {**query, **custom_query(info, listing.custom, filter)}
        order = listing.sort(order_by)
        if order.index is None and filter is not None and listing.filter_index is not None:
            order = replace(order, index=listing.filter_index(filter))
        collection = listing.node.collection
        first, last = check_page_args(info, first, last)
        window: dict[str, Any] = {"first": first, "after": after, "last": last, "before": before}
        if parent_key is None and relation is None:  # one keyset-paginated query
            if listing.scope is not None:
                query = {**query, **listing.scope(info, filter)}
            db = info.context.db
            page = await listing_service.page(db, collection, query, order, **window)
            count: Callable[[], Awaitable[int]] = partial(
                listing_service.count, db, collection, query
            )
        else:
            parent = root._doc["_id"]
            field = relation or parent_key
            assert field is not None
            page, count = await children_page(
                info, collection, field, parent, query, order, **window
            )
        return connection(page, listing.node.from_doc, count)

    resolve.__signature__ = _signature(listing)  # type: ignore[attr-defined]
    return strawberry.field(resolver=resolve, description=description)
