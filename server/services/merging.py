"""Merging duplicate contacts into a survivor, undoing a merge, finding likely duplicates.

A merge (:meth:`Merging.merge`) moves the duplicates' leads, interactions, subscriptions and
match keys to the survivor, fills the survivor's fields by the survivorship rules (the
``survivorship:`` section of the rule files), deletes the duplicates and keeps an audit record
in ``merges`` (the duplicates as they were, the survivor's changed fields before and after);
moved leads and interactions are tagged ``mergedFrom`` so :meth:`Merging.undo` can put them
back.
Everything happens in one transaction with its event (``contact.merged``,
``contact.merge_undone``); then plugins hear it and the leads whose facts changed (the
survivor's, and after an undo the restored contacts') go through the funnel runner.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from .. import normalize
from ..contracts import PluginFailure
from ..db import in_transaction
from ..errors import Conflict, InvalidInput, NotFound
from ..events import Change, ContactMerged, ContactMergeUndone
from ..rules.fields import NO_FIELDS, CustomField, CustomFields
from ..rules.models import MERGED_FIELDS, Policy, Survivorship
from ..rules.survivorship import empty, pick
from ..store import contacts, interactions, leads, match_keys, merges
from ..store.clock import now
from ..types import ContactDoc, PluginManager, Session
from . import dispatch
from .funnel import Funnel
from .history import Cause
from .matching import Matching


def _get(doc: Mapping[str, Any], path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def survive(
    rules: Survivorship,
    survivor: Mapping[str, Any],
    dups: list[dict[str, Any]],
    fields: CustomFields = NO_FIELDS,
) -> dict:
    """The survivor's fields after the merge, as ``{path: value}`` for the changed ones.  The
    live contact custom ``fields`` (``custom.<name>``) keep the survivor's value unless it is
    empty (then the most recently updated duplicate's); a multi-enum is the union of all."""
    newest_first = sorted(dups, key=lambda d: d.get("updatedAt") or d["createdAt"], reverse=True)
    everyone = [survivor, *dups]
    by_update = sorted(everyone, key=lambda d: d.get("updatedAt") or d["createdAt"], reverse=True)
    by_creation = sorted(everyone, key=lambda d: d["createdAt"])
    out: dict[str, Any] = {}
    custom = {f"custom.{f.name}": _custom_policy(f) for f in fields.of("contact")}
    for path in (*MERGED_FIELDS, *custom):
        mine = _get(survivor, path)
        value = pick(
            custom.get(path) or rules.policy(path),
            mine,
            others_newest=[_get(d, path) for d in newest_first],
            newest=[_get(d, path) for d in by_update],
            oldest=[_get(d, path) for d in by_creation],
            everyone=[_get(d, path) for d in everyone],
        )
        if value != mine and not (path in custom and empty(value) and empty(mine)):
            out[path] = value
    if "email" in out:
        out["emailNormalized"] = normalize.email(out["email"]) if out["email"] else None
    if "firstName" in out or "lastName" in out:
        out["sortName"] = normalize.sort_name(
            out.get("firstName", survivor.get("firstName")),
            out.get("lastName", survivor.get("lastName")),
        )
    return out


def _custom_policy(f: CustomField) -> Policy:
    return "union" if f.type == "multi-enum" else "survivor"


def _unsubscribe_wins(
    survivor: Mapping[str, Any], dups: list[dict[str, Any]], changes: dict[str, Any]
) -> dict[str, Any]:
    """A list any of the merged records left stays left: the survivor's ``unsubscribed`` is
    the union of all, and its ``subscriptions`` lose those lists (whatever the survivorship
    rules say about ``subscriptions``)."""
    everyone = [survivor, *dups]
    left = list(dict.fromkeys(n for d in everyone for n in d.get("unsubscribed") or []))
    out: dict[str, Any] = {}
    if left != list(survivor.get("unsubscribed") or []):
        out["unsubscribed"] = left
    subscribed = changes.get("subscriptions", survivor.get("subscriptions") or [])
    kept = [n for n in subscribed if n not in left]
    if kept != list(survivor.get("subscriptions") or []) or "subscriptions" in changes:
        out["subscriptions"] = kept
    return out


def _add_insights(total: dict[str, Any], other: dict[str, Any], sign: int = 1) -> dict[str, Any]:
    counts = dict(total.get("counts") or {})
    for kind, n in (other.get("counts") or {}).items():
        counts[kind] = counts.get(kind, 0) + sign * n
    last = [t for t in (total.get("lastActivityAt"), other.get("lastActivityAt")) if t]
    return {
        "total": int(total.get("total") or 0) + sign * int(other.get("total") or 0),
        "counts": {k: v for k, v in counts.items() if v},
        "lastActivityAt": max(last) if last else None,
    }


@dataclass
class Merged:
    """The survivor after a merge, the merge record, and the plugins that failed afterwards."""

    contact: ContactDoc
    record: dict[str, Any]
    plugin_failures: list[PluginFailure] = field(default_factory=list)


@dataclass
class Unmerged:
    """The survivor and the restored duplicates after an undo, and the plugins that failed."""

    contact: ContactDoc
    restored: list[dict[str, Any]]
    plugin_failures: list[PluginFailure] = field(default_factory=list)


class Merging:
    """Contact merges over one database, with the live survivorship rules."""

    def __init__(
        self, db: AsyncDatabase, funnel: Funnel, matching: Matching, pm: PluginManager | None
    ) -> None:
        self.db = db
        self.funnel = funnel
        self.matching = matching
        self.pm = pm

    @property
    def survivorship(self) -> Survivorship:
        ruleset = self.funnel.ruleset
        return ruleset.survivorship if ruleset is not None else Survivorship()

    @property
    def custom_fields(self) -> CustomFields:
        ruleset = self.funnel.ruleset
        return ruleset.custom_fields if ruleset is not None else NO_FIELDS

    async def merge(
        self, survivor_id: ObjectId, duplicate_ids: list[ObjectId], *, by: str | None = None
    ) -> Merged:
        """Merge ``duplicate_ids`` into ``survivor_id`` (one transaction), then announce
        ``contacts_merged`` and rescore the survivor's open leads.

        :raises InvalidInput: no duplicate, or the survivor among them (nothing written).
        :raises NotFound: the survivor or a duplicate does not exist (nothing written).
        """
        duplicate_ids = list(dict.fromkeys(duplicate_ids))
        if not duplicate_ids:
            raise InvalidInput("duplicateIds", "name at least one duplicate")
        if survivor_id in duplicate_ids:
            raise InvalidInput("duplicateIds", "must not contain the survivor")
        rules = self.survivorship
        merge_id = ObjectId()
        db = self.db

        async def work(
            session: Session | None,
        ) -> tuple[ContactDoc, dict[str, Any], ContactMerged]:
            survivor = await contacts.get(db, survivor_id, session=session)
            if survivor is None:
                raise NotFound("Contact", str(survivor_id))
            dups = await contacts.by_ids_list(db, duplicate_ids, session=session)
            missing = set(duplicate_ids) - {d["_id"] for d in dups}
            if missing:
                raise NotFound("Contact", str(sorted(missing)[0]))
            changes = survive(rules, survivor, dups, self.custom_fields)
            changes.update(_unsubscribe_wins(survivor, dups, changes))
            insights = survivor.get("insights") or {}
            for dup in dups:
                insights = _add_insights(insights, dup.get("insights") or {})
            moved_keys: dict[str, list[str]] = {}
            for dup in dups:
                tag = {"mergeId": merge_id, "contactId": dup["_id"]}
                await merges.move_children(db, dup["_id"], survivor_id, tag, session=session)
                await self.matching.claim_own("contact", dup, session)
                kids = await match_keys.keys_of(db, [dup["_id"]], session=session)
                await match_keys.reassign(db, kids, survivor_id, session=session, alias=True)
                moved_keys[str(dup["_id"])] = kids
            before = {path: _get(survivor, path) for path in changes}
            before["insights"] = survivor.get("insights")
            after = {**changes, "insights": insights, "updatedAt": now()}
            await contacts.set_paths(db, survivor_id, after, session=session)
            await contacts.delete_ids(db, duplicate_ids, session=session)
            record = {
                "_id": merge_id,
                "survivorId": survivor_id,
                "duplicateIds": duplicate_ids,
                "duplicates": dups,
                "before": before,
                "after": changes,
                "movedKeys": moved_keys,
                "by": by,
                "createdAt": now(),
                "undoneAt": None,
            }
            await merges.insert(db, record, session=session)
            merged = await contacts.get(db, survivor_id, session=session)
            assert merged is not None
            done = ContactMerged(
                contact_id=survivor_id,
                merge_id=merge_id,
                merged_ids=tuple(duplicate_ids),
                changes=tuple(
                    Change(p, before.get(p), v)
                    for p, v in sorted(changes.items())
                    if p not in ("emailNormalized", "sortName")
                ),
            )
            await dispatch.append(db, self.pm, [done], session)
            return merged, record, done

        merged, record, done = await in_transaction(db, work)
        failures = await dispatch.deliver(db, self.pm, [done])
        failures += await self._rescore([merged])
        return Merged(merged, record, list(dict.fromkeys(failures)))

    async def undo(self, merge_id: ObjectId) -> Unmerged:
        """Restore a merge's duplicates with their leads, interactions and keys (one
        transaction), then rescore the open leads of the survivor and of the restored contacts.

        :raises NotFound: no such merge.
        :raises Conflict: already undone, the survivor is gone, or a duplicate's id is taken.
        """
        db = self.db

        async def work(
            session: Session | None,
        ) -> tuple[ContactDoc, list[dict[str, Any]], ContactMergeUndone]:
            record = await merges.get(db, merge_id, session=session)
            if record is None:
                raise NotFound("Merge", str(merge_id))
            if record.get("undoneAt"):
                raise Conflict("this merge was already undone")
            survivor = await contacts.get(db, record["survivorId"], session=session)
            if survivor is None:
                raise Conflict("the survivor no longer exists (merged or deleted since)")
            dups = record["duplicates"]
            if await contacts.any_exist(db, record["duplicateIds"], session=session):
                raise Conflict("a duplicate's id is in use again")
            await contacts.insert_documents(db, dups, session=session)
            for dup in dups:
                await merges.move_children_back(db, merge_id, dup["_id"], session=session)
                await match_keys.reassign(
                    db,
                    record["movedKeys"].get(str(dup["_id"]), []),
                    dup["_id"],
                    session=session,
                    alias=False,
                )
            restore: dict[str, Any] = {}
            for path, value in record["after"].items():
                if _get(survivor, path) == value:  # not changed since the merge
                    restore[path] = record["before"].get(path)
            insights = survivor.get("insights") or {}
            for dup in dups:
                insights = _add_insights(insights, dup.get("insights") or {}, sign=-1)
            latest = await interactions.latest_of(db, survivor["_id"], session=session)
            insights["lastActivityAt"] = latest["occurredAt"] if latest else None
            restore.update(insights=insights, updatedAt=now())
            await contacts.set_paths(db, survivor["_id"], restore, session=session)
            await merges.mark_undone(db, merge_id, session=session)
            restored = await contacts.by_ids_list(db, record["duplicateIds"], session=session)
            again = await contacts.get(db, survivor["_id"], session=session)
            assert again is not None
            undone = ContactMergeUndone(
                contact_id=survivor["_id"],
                merge_id=merge_id,
                restored_ids=tuple(record["duplicateIds"]),
            )
            await dispatch.append(db, self.pm, [undone], session)
            return again, restored, undone

        survivor, restored, undone = await in_transaction(db, work)
        failures = await dispatch.deliver(db, self.pm, [undone])
        failures += await self._rescore([survivor, *restored])
        return Unmerged(survivor, restored, failures)

    async def _rescore(self, people: Sequence[Mapping[str, Any]]) -> list[PluginFailure]:
        """Run the open leads of these contacts through the funnel: their facts changed."""
        docs: dict[ObjectId, dict[str, Any]] = {}
        for person in people:
            for doc in await leads.open_of_contact(self.db, person["_id"], person.get("accountId")):
                docs.setdefault(doc["_id"], doc)
        report = await self.funnel.run(list(docs.values()), (), cause=Cause("merge"))
        return report.failures

    async def duplicate_candidates(self, limit: int = 50) -> list[dict[str, Any]]:
        """Groups of likely duplicate contacts: the same key under a contact matching strategy
        (whatever its kind: the matching service decides, as for capture and import), then the
        same name + phone, the same name + account."""
        groups: list[dict[str, Any]] = [
            {"reason": "matching_strategy", **g}
            for g in await self.matching.duplicate_groups("contact")
        ][:limit]
        by_phone: dict[tuple[str, str], list[ObjectId]] = defaultdict(list)
        by_account: dict[tuple[str, ObjectId], list[ObjectId]] = defaultdict(list)
        async for doc in contacts.names_with_phone_or_account(self.db):
            name = (doc.get("sortName") or "").strip()
            if not name:
                continue
            if doc.get("phone") and (phone := normalize.phone(doc["phone"])):
                by_phone[(name, phone)].append(doc["_id"])
            if doc.get("accountId"):
                by_account[(name, doc["accountId"])].append(doc["_id"])
        seen = {frozenset(g["ids"]) for g in groups}
        for reason, buckets in (("name_phone", by_phone), ("name_account", by_account)):
            for (name, other), ids in sorted(buckets.items(), key=lambda kv: str(kv[0])):
                if len(ids) > 1 and frozenset(ids) not in seen:
                    seen.add(frozenset(ids))
                    groups.append({"reason": reason, "key": f"{name} / {other}", "ids": ids})
        return groups[:limit]

    async def of_survivor(self, contact_id: ObjectId, limit: int) -> list[dict[str, Any]]:
        """The latest merges into a contact, newest first."""
        return await merges.of_survivor(self.db, contact_id, limit)
