"""The machinery every event type shares: the envelope (:class:`Event`), who acted
(:class:`Actor`, :func:`act_as`), field changes (:class:`Change`, :func:`diff`), the one
registry of types (:data:`CATALOGUE`), reading a stored event back (:func:`from_doc`) and the
catalogue as docs.  The types themselves are all in :mod:`leadgraph.events`."""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import re
import types
import typing
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal

from bson import ObjectId

from ..store.clock import now  # an event's time: the one clock

Via = Literal["api", "cli", "import", "centre", "system"]
RecordType = Literal[
    "contact",
    "account",
    "lead",
    "interaction",
    "opportunity",
    "segment",
    "rules",
    "subscription_list",
    "webhook",
]
VIAS: tuple[str, ...] = typing.get_args(Via)


@dataclass(frozen=True)
class Actor:
    """Who made a change: a name (an API key's, the form id, the import id), its role, and
    the road it took."""

    name: str | None
    role: str | None
    via: Via

    def to_doc(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "via": self.via}

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any] | None) -> Actor | None:
        if not doc:
            return None
        return cls(doc.get("name"), doc.get("role"), doc.get("via", "system"))


#: The server itself (a rule change going live, a background rescore, the sweep).
SYSTEM = Actor(None, None, "system")

_acting: contextvars.ContextVar[Actor | None] = contextvars.ContextVar(
    "leadgraph_actor", default=None
)


def acting() -> Actor:
    """Who the work of this task is done for (:func:`act_as`), else :data:`SYSTEM`."""
    return _acting.get() or SYSTEM


def act_as(actor: Actor | None) -> None:
    """The events this task (and the tasks it starts) creates from now on are ``actor``'s:
    a request's services act for its caller, ``leadgraph`` commands for the CLI."""
    _acting.set(actor)


@contextlib.contextmanager
def acting_as(actor: Actor) -> Iterator[None]:
    """The events created within are ``actor``'s (an import, the subscription centre)."""
    token = _acting.set(actor)
    try:
        yield
    finally:
        _acting.reset(token)


@dataclass(frozen=True)
class Change:
    """One field's value before and after an update (``None``: not set)."""

    field: str
    old: Any
    new: Any

    def to_doc(self) -> dict[str, Any]:
        return {"field": self.field, "old": self.old, "new": self.new}


def diff(
    before: Mapping[str, Any], after: Mapping[str, Any], *, skip: Iterable[str] = ()
) -> tuple[Change, ...]:
    """The changes of a record's stored fields from ``before`` to ``after``, leaving out
    bookkeeping and derived fields (``updatedAt``, ``emailNormalized``, ...) and ``skip``."""
    left = BOOKKEEPING | set(skip)
    old, new = _custom_flat(before), _custom_flat(after)
    keys = sorted(k for k in {*old, *new} if k not in left and not k.endswith("Normalized"))
    return tuple(Change(k, old.get(k), new.get(k)) for k in keys if old.get(k) != new.get(k))


def _custom_flat(record: Mapping[str, Any]) -> Mapping[str, Any]:
    """``record`` with its custom fields as fields of their own (``custom.tier``): an update
    names each custom field it changed, like any other field."""
    custom = record.get("custom")
    if "custom" not in record:
        return record
    flat = {k: v for k, v in record.items() if k != "custom"}
    if isinstance(custom, Mapping):
        flat.update({f"custom.{k}": v for k, v in custom.items()})
    return flat


#: Stored fields an update's ``changes`` leave out (they follow from the others).
BOOKKEEPING = frozenset(
    {"_id", "updatedAt", "createdAt", "rev", "writeId", "sortName", "matchKeys"}
    | {"historyOutbox", "eventsOutbox"}
)


@dataclass(frozen=True, kw_only=True)
class Event:
    """What every event carries.  Subclasses set ``type``, ``record`` and ``record_field``
    (the field holding the record's id), and ``subject_field`` when the event is about a
    person."""

    type: ClassVar[str]
    version: ClassVar[int] = 1
    record: ClassVar[RecordType]
    record_field: ClassVar[str]
    subject_field: ClassVar[str | None] = None

    id: ObjectId = field(default_factory=ObjectId)
    at: datetime = field(default_factory=now)
    actor: Actor | None = field(default_factory=acting)
    changes: tuple[Change, ...] = ()

    @property
    def record_type(self) -> RecordType:
        return self.record

    @property
    def record_id(self) -> ObjectId | str:
        return typing.cast(ObjectId | str, getattr(self, self.record_field))

    @property
    def subject(self) -> ObjectId | None:
        return getattr(self, self.subject_field) if self.subject_field else None

    @classmethod
    def data_fields(cls) -> list[dataclasses.Field[Any]]:
        """The type's own fields, stored under ``data`` (the record id is stored once, in
        ``record.id``)."""
        return [f for f in dataclasses.fields(cls) if f.name not in ENVELOPE | {cls.record_field}]

    def to_doc(self) -> dict[str, Any]:
        """The stored document (see :mod:`leadgraph.store.events`), without ``pending``."""
        return {
            "_id": self.id,
            "type": self.type,
            "v": self.version,
            "at": self.at,
            "actor": self.actor.to_doc() if self.actor else None,
            "record": {"type": self.record_type, "id": self.record_id},
            "subject": self.subject,
            "changes": [c.to_doc() for c in self.changes],
            "data": {camel(f.name): getattr(self, f.name) for f in self.data_fields()},
        }


ENVELOPE = frozenset(f.name for f in dataclasses.fields(Event))


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def hook_name(event_type: str) -> str:
    """The plugin hook of an event type: ``contact.updated`` -> ``leadgraph_contact_updated``."""
    return "leadgraph_" + event_type.replace(".", "_")


CATALOGUE: dict[str, type[Event]] = {}
_TYPE_NAME = re.compile(r"^[a-z][a-z_]*\.[a-z_]+$")


def event(cls: type[Event]) -> type[Event]:
    """Register an event type in :data:`CATALOGUE` (one place lists them all)."""
    if not _TYPE_NAME.match(cls.type) or cls.type in CATALOGUE:
        raise ValueError(f"bad or duplicate event type {cls.type!r}")
    CATALOGUE[cls.type] = cls
    return cls


def from_doc(doc: Mapping[str, Any]) -> Event:
    """The typed event of a stored document.  Fields a redaction dropped come back None."""
    cls = CATALOGUE[doc["type"]]
    data = doc.get("data") or {}
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {
        f.name: _typed(hints[f.name], data.get(camel(f.name))) for f in cls.data_fields()
    }
    values[cls.record_field] = doc["record"]["id"]
    changes = tuple(
        Change(c["field"], c.get("old"), c.get("new")) for c in doc.get("changes") or ()
    )
    return cls(
        id=doc["_id"],
        at=doc["at"],
        actor=Actor.from_doc(doc.get("actor")),
        changes=changes,
        **values,
    )


def _typed(hint: Any, value: Any) -> Any:
    """A stored value as its field's type: BSON arrays come back as tuples."""
    if isinstance(value, list) and _is_tuple(hint):
        return tuple(value)
    return value


def _is_tuple(hint: Any) -> bool:
    if typing.get_origin(hint) is tuple:
        return True
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return any(_is_tuple(a) for a in typing.get_args(hint))
    return False


def catalogue() -> Iterator[type[Event]]:
    return iter(CATALOGUE.values())


# ---------------------------------------------------------------- the catalogue, as docs


def _type_name(hint: Any) -> str:
    text = hint.__name__ if isinstance(hint, type) else str(hint)
    text = text.replace("typing.", "").replace("bson.objectid.", "")
    return text.replace("datetime.datetime", "datetime").replace("leadgraph.events.", "")


def catalogue_markdown() -> str:
    """docs/events.md's catalogue (tests/test_events.py checks the file holds it)."""
    lines = []
    for cls in catalogue():
        hints = typing.get_type_hints(cls)
        doc = " ".join((cls.__doc__ or "").split()).replace("``", "`")
        lines += [f"### `{cls.type}` (v{cls.version})", "", doc, ""]
        lines.append(f"- hook: `{hook_name(cls.type)}(event, event_id)`")
        subject = f", subject `{camel(cls.subject_field)}`" if cls.subject_field else ""
        rid = camel(cls.record_field)
        lines.append(f"- record: `{cls.record}` (`record.id` is `{rid}`){subject}")
        for f in cls.data_fields():
            lines.append(f"- `data.{camel(f.name)}`: `{_type_name(hints[f.name])}`")
        lines.append("")
    return "\n".join(lines)
