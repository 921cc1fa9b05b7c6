"""The batch engine of an import: one batch's records found or created per kind
(:class:`Batcher`) through the matching service's one find-or-create, batched
(:mod:`leadgraph.services.matching_batch`), tallied into the import's :class:`Summary`.

A row that has no key under its strategy gets the row's own identity ``<file hash>:<line>``
as its key.  Rows of one file matching one record become one record by the survivorship rules.
Leads get a parent contact (matched, or created ``marketingOnly`` from the lead's data);
contacts and leads are linked to accounts by normalised domain, else by name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId

from ..contracts import PluginFailure
from ..events import Event, ImportRow, RecordType
from ..rules.fields import NO_FIELDS, flat_changes, missing_required, with_defaults
from ..rules.matcher import Entity, row_key
from ..store import accounts, contacts, leads
from . import import_events
from .consent import Actor, Consent, ConsentChange
from .form_fields import contact_changes
from .matching import Matching
from .matching_batch import PERSON_FIELDS, Item, ids_by_key


@dataclass
class Summary:
    import_id: str
    kind: str
    created: int = 0
    updated: int = 0
    skipped: int = 0
    rejected: int = 0
    rejected_rows: list[dict[str, Any]] = field(default_factory=list)
    #: rows not imported that are no error (empty rows), ``{line, reason}`` each
    skipped_rows: list[dict[str, Any]] = field(default_factory=list)
    #: the file's columns no field takes and no matching strategy reads, each once
    unmapped_columns: list[str] = field(default_factory=list)
    contacts_created: int = 0
    accounts_created: int = 0
    lines: int = 0
    resumed_from_line: int = 0
    already_done: bool = False
    plugin_failures: list[PluginFailure] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "created": self.created,
            "updated": self.updated,
            "skipped": self.skipped,
            "rejected": self.rejected,
            "contactsCreated": self.contacts_created,
            "accountsCreated": self.accounts_created,
        }


# ---------------------------------------------------------------- matching in batches


class Engine:
    """Finds or creates the records of one batch through the matching service's batched
    find-or-create (:meth:`~leadgraph.services.matching_batch.MatchingCore.resolve_many`),
    collecting the update events of the records it changed."""

    def __init__(self, matching: Matching, import_id: str, first_line: int) -> None:
        self.matching = matching
        self.db = matching.db
        self.import_id = import_id
        self.first_line = first_line
        #: the batch's update events (stored with its checkpoint: :mod:`.import_events`)
        self.events: list[Event] = []

    async def resolve(
        self,
        collection: str,
        items: list[Item],
        new_doc: Callable[[dict[str, Any]], Mapping[str, Any]],
        changes: Callable[[dict[str, Any]], dict[str, Any]] | None,
        *,
        create: bool = True,
    ) -> list[Item]:
        """Items a fuzzy kind already found (``rid`` set) are updated; the others claim their
        first key (or, with ``create`` false, only look it up)."""
        done = await self.matching.resolve_many(
            collection,
            items,
            new_doc,
            changes,
            source=self.import_id,
            first_line=self.first_line,
            create=create,
            before=collection in import_events.UPDATED,
        )
        self.events += import_events.updated(collection, done.before, done.updates)
        return done.items


# ---------------------------------------------------------------- one batch per kind


def _row_key(collection: str, import_id: str, line: int) -> str:
    return row_key(collection, import_id, str(line))


def _tally(summary: Summary, items: list[Item]) -> None:
    for item in items:
        if not item.found:
            summary.skipped += len(item.lines)
        elif item.created:
            summary.created += 1
            summary.updated += len(item.lines) - 1
        else:
            summary.updated += len(item.lines)


class Batcher:
    def __init__(
        self,
        matching: Matching,
        import_id: str,
        form_id: str | None,
        new_lead: Callable[[dict[str, Any]], Mapping[str, Any]],
    ) -> None:
        self.matching, self.import_id, self.form_id = matching, import_id, form_id
        self.db = matching.db
        self.new_lead = new_lead
        self.source = f"import:{import_id}"
        #: the batch's ``import.row`` events, stored with its checkpoint
        self.rows: list[Event] = []

    def record_rows(self, entity: RecordType, items: list[Item]) -> None:
        """An ``import.row`` event for every row of ``items`` that reached a record."""
        for item in items:
            if item.rid is None:
                continue
            contact = item.rid if entity == "contact" else item.insert_only.get("parentContactId")
            self.rows += [
                ImportRow(
                    target_id=item.rid,
                    entity=entity,
                    import_id=self.import_id,
                    line=line,
                    created=item.created and n == 0,
                    contact_id=contact,
                )
                for n, line in enumerate(item.lines)
            ]

    async def accounts_for(
        self, engine: Engine, refs: dict[int, dict[str, Any]], summary: Summary
    ) -> dict[int, ObjectId]:
        items = [
            Item(
                keys=self.matching.account_keys(ref),
                fields={},
                insert_only=dict(ref),
                lines=[line],
            )
            for line, ref in refs.items()
        ]
        keys = {line: item.keys[0] for line, item in zip(refs, items, strict=True)}
        resolved = await engine.resolve("accounts", items, accounts.new_document, None)
        summary.accounts_created += sum(i.created for i in resolved)
        self.rows += import_events.accounts_created(resolved)
        rids = ids_by_key(resolved)
        return {line: rids[k] for line, k in keys.items() if k in rids}

    async def contacts(self, engine: Engine, rows: list[tuple[int, Any]], s: Summary) -> None:
        refs = {line: p["account"] for line, p in rows if p["account"]}
        account_of = await self.accounts_for(engine, refs, s) if refs else {}
        strategy = self.matching.strategy("contact", self.form_id)
        items = []
        consents: list[tuple[int, ConsentChange]] = []
        for line, parsed in rows:
            fields = dict(parsed["contact"])
            change = ConsentChange.of_fields(fields)  # written by the consent service below
            if change:
                consents.append((line, change))
            if line in account_of:
                fields["accountId"] = account_of[line]
            items.append(
                await self.matching.item(
                    "contacts",
                    strategy,
                    {**parsed.get("extra", {}), **fields},
                    _row_key("contacts", self.import_id, line),
                    fields=fields,
                    insert_only={"marketingSource": self.source},
                    lines=[line],
                )
            )
        key_of = {item.lines[0]: item.keys[0] for item in items}
        resolved = await engine.resolve("contacts", items, self.new("contact"), contact_changes)
        _tally(s, resolved)
        self.record_rows("contact", resolved)
        if consents:
            rids = ids_by_key(resolved)
            changes = [(rids[key_of[line]], c) for line, c in consents if key_of[line] in rids]
            sources = {
                rids[key_of[line]]: f"import:{self.import_id} line {line}"
                for line, _ in consents
                if key_of[line] in rids
            }
            actor = Actor(via="import", by=self.import_id, source=f"import:{self.import_id}")
            await Consent(self.db, self.matching.pm).apply_many(changes, actor, sources=sources)

    async def leads(self, engine: Engine, rows: list[tuple[int, Any]], s: Summary) -> None:
        keyed: list[tuple[Item, bool]] = []
        for line, parsed in rows:
            fields = {**parsed["lead"], "lastImportId": self.import_id}
            strategy = self.matching.strategy("lead", fields.get("formId") or self.form_id)
            record = {
                **parsed.get("extra", {}),
                **fields,
                "formId": fields.get("formId") or self.form_id,
            }
            item = await self.matching.item(
                "leads",
                strategy,
                record,
                "",
                fields=fields,
                lines=[line],
            )
            if not item.keys[0]:
                if not strategy.create:
                    s.skipped += 1
                    continue
                item.keys = [_row_key("leads", self.import_id, line)]
            keyed.append((item, strategy.create))
        # "Find and score, never create" strategies: only rows matching an existing lead go on.
        find_only = [item for item, create in keyed if not create]
        if find_only:
            found = await engine.resolve(
                "leads", find_only, self.new_lead, _lead_changes, create=False
            )
            _tally(s, found)
            self.record_rows("lead", found)
        creating = [item for item, create in keyed if create]
        if not creating:
            return
        refs = {line: p["account"] for line, p in rows if p["account"]}
        account_of = await self.accounts_for(engine, refs, s) if refs else {}
        cstrategy = self.matching.strategy("contact", self.form_id)
        people = []
        for item in creating:
            line = item.lines[0]
            person = {k: item.fields[k] for k in PERSON_FIELDS if k in item.fields}
            match = await self.matching.item(
                "contacts",
                cstrategy,
                dict(person),
                _row_key("contacts", self.import_id, line),
                fields={},
                lines=[line],
            )
            person.update(marketingOnly=True, marketingSource=self.source)
            if line in account_of:
                person["accountId"] = account_of[line]
            match.insert_only = person
            people.append(match)
        contact_keys = {p.lines[0]: p.keys[0] for p in people}
        resolved = await engine.resolve("contacts", people, contacts.new_document, None)
        s.contacts_created += sum(i.created for i in resolved)
        contact_ids = ids_by_key(resolved)
        parent_of: dict[str, ObjectId] = {}
        for item in creating:
            line = item.lines[0]
            cid = contact_ids.get(contact_keys[line])
            item.insert_only = {"parentContactId": cid, "parentAccountId": account_of.get(line)}
            if cid is not None:
                parent_of.setdefault(item.keys[0], cid)
        resolved = await engine.resolve("leads", creating, self.new("lead"), _lead_changes)
        _tally(s, resolved)
        self.record_rows("lead", resolved)
        await leads.adopt_many(
            self.db,
            {
                i.rid: parent_of[i.keys[0]]
                for i in resolved
                if i.rid is not None and not i.created and i.keys[0] in parent_of
            },
        )

    async def refuse_incomplete(
        self, kind: str, pending: list[tuple[int, Any]], rejects: list[dict[str, Any]]
    ) -> None:
        """Move out of ``pending`` (into ``rejects``) the rows that would create a record
        without a required custom field (no value, no default); a row that matches an
        existing record need not give it again.  Only reads: before the batch writes."""
        entity = {"contacts": "contact", "leads": "lead"}.get(kind, "account")
        fields = self.matching.custom_fields
        if not any(f.required for f in fields.of(entity)):
            return
        kept: list[tuple[int, Any]] = []
        for line, parsed in pending:
            record = dict(parsed[entity] or {})
            missing = missing_required(fields, entity, {"custom": record.get("custom")})
            if missing and await self._creates(kind, record, parsed):
                names = ", ".join(
                    f"custom.{f.name}" + (f" ({f.label})" if f.label else "") for f in missing
                )
                rejects.append({"line": line, "reason": f"{names}: required for a new {entity}"})
            else:
                kept.append((line, parsed))
        pending[:] = kept

    async def _creates(self, kind: str, record: dict[str, Any], parsed: Any) -> bool:
        """Whether an import row's ``record`` makes a new record (nothing written)."""
        if kind == "accounts":
            keys = self.matching.account_keys(record)
            return not await self.matching.holders(keys) if keys else True
        entity: Entity = "contact" if kind == "contacts" else "lead"
        form_id = record.get("formId") or self.form_id
        strategy = self.matching.strategy(entity, form_id)
        full = {**parsed.get("extra", {}), **record, "formId": form_id}
        return await self.matching.would_create(f"{entity}s", strategy, full)

    def new(self, entity: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
        """A new ``entity`` document of an import row, with its custom fields' defaults."""
        make = {"contact": contacts.new_document, "lead": self.new_lead}.get(
            entity, accounts.new_document
        )
        ruleset = self.matching.ruleset
        fields = ruleset.custom_fields if ruleset is not None else NO_FIELDS
        return lambda f: with_defaults(fields, entity, make(f))

    async def accounts(self, engine: Engine, rows: list[tuple[int, Any]], s: Summary) -> None:
        items = [
            Item(
                keys=self.matching.account_keys(p["account"]),
                fields=dict(p["account"]),
                lines=[line],
            )
            for line, p in rows
        ]
        resolved = await engine.resolve(
            "accounts",
            items,
            self.new("account"),
            lambda f: flat_changes(accounts.apply_fields({}, f)),
        )
        _tally(s, resolved)
        self.record_rows("account", resolved)
        self.rows += import_events.accounts_created(resolved)


def _lead_changes(fields: dict[str, Any]) -> dict[str, Any]:
    return flat_changes(leads.apply_fields({}, {k: v for k, v in fields.items() if k != "topic"}))
