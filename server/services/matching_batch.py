"""The matching service's find-or-create, one definition for every road.

:class:`MatchingCore` (the base of :class:`~leadgraph.services.matching.Matching`) says how a
record's match is found (:meth:`~MatchingCore.locate`: a fuzzy kind's ``find`` first, else the
strategy's key) and what a record created through matching carries
(:meth:`~MatchingCore.keyed`: the signatures of the keys it claimed).  Capture uses them one
record at a time (``Matching.resolve``); import and orphan linking use them many at a time
(:meth:`~MatchingCore.resolve_many`): each record's first key is claimed with one unordered bulk
insert into ``match_keys``, keys someone already holds are read back with a few ``$in`` finds,
new records are inserted in bulk and matched ones updated in bulk.  Several rows matching one
record become one record by the survivorship rules (:func:`leadgraph.rules.survivorship.
survive_rows`), as a merge of duplicates would fill it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from ..contracts import PluginFailure
from ..errors import PluginFailed
from ..plugin_manager import PluginError
from ..rules.evaluate import failure_of
from ..rules.fields import NO_FIELDS, CustomFields, with_defaults
from ..rules.matcher import Key, Matcher, signature_of_key
from ..rules.models import Strategy, Survivorship
from ..rules.ruleset import RuleSet
from ..rules.survivorship import survive_rows
from ..store import match_keys, records
from ..store.clock import now
from ..types import PluginManager

#: The first key of a record a fuzzy kind found (never claimed: ``find`` decides each time).
FOUND = "found:"

#: The record type of each collection matching creates records in.
ENTITY_OF: Mapping[str, str] = {"contacts": "contact", "leads": "lead", "accounts": "account"}

#: Stored normalised fields a record created without keys (manual entry, seed data) is found by.
STORED_AS: dict[str, dict[str, str]] = {
    "contacts": {"email": "emailNormalized"},
    "leads": {"email": "emailNormalized"},
}

#: The fields of a person a lead (imported, or an orphan) gives its new contact.
PERSON_FIELDS = ("email", "firstName", "lastName", "jobTitle")


@dataclass
class Located:
    """Where a record's match is: the record a fuzzy kind found, and the strategy's key."""

    rid: ObjectId | None
    key: Key | None


@dataclass
class Item:
    """One record to find or create, with every source row (file line) merged into it."""

    keys: list[str]
    fields: dict[str, Any]
    lines: list[int]
    insert_only: dict[str, Any] = field(default_factory=dict)
    rid: ObjectId | None = None
    created: bool = False
    found: bool = True


@dataclass
class Resolved:
    """What :meth:`MatchingCore.resolve_many` did: the items (deduplicated, ``rid`` and
    ``created`` set), the updates of matched records and, when asked, those records before."""

    items: list[Item]
    updates: list[tuple[ObjectId, dict[str, Any]]]
    before: dict[ObjectId, dict[str, Any]]


def signatures(keys: list[str]) -> list[str]:
    """What a record's keys compare (its ``matchKeyedOn``): not a fuzzy find, not a row key."""
    return [
        signature_of_key(k)
        for k in keys
        if not k.startswith(FOUND) and signature_of_key(k) != "row"
    ]


def ids_by_key(items: list[Item]) -> dict[str, ObjectId]:
    """Every key of the resolved items, to its record's id."""
    return {k: i.rid for i in items if i.rid is not None for k in i.keys}


def dedupe(items: list[Item], rules: Survivorship) -> list[Item]:
    """Merge items sharing any key (the source's own duplicates) into one each: the richest
    item's keys first (its first key is the one claimed), the fields by the survivorship
    rules over the rows in source order (:func:`survive_rows`)."""
    slot: dict[str, int] = {}
    groups: list[list[Item]] = []
    for item in sorted(items, key=lambda i: -len(i.keys)):
        at = next((slot[k] for k in item.keys if k in slot), None)
        if at is None:
            at = len(groups)
            groups.append([item])
        else:
            groups[at].append(item)
        for k in item.keys:
            slot.setdefault(k, at)
    return [_fold(group, rules) for group in groups]


def _fold(group: list[Item], rules: Survivorship) -> Item:
    holder = group[0]
    if len(group) == 1:
        return holder
    in_order = sorted(group, key=lambda i: min(i.lines))
    holder.fields = survive_rows(rules, [i.fields for i in in_order])
    insert_only: dict[str, Any] = {}
    for item in in_order:
        for name, value in item.insert_only.items():
            insert_only.setdefault(name, value)
    holder.insert_only = insert_only
    holder.lines = sorted(line for i in group for line in i.lines)
    holder.keys = list(dict.fromkeys(k for i in group for k in i.keys))
    return holder


class MatchingCore(Matcher):
    """Matching over one database: finding a record's match and creating records."""

    def __init__(
        self, db: AsyncDatabase, ruleset: RuleSet | None, pm: PluginManager | None
    ) -> None:
        super().__init__(ruleset, pm)
        self.db = db

    @property
    def survivorship(self) -> Survivorship:
        """The rules' survivorship policies (the defaults without rules)."""
        return self.ruleset.survivorship if self.ruleset is not None else Survivorship()

    def values(self, strategy: Strategy, record: Mapping[str, Any]) -> dict[str, str] | None:
        try:
            return super().values(strategy, record)
        except PluginError as exc:
            raise PluginFailed(failure_of(exc)) from exc

    async def fuzzy_match(
        self, collection: str, strategy: Strategy, record: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """The record a fuzzy kind (one with ``find``) picks for ``record``; None otherwise."""
        provided = self.kind(strategy)
        finder = getattr(provided.value, "find", None)
        if finder is None:
            return None
        try:
            found: dict[str, Any] | None = await finder(self.db[collection], record, strategy)
        except Exception as exc:
            failure = PluginFailure(
                provided.plugin,
                f"matching kind {strategy.kind!r} find",
                f"{type(exc).__name__}: {exc}",
            )
            raise PluginFailed(failure) from exc
        return found

    async def locate(
        self, collection: str, strategy: Strategy, record: Mapping[str, Any]
    ) -> Located:
        """How ``record`` is matched under ``strategy``: its key, and the record a fuzzy kind
        (one with ``find``) picks for it, asked first."""
        key = self.key(collection, strategy, record)
        found = await self.fuzzy_match(collection, strategy, record)
        return Located(found["_id"] if found else None, key)

    @staticmethod
    def keyed(new_doc: Mapping[str, Any], keys: list[str]) -> dict[str, Any]:
        """A new record's document as matching creates it: with the signatures of its keys."""
        return {**new_doc, "matchKeyedOn": signatures(keys)}

    @property
    def custom_fields(self) -> CustomFields:
        """The rules' custom fields (none without rules)."""
        return self.ruleset.custom_fields if self.ruleset is not None else NO_FIELDS

    def with_defaults(self, collection: str, new_doc: Mapping[str, Any]) -> dict[str, Any]:
        """A new record of ``collection`` with its custom fields' defaults: every record
        matching creates (a form's, an import's, an orphan lead's contact) gets them."""
        return with_defaults(self.custom_fields, ENTITY_OF[collection], new_doc)

    async def item(
        self,
        collection: str,
        strategy: Strategy,
        record: dict[str, Any],
        fallback: str,
        **item: Any,
    ) -> Item:
        """The batch item of one record (:meth:`locate`): the record a fuzzy kind finds for
        it, else its key under ``strategy`` (``fallback`` when it has none)."""
        where = await self.locate(collection, strategy, record)
        if where.rid is not None:
            return Item(keys=[f"{FOUND}{where.rid}"], rid=where.rid, **item)
        return Item(keys=[where.key.id if where.key else fallback], **item)

    async def claim_many(
        self, claims: dict[str, tuple[ObjectId, dict[str, Any]]]
    ) -> tuple[dict[str, ObjectId], dict[str, dict[str, Any]]]:
        """Claim many keys at once: ``(won, held)`` (see :func:`match_keys.claim_many`)."""
        return await match_keys.claim_many(self.db, claims)

    async def holders(self, kids: list[str]) -> dict[str, dict[str, Any]]:
        return await match_keys.find_many(self.db, kids)

    async def resolve_many(
        self,
        collection: str,
        items: list[Item],
        new_doc: Callable[[dict[str, Any]], Mapping[str, Any]],
        changes: Callable[[dict[str, Any]], dict[str, Any]] | None,
        *,
        source: str,
        first_line: int,
        create: bool = True,
        before: bool = False,
    ) -> Resolved:
        """Find or create the records of ``items`` with a constant number of round trips
        (the records of a source written without keys claim theirs first: :meth:`backfill`).

        Items sharing a key become one (:func:`dedupe`).  Items a fuzzy kind found (``rid``
        set) are updated; the others claim their first key for a new id (or, with ``create``
        false, only look it up).  A key claimed by ``source`` (stored as the claim's
        ``importId``) at or after ``first_line`` was claimed by an interrupted attempt at
        this very batch: its record counts as created.  ``before``: read the matched records
        as they were, for their update events."""
        items = dedupe(items, self.survivorship)
        meta = {"collection": collection, "importId": source}
        found = {i.keys[0]: {"recordId": i.rid} for i in items if i.rid is not None}
        keyed = [i for i in items if i.rid is None]
        if create:
            claims = {i.keys[0]: (ObjectId(), {**meta, "line": i.lines[0]}) for i in keyed}
            won, held = await self.claim_many(claims)
        else:
            won, held = {}, await self.holders([i.keys[0] for i in keyed])
        held.update(found)
        inserts: list[dict[str, Any]] = []
        updates: list[tuple[ObjectId, dict[str, Any]]] = []
        t = now()
        for item in items:
            primary = item.keys[0]
            if primary in won:
                item.rid, item.created = won[primary], True
                made = self.with_defaults(collection, new_doc({**item.fields, **item.insert_only}))
                doc = self.keyed(made, item.keys)
                doc.update(_id=item.rid, createdVia={"source": "import", "importId": source})
                inserts.append(doc)
                continue
            claim = held.get(primary)
            if claim is None:
                item.found = False
                continue
            item.rid = claim["recordId"]
            ours = claim.get("importId") == source
            item.created = ours and claim.get("line", 0) >= first_line
            sets = changes(item.fields) if changes else {}
            if sets or ours:
                made = self.with_defaults(collection, new_doc({**item.fields, **item.insert_only}))
                doc = self.keyed(made, item.keys)
                upd: dict[str, Any] = {"$set": {**sets, "updatedAt": t}}
                upd["$setOnInsert"] = records.set_on_insert(doc, upd["$set"], ())
                assert item.rid is not None
                updates.append((item.rid, upd))
        was = await records.by_ids(self.db, collection, [r for r, _ in updates]) if before else {}
        await records.write_batch(self.db, collection, inserts, updates, create=create)
        secondary = {
            k: (i.rid, {**meta, "line": i.lines[0]})
            for i in items
            if i.rid is not None
            for k in i.keys[1:]
            if not k.startswith(FOUND)
        }
        if secondary:
            await self.claim_many(secondary)
        return Resolved(items, updates, was)
