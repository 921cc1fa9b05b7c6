"""Keyset (cursor) positions: an ordering by one field plus ``_id``, a page of documents cut
in it, and the opaque, tamper-evident cursors of positions in it.

Pure (bson and the server secret only): the store pages a collection with them
(:func:`leadgraph.store.pagination.paginate`), the api cuts pages out of lists and the web
loaders sort children by them.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import bson
from bson import ObjectId
from bson.codec_options import CodecOptions
from bson.errors import InvalidBSON

from .errors import InvalidInput


class InvalidCursor(InvalidInput, ValueError):
    """A cursor that this server did not produce (or for another ordering).

    An :class:`InvalidInput`, so the client gets ``BAD_USER_INPUT`` naming the argument
    (``after``/``before``) instead of a masked internal error.
    """

    def __init__(self, message: str, arg: str = "cursor") -> None:
        self.reason = message
        super().__init__([(arg, message)])


# Cursors are opaque and tamper-evident: the position (ordering field, sort value with its BSON
# type, ``_id``) is BSON, encrypted and authenticated with keys derived from the server secret
# (deterministic authenticated encryption, SIV style, from HMAC-SHA256 alone: the tag is the MAC
# of the plaintext and seeds an HMAC-SHA256 counter-mode keystream).  Nobody can read a name out
# of a cursor, and a changed, truncated or forged cursor fails the tag check before anything
# it holds reaches a database filter.
_VERSION = b"\x01"
_TAG = 16
_MAX_CURSOR = 1024  # characters; ours are ~100
_CODEC: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True, tzinfo=UTC)
_SCALARS = (str, int, float, bool, datetime, ObjectId, type(None))
_keys: tuple[bytes, bytes] | None = None


def use_secret(secret: bytes) -> None:
    """Derive this process's cursor keys from the server secret (at app start-up).

    Every process that shares the secret accepts the others' cursors.  Without a call the
    process uses a random secret: its cursors work only until it exits.
    """
    global _keys
    _keys = (
        hmac.digest(secret, b"leadgraph cursor mac", "sha256"),
        hmac.digest(secret, b"leadgraph cursor enc", "sha256"),
    )


def _cursor_keys() -> tuple[bytes, bytes]:
    if _keys is None:
        use_secret(secrets.token_bytes(32))
    assert _keys is not None
    return _keys


def _keystream(key: bytes, tag: bytes, size: int) -> bytes:
    blocks = (hmac.digest(key, tag + i.to_bytes(4, "big"), "sha256") for i in range(-(-size // 32)))
    return b"".join(blocks)[:size]


def _xor(data: bytes, stream: bytes) -> bytes:
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(len(data), "big")


def encode_cursor(field: str, doc: dict[str, Any], scope: str = "") -> str:
    """The opaque cursor of ``doc``'s position in an ordering by ``field`` then ``_id``, in the
    connection ``scope`` (the collection it pages): a cursor is good for that connection only."""
    mac_key, enc_key = _cursor_keys()
    plain = bson.encode({"c": scope, "f": field, "v": value_at(doc, field), "i": doc["_id"]})
    tag = hmac.digest(mac_key, _VERSION + plain, "sha256")[:_TAG]
    sealed = _VERSION + tag + _xor(plain, _keystream(enc_key, tag, len(plain)))
    return base64.urlsafe_b64encode(sealed).decode().rstrip("=")


def _open(cursor: str) -> dict[str, Any] | None:
    """The position a cursor of this server holds, or None when it is not one."""
    if not isinstance(cursor, str) or len(cursor) > _MAX_CURSOR:
        return None
    try:
        sealed = base64.urlsafe_b64decode(cursor.encode("ascii") + b"=" * (-len(cursor) % 4))
    except ValueError:  # not ASCII, or not base64
        return None
    if len(sealed) <= 1 + _TAG or sealed[:1] != _VERSION:
        return None
    mac_key, enc_key = _cursor_keys()
    tag, body = sealed[1 : 1 + _TAG], sealed[1 + _TAG :]
    plain = _xor(body, _keystream(enc_key, tag, len(body)))
    expected = hmac.digest(mac_key, _VERSION + plain, "sha256")[:_TAG]
    if not hmac.compare_digest(tag, expected):
        return None
    try:
        data = bson.decode(plain, codec_options=_CODEC)
    except (InvalidBSON, ValueError):  # pragma: no cover - authenticated, so ours
        return None
    if set(data) != {"c", "f", "v", "i"} or not isinstance(data["v"], _SCALARS):
        return None  # pragma: no cover - authenticated, so ours
    return data


def decode_cursor(field: str, cursor: str, arg: str = "cursor", scope: str = "") -> tuple[Any, Any]:
    """``(sort value, _id)`` of a cursor made by :func:`encode_cursor` for ``field``.

    Raises :class:`InvalidCursor` (``BAD_USER_INPUT`` naming ``arg``) for anything else:
    garbage, a truncated or altered cursor, one signed with another secret, or one made for
    another ordering or another connection (a ``contacts`` cursor given to ``leads``).
    """
    data = _open(cursor)
    if data is None:
        raise InvalidCursor("is not a cursor this server issued (malformed or altered)", arg)
    if data["c"] != scope:
        raise InvalidCursor(f"was made for another connection, not {scope or 'this one'}", arg)
    if data["f"] != field:
        raise InvalidCursor(f"was made for ordering by {data['f']!r}, not {field!r}", arg)
    return data["v"], data["i"]


def value_at(doc: dict[str, Any], dotted: str) -> Any:
    """The value at a dotted path of ``doc`` (None where a part is missing)."""
    if "." not in dotted:
        return doc.get(dotted)
    value: Any = doc
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


@dataclass(frozen=True)
class Order:
    """Sort by ``field`` then ``_id``.

    ``field`` is present on every document unless ``nullable``: then documents without it sort
    as MongoDB sorts null, before every value (first ascending, last descending), and cursors
    page through them too.  ``index``: the index serving this order, hinted to the database
    for the pages after a cursor (whose ``$or`` a planner may otherwise answer by a scan).
    """

    field: str
    descending: bool = False
    nullable: bool = False
    index: str | None = None

    def sort(self, reverse: bool = False) -> list[tuple[str, int]]:
        direction = -1 if self.descending != reverse else 1
        return [(self.field, direction), ("_id", direction)]

    def after(
        self, cursor: str, reverse: bool = False, arg: str = "cursor", scope: str = ""
    ) -> dict[str, Any]:
        """Filter for documents strictly after ``cursor`` in this order (or before, reversed)."""
        value, oid = decode_cursor(self.field, cursor, arg, scope)
        op = "$lt" if self.descending != reverse else "$gt"
        f = self.field
        if not self.nullable:
            return {"$or": [{f: {op: value}}, {f: value, "_id": {op: oid}}]}
        if value is None:  # among the nulls: the rest of them, then (ascending) every value
            ties = {f: None, "_id": {op: oid}}
            return {"$or": [{f: {"$ne": None}}, ties]} if op == "$gt" else ties
        later = [{f: {op: value}}, {f: value, "_id": {op: oid}}]
        return {"$or": later if op == "$gt" else [*later, {f: None}]}

    def key(self, doc: dict[str, Any]) -> tuple[Any, Any]:
        return (value_at(doc, self.field), doc["_id"])


@dataclass
class Page:
    """One page of documents with the facts Relay's ``PageInfo`` needs."""

    docs: list[dict[str, Any]]
    has_next: bool
    has_previous: bool
    order: Order
    filter: dict[str, Any]
    total: int | None = None  # known when the page was cut from an in-memory list
    scope: str = ""  # the connection (collection) its cursors are good for
    # cursors already encoded, by document id: an edge's cursor and pageInfo's end cursor are
    # one encryption
    _cursors: dict[Any, str] = field(default_factory=dict, repr=False, compare=False)

    def cursor(self, doc: dict[str, Any]) -> str:
        cursor = self._cursors.get(doc["_id"])
        if cursor is None:
            cursor = self._cursors[doc["_id"]] = encode_cursor(self.order.field, doc, self.scope)
        return cursor
