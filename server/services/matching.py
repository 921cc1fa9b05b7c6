"""Matching as a service: the one place that decides whether a record already exists.

Capture (form submissions, event registrations), import, orphan-lead linking, duplicate
candidates, rule-file tests and record updates all ask this service, so a matching kind —
the built-in ``exact`` (``leadgraph.plugins.matching_exact``) or a partner's — behaves the same
whichever road a record comes by.

- **Strategy**: the rule set's ``matching:`` section picks one per (entity, form); without valid
  rules the defaults of :data:`~leadgraph.rules.ruleset.DEFAULT_MATCHING` apply, with the kinds
  the plugins provide.
- **Key**: the strategy's kind turns a record into normalised values; the values (with the
  strategy's fields and kind, not its name) are the record's key in ``match_keys``, which the
  database keeps unique: a key points at one record.  A kind that offers ``find`` (fuzzy
  matching) is asked first.
- **Find-or-create**: one definition (:mod:`.matching_batch`: ``locate`` finds a record's
  match, ``keyed`` is what a created record carries), one record at a time for capture
  (:meth:`Matching.resolve`), a batch at a time for import and orphan linking
  (:meth:`~.matching_batch.MatchingCore.resolve_many`).
- **Backfill**: records written without keys (by hand, seed data, under other rules) claim the
  keys of every strategy of their entity before an import or orphan linking matches against
  them.
- **Rekey**: when a person edits a record, its keys follow its current values (the old ones are
  released, the new ones claimed); keys a merge moved onto a survivor are *aliases* and stay.
- **Accounts** are linked by normalised domain, else by normalised name (not a rule: accounts
  have no matching strategies); :meth:`Matching.account_keys` computes those keys.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from ..contracts import PluginFailure
from ..db import in_transaction
from ..errors import Conflict
from ..events import ContactUpdated, Event, LeadUpdated, diff
from ..rules.matcher import COLLECTIONS, Entity, signature, stored_path
from ..rules.models import Strategy
from ..store import contacts, leads, match_keys, records
from ..types import Session
from . import dispatch
from .matching_batch import STORED_AS, MatchingCore

#: Work an edit runs in its transaction after the update: the record to return, and events.
Then = Callable[[Any, dict[str, Any]], Awaitable[tuple[dict[str, Any], list[Event]]]]

#: Contact fields the consent service changes (its ``consent.changed`` event reports them).
CONSENT_FIELDS = ("preferences", "consent", "subscriptions", "unsubscribed")


def updated_events(entity: str, before: dict[str, Any], after: dict[str, Any]) -> list[Event]:
    """The ``contact.updated`` / ``lead.updated`` event of an edit (none: nothing changed)."""
    changes = diff(before, after, skip=CONSENT_FIELDS)
    if not changes:
        return []
    if entity == "contact":
        return [ContactUpdated(contact_id=after["_id"], changes=changes)]
    return [
        LeadUpdated(lead_id=after["_id"], contact_id=after.get("parentContactId"), changes=changes)
    ]


@dataclass
class Deferred:
    """What :meth:`Matching.resolve` leaves a transaction's caller to write, so that it writes
    each collection once: the claims of new keys (one ``insert_many``,
    :func:`match_keys.insert_claims`) and the new record of each collection (inserted whole,
    with what the caller adds to it: a contact's first insights)."""

    claims: list[dict[str, Any]] = field(default_factory=list)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Match:
    """How one record was found: the strategy, its fields and normalised values."""

    strategy: str
    kind: str
    fields: list[str]
    values: dict[str, str] | None
    matched: bool
    created: bool
    rules_version: str | None = None  # the rules that chose the strategy
    #: created by the insert of a key this call claimed (not by an upsert by a key's id,
    #: which may bring back a record erased meanwhile); not stored
    inserted: bool = False

    def to_doc(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "inserted"}


class Matching(MatchingCore):
    """The matching of one rule set (None: the defaults) over one database.

    A matching kind that raises stops the operation before anything is written and is
    reported as :class:`~leadgraph.errors.PluginFailed` (GraphQL ``PluginError`` naming it).
    How a match is found and a record created is :class:`MatchingCore`'s, one record at a
    time here (:meth:`resolve`), many at a time there (:meth:`MatchingCore.resolve_many`).
    """

    # ------------------------------------------------------------ one record (capture)

    async def legacy_record(
        self,
        collection: str,
        strategy: Strategy,
        values: dict[str, str],
        session: Session | None = None,
    ) -> dict[str, Any] | None:
        """A record created without match keys (manual entry, seed data) holding ``values``."""
        stored = STORED_AS.get(collection, {})
        query = {stored.get(f, stored_path(f)): v for f, v in values.items()}
        if not query:
            return None
        for doc in await records.oldest_with(self.db, collection, query, session=session):
            if self.values(strategy, doc) == values:
                return doc
        return None

    async def would_create(
        self, collection: str, strategy: Strategy, record: Mapping[str, Any]
    ) -> bool:
        """Whether ``record`` would make a new record under ``strategy`` (nothing written):
        no record a fuzzy kind finds, none holding its key nor written without keys."""
        where = await self.locate(collection, strategy, record)
        if where.rid is not None:
            return False
        if where.key is None:
            return strategy.create
        if await match_keys.lookup(self.db, where.key.id) is not None:
            return False
        legacy = await self.legacy_record(collection, strategy, where.key.values)
        return legacy is None and strategy.create

    async def resolve(
        self,
        collection: str,
        strategy: Strategy,
        record: dict[str, Any],
        new_doc: dict[str, Any],
        changes: dict[str, Any],
        *,
        add_to_set: dict[str, list[Any]] | None = None,
        held: Mapping[str, ObjectId | None] | None = None,
        session: Session | None = None,
        deferred: Deferred | None = None,
    ) -> tuple[dict[str, Any] | None, Match]:
        """Find the record ``strategy`` matches (claiming its key) and update it with
        ``changes``, or create it from ``new_doc`` (unless the strategy never creates).
        ``held``: the holders of keys read already (:meth:`holders_of`), not read again.
        ``session``: in the caller's transaction (capture's: claims and writes at once);
        ``deferred``: a new key's claim and a new record are collected there, for the caller
        to write in that transaction (:class:`Deferred`), instead of written here."""
        where = await self.locate(collection, strategy, record)
        key, rid = where.key, where.rid
        values = key.values if key else None
        new_doc = self.with_defaults(collection, new_doc)
        fresh = False  # this call claimed a new key: the record does not exist yet
        if rid is None and key is not None:
            if held is not None and key.id in held:
                rid = held[key.id]
            else:
                rid = await match_keys.lookup(self.db, key.id, session=session)
            if rid is None:
                unkeyed = await self.legacy_record(collection, strategy, key.values, session)
                if unkeyed is None and not strategy.create:
                    return None, self._match(strategy, values, matched=False, created=False)
                rid, fresh = await self._claim(
                    collection, strategy, key.id, unkeyed, session, deferred
                )
        if rid is None:
            if not strategy.create:
                return None, self._match(strategy, values, matched=False, created=False)
            rid = ObjectId()
        if key is not None:
            new_doc = self.keyed(new_doc, [key.id])
        if fresh:
            doc = await self._insert(collection, rid, new_doc, add_to_set, session, deferred)
            if doc is not None:
                made = self._match(strategy, values, matched=False, created=True)
                made.inserted = True
                return doc, made
        token = ObjectId()
        new_doc = {**new_doc, "createdVia": {**new_doc.get("createdVia", {}), "token": token}}
        try:
            doc = await records.upsert(
                self.db,
                collection,
                rid,
                new_doc,
                changes,
                add_to_set=add_to_set,
                create=strategy.create,
                session=session,
            )
        except records.WriteRace as exc:
            raise Conflict(str(exc)) from None
        if doc is None:
            return None, self._match(strategy, values, matched=False, created=False)
        created = (doc.get("createdVia") or {}).get("token") == token
        return doc, self._match(strategy, values, matched=not created, created=created)

    async def _insert(
        self,
        collection: str,
        rid: ObjectId,
        new_doc: dict[str, Any],
        add_to_set: dict[str, list[Any]] | None,
        session: Session | None,
        deferred: Deferred | None,
    ) -> dict[str, Any] | None:
        """The new record of a key just claimed, inserted (None: a racer upserted it first)
        or left to ``deferred``'s caller."""
        if deferred is None:
            return await records.insert_claimed(
                self.db, collection, rid, new_doc, add_to_set, session=session
            )
        doc = records.claimed_document(rid, new_doc, add_to_set)
        deferred.records[collection] = doc
        return doc

    async def _claim(
        self,
        collection: str,
        strategy: Strategy,
        kid: str,
        unkeyed: dict[str, Any] | None,
        session: Session | None,
        deferred: Deferred | None,
    ) -> tuple[ObjectId, bool]:
        """Claim ``kid`` nobody held for the record without keys holding its values
        (``unkeyed``), else for a new id: the holder's id, and whether it is a new record."""
        proposed = unkeyed["_id"] if unkeyed else ObjectId()
        meta = {"collection": collection, "strategy": strategy.name}
        if deferred is not None and unkeyed is None:
            deferred.claims.append(match_keys.claim_document(kid, proposed, meta))
            return proposed, True
        rid = await match_keys.claim(self.db, kid, proposed, meta, session=session)
        return rid, unkeyed is None and rid == proposed

    def _match(
        self, strategy: Strategy, values: dict[str, str] | None, *, matched: bool, created: bool
    ) -> Match:
        return Match(
            strategy=strategy.name,
            kind=strategy.kind,
            fields=list(strategy.fields),
            values=values,
            matched=matched,
            created=created,
            rules_version=self.version,
        )

    # ------------------------------------------------------------ keys of records

    async def holders_of(
        self, kids: list[str], session: Session | None = None
    ) -> dict[str, ObjectId | None]:
        """The record each key points at (None: nobody holds it), in one read: a capture
        reads its contact's and its lead's key at once and hands them to :meth:`resolve`."""
        found = await match_keys.find_many(self.db, kids, session=session)
        return {k: (found[k]["recordId"] if k in found else None) for k in kids}

    async def backfill(self, collection: str) -> int:
        """Claim the keys of records written without them (manual entry, seed data, or keyed
        under other strategies) under every strategy of the collection whose kind gives keys,
        plugin kinds included; ``matchKeyedOn`` remembers which signatures a record claimed.
        Returns how many records were looked at."""
        if collection == "accounts":
            sigs = ["domain", "name"]

            def keys_of(doc: dict[str, Any]) -> list[str]:
                return self.account_keys({"domain": doc.get("domain"), "name": doc.get("name")})
        else:
            entity: Entity = "contact" if collection == "contacts" else "lead"
            strategies = self.strategies(entity)
            sigs = [signature(s) for s in strategies]

            def keys_of(doc: dict[str, Any]) -> list[str]:
                found = (self.key(collection, s, doc) for s in strategies)
                return [k.id for k in found if k is not None]

        done = 0
        batch: list[dict[str, Any]] = []

        async def flush() -> None:
            nonlocal done
            claims: dict[str, tuple[ObjectId, dict[str, Any]]] = {}
            for doc in batch:
                for kid in keys_of(doc):
                    claims.setdefault(
                        kid, (doc["_id"], {"collection": collection, "backfill": True})
                    )
            await match_keys.claim_many(self.db, claims)
            await records.mark_keyed(self.db, collection, [d["_id"] for d in batch], sigs)
            done += len(batch)
            batch.clear()

        async for doc in records.not_keyed_on(self.db, collection, sigs):
            batch.append(doc)
            if len(batch) >= 1000:
                await flush()
        if batch:
            await flush()
        return done

    # ------------------------------------------------------------ edits by hand

    async def edit(
        self,
        entity: Entity,
        oid: ObjectId,
        fields: dict[str, Any],
        then: Then | None = None,
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None, list[PluginFailure]]:
        """A person changed a contact's or lead's ``fields``: store them, make the record's
        keys follow (:meth:`rekey`) and append its ``contact.updated`` / ``lead.updated``
        event, in one transaction; then plugins hear it.  ``then(session, after)`` runs in
        that transaction too and gives the record returned and its own events (the consent
        service's part of a contact edit).  The record before and after (None, None: no such
        record) and the plugins that failed.

        :raises Conflict: the new values are another record's key (nothing is written).
        """
        store = contacts if entity == "contact" else leads

        async def work(
            session: Session | None,
        ) -> tuple[dict[str, Any] | None, dict[str, Any] | None, list[Event]]:
            before = await store.get(self.db, oid, session=session)
            if before is None:
                return None, None, []
            after = await store.update(self.db, oid, fields, session=session)
            if after is None:
                return None, None, []
            await self.rekey(entity, before, after, session)
            found = updated_events(entity, before, after)
            if then is not None:
                after, more = await then(session, after)
                found += more
            await dispatch.append(self.db, self.pm, found, session)
            return before, after, found

        before, after, found = await in_transaction(self.db, work)
        return before, after, await dispatch.deliver(self.db, self.pm, found)

    async def rekey(
        self,
        entity: Entity,
        before: dict[str, Any],
        after: dict[str, Any],
        session: Session | None = None,
    ) -> None:
        """Make a record's keys follow its values after a person edited it (``before`` ->
        ``after``): claim the keys of the new values, release those of the old ones unless a
        merge made them aliases.  Call it in the edit's transaction.

        :raises Conflict: another record holds a new key (name it; nothing is written).
        """
        collection = COLLECTIONS[entity]
        rid = before["_id"]
        old = self.keys(entity, before)
        new = self.keys(entity, after)
        added = [k for k in new if k not in old]
        dropped = [k for k in old if k not in new]
        if added:
            held = await match_keys.find_many(self.db, added, session=session)
            for kid, claim in held.items():
                if claim["recordId"] != rid:
                    raise Conflict(
                        f"another {entity} ({claim['recordId']}) already has "
                        f"{_describe(new[kid].values)}"
                    )
            meta = {"collection": collection, "rekeyed": True}
            try:
                await match_keys.claim_all(
                    self.db, [k for k in added if k not in held], rid, meta, session=session
                )
            except DuplicateKeyError:
                raise Conflict(
                    f"another {entity} took {_describe(new[added[0]].values)} meanwhile"
                ) from None
        if dropped:
            await match_keys.release_values(self.db, rid, dropped, session=session)

    async def claim_own(
        self, entity: Entity, record: dict[str, Any], session: Session | None = None
    ) -> None:
        """Claim, for ``record``, its keys under every strategy of ``entity`` that nobody holds
        (a record entered by hand or imported under other rules has none yet).  A merge calls it
        for each duplicate before moving the duplicate's keys onto the survivor as aliases, so
        the merged-away values find the survivor whichever road a record comes by later."""
        keys = list(self.keys(entity, record))
        held = await match_keys.find_many(self.db, keys, session=session)
        meta = {"collection": COLLECTIONS[entity], "merged": True}
        await match_keys.claim_all(
            self.db, [k for k in keys if k not in held], record["_id"], meta, session=session
        )

    # ------------------------------------------------------------ duplicates

    async def duplicate_groups(self, entity: Entity = "contact") -> list[dict[str, Any]]:
        """Groups of records sharing a key under a strategy of ``entity`` (every kind that
        gives keys, plugin kinds included), whether or not they claimed it: records entered by
        hand, or matched before a strategy existed.  ``{strategy, key, ids}`` each.  Kinds see
        the strategies' fields only."""
        strategies = self.strategies(entity)
        collection = COLLECTIONS[entity]
        buckets: dict[tuple[str, str], list[ObjectId]] = defaultdict(list)
        names = {signature(s): s.name for s in strategies}
        # a kind compares the strategy's fields: read only those
        projection = {stored_path(f): 1 for s in strategies for f in s.fields}
        async for doc in records.scan(self.db, collection, projection):
            for s in strategies:
                key = self.key(collection, s, doc)
                if key is not None:
                    buckets[(signature(s), key.id)].append(doc["_id"])
        groups = []
        for (sig, kid), ids in sorted(buckets.items()):
            if len(ids) > 1:
                values = kid.split(":", 2)[2]
                groups.append({"strategy": names[sig], "key": values, "ids": ids})
        return groups


def _describe(values: dict[str, str]) -> str:
    return ", ".join(f"{field} {value!r}" for field, value in values.items())
