"""Keyset (cursor) pagination over a MongoDB collection, ordered by one field plus ``_id``."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from bson import json_util
from pymongo.asynchronous.collection import AsyncCollection

from ..errors import InvalidInput
from ._base import BATCH_ALL


class InvalidCursor(InvalidInput, ValueError):
    """A cursor that this server did not produce (or for another ordering).

    An :class:`InvalidInput`, so the client gets ``BAD_USER_INPUT`` naming the argument
    (``after``/``before``) instead of a masked internal error.
    """

    def __init__(self, message: str, arg: str = "cursor") -> None:
        self.reason = message
        super().__init__([(arg, message)])


def encode_cursor(field: str, doc: dict[str, Any]) -> str:
    payload = json_util.dumps({"f": field, "v": _get(doc, field), "id": doc["_id"]})
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


# Datetimes come back aware (UTC), like the documents of the tz-aware client they are compared
# with when a nested page is cut in memory (naive vs aware comparison raises TypeError).
_CURSOR_JSON = json_util.JSONOptions(tz_aware=True)


def decode_cursor(field: str, cursor: str, arg: str = "cursor") -> tuple[Any, Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json_util.loads(
            base64.urlsafe_b64decode(padded.encode()).decode(), json_options=_CURSOR_JSON
        )
        if data["f"] != field:
            raise InvalidCursor(
                f"cursor was made for ordering by {data['f']!r}, not {field!r}", arg
            )
        return data["v"], data["id"]
    except (ValueError, KeyError, TypeError) as exc:
        if isinstance(exc, InvalidCursor):
            raise
        raise InvalidCursor("malformed cursor", arg) from exc


def _get(doc: dict[str, Any], dotted: str) -> Any:
    if "." not in dotted:
        return doc.get(dotted)
    value: Any = doc
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


@dataclass(frozen=True)
class Order:
    """Sort by ``field`` (always present on every document) then ``_id``."""

    field: str
    descending: bool = False

    def sort(self, reverse: bool = False) -> list[tuple[str, int]]:
        direction = -1 if self.descending != reverse else 1
        return [(self.field, direction), ("_id", direction)]

    def after(self, cursor: str, reverse: bool = False, arg: str = "cursor") -> dict[str, Any]:
        """Filter for documents strictly after ``cursor`` in this order (or before, reversed)."""
        value, oid = decode_cursor(self.field, cursor, arg)
        op = "$lt" if self.descending != reverse else "$gt"
        return {"$or": [{self.field: {op: value}}, {self.field: value, "_id": {op: oid}}]}

    def key(self, doc: dict[str, Any]) -> tuple[Any, Any]:
        return (_get(doc, self.field), doc["_id"])


@dataclass
class Page:
    """One page of documents with the facts Relay's ``PageInfo`` needs."""

    docs: list[dict[str, Any]]
    has_next: bool
    has_previous: bool
    order: Order
    filter: dict[str, Any]
    total: int | None = None  # known when the page was cut from an in-memory list

    def cursor(self, doc: dict[str, Any]) -> str:
        return encode_cursor(self.order.field, doc)


def _and(*parts: dict[str, Any]) -> dict[str, Any]:
    parts = tuple(p for p in parts if p)
    if not parts:
        return {}
    return parts[0] if len(parts) == 1 else {"$and": list(parts)}


async def paginate(
    collection: AsyncCollection,
    filter: dict[str, Any],
    order: Order,
    *,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    projection: dict[str, Any] | None = None,
) -> Page:
    """Fetch one page with a single query (limit + 1 tells whether more pages exist)."""
    if last is not None and first is None:
        query = _and(
            filter,
            order.after(before, reverse=True, arg="before") if before else {},
            order.after(after, arg="after") if after else {},
        )
        docs = (
            await collection.find(query, projection, batch_size=last + 1)
            .sort(order.sort(reverse=True))
            .limit(last + 1)
            .to_list()
        )
        has_previous = len(docs) > last
        docs = list(reversed(docs[:last]))
        return Page(
            docs, has_next=before is not None, has_previous=has_previous, order=order, filter=filter
        )
    query = _and(
        filter,
        order.after(after, arg="after") if after else {},
        order.after(before, reverse=True, arg="before") if before else {},
    )
    # the whole page in one reply (no getMore for pages over 101 documents)
    batch = first + 1 if first is not None else BATCH_ALL
    cursor = collection.find(query, projection, batch_size=batch).sort(order.sort())
    if first is not None:
        cursor = cursor.limit(first + 1)
    docs = await cursor.to_list()
    has_next = first is not None and len(docs) > first
    docs = docs[:first] if first is not None else docs
    return Page(docs, has_next=has_next, has_previous=after is not None, order=order, filter=filter)
