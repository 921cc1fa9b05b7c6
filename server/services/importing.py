"""Import contacts, leads or accounts from CSV or JSON-lines files, through matching.

Rows are processed in batches, matched by the matching service
(:mod:`leadgraph.services.matching`) as form capture matches them.  Each record's match key
(the strategy's, whatever its kind, or for a row that has none, the row's own identity
``<file hash>:<line>``; a fuzzy kind's ``find`` is asked first) is claimed with one unordered
bulk insert into ``match_keys``; keys someone already holds are read back with a few ``$in``
finds.  New records are then inserted in bulk, matched ones updated in bulk.  Duplicates inside
the file and against the database therefore merge into one record, and a second run of the same
file (after a kill, say) finds every record it had written through the same keys: nothing is
lost, nothing is duplicated.  After each batch the ``imports`` document records the last
committed line, so a rerun resumes there.  Leads get a parent contact (matched, or created
``marketingOnly`` from the lead's data); contacts and leads are linked to accounts by
normalised domain, else by name.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from .. import normalize
from ..contracts import CONSENT_LEVELS, CONTACT_ROLES, PluginFailure
from ..db import in_transaction
from ..errors import UserError
from ..events import Actor as EventActor
from ..events import (
    ContactCreated,
    Event,
    ImportRow,
    RecordType,
    acting,
    acting_as,
    lead_created,
)
from ..rules.matcher import row_key, signature_of_key
from ..rules.models import Strategy
from ..store import accounts, contacts, imports, leads, match_keys, records, subscription_lists
from ..store._base import now
from ..types import PluginManager, Session
from . import dispatch, import_events
from .consent import Actor, Consent, ConsentChange
from .form_fields import contact_changes
from .funnel import Funnel
from .history import Cause
from .matching import Matching
from .privacy import suppressed

log = logging.getLogger("leadgraph.import")

KINDS = ("contacts", "leads", "accounts")
FORMATS = ("csv", "jsonl")
BATCH = 2000

# Column names, compared lower-case without punctuation, to stored field names.
COLUMNS = {
    "email": "email",
    "emailaddress": "email",
    "firstname": "firstName",
    "lastname": "lastName",
    "phone": "phone",
    "phonenumber": "phone",
    "jobtitle": "jobTitle",
    "title": "jobTitle",
    "role": "role",
    "marketingsource": "marketingSource",
    "company": "companyName",
    "companyname": "companyName",
    "account": "accountName",
    "accountname": "accountName",
    "website": "domain",
    "domain": "domain",
    "topic": "topic",
    "formid": "formId",
    "form": "formId",
    "marketingcontextkind": "contextKind",
    "marketingcontextname": "contextName",
    "name": "name",
    "industry": "industry",
    "country": "country",
    "numberofemployees": "numberOfEmployees",
    "employees": "numberOfEmployees",
    "annualrevenue": "annualRevenue",
    "allowbulkemail": "allowBulkEmail",
    "allowemail": "allowEmail",
    "allowprefill": "allowPrefill",
    "trackemail": "trackEmail",
    "consent": "consent",
    "consentlevel": "consent",
    "subscriptions": "subscriptions",
}
BOOLEANS = {
    "true": True,
    "yes": True,
    "1": True,
    "y": True,
    "false": False,
    "no": False,
    "0": False,
    "n": False,
}
CONTEXT_KINDS = ("product", "offer", "campaign", "event")
PERSON_FIELDS = ("email", "firstName", "lastName", "jobTitle")
MAX_NUMBER = 2**63 - 1  # the largest integer MongoDB stores


class Rejected(ValueError):
    """A row that cannot be imported; the message is the reason reported with its line."""


@dataclass
class Summary:
    import_id: str
    kind: str
    created: int = 0
    updated: int = 0
    skipped: int = 0
    rejected: int = 0
    rejected_rows: list[dict[str, Any]] = field(default_factory=list)
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


# ---------------------------------------------------------------- reading


def detect_format(name: str) -> str:
    lower = name.lower()
    if lower.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    return "csv"


MAX_ROW_CHARS = 65_536
"""The longest row imported (characters, separators included): a record of this domain is a
few hundred; a longer row is rejected with its line number, the rest of the file imported."""

# The csv module refuses a field longer than its process-wide limit (128 KiB by default) by
# raising in the middle of the file; rows are measured against MAX_ROW_CHARS instead, so the
# limit only has to let any field of an accepted upload through.
csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))


def read_rows(text: str, fmt: str) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """``(line, row, error)`` for each record; blank lines are skipped.  A row that cannot be
    read, or longer than :data:`MAX_ROW_CHARS`, comes with its error and no row."""
    too_long = f"longer than {MAX_ROW_CHARS} characters"
    if fmt == "jsonl":
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            if len(line) > MAX_ROW_CHARS:
                yield number, None, too_long
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, None, f"not valid JSON: {exc.msg}"
                continue
            except (ValueError, RecursionError):  # e.g. nesting deeper than Python recurses
                yield number, None, "not valid JSON: nested too deeply"
                continue
            if not isinstance(row, dict):
                yield number, None, "not a JSON object"
                continue
            yield number, row, None
        return
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        return
    names = [h.strip() for h in header]
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield reader.line_num, None, f"not valid CSV: {exc}"
            continue
        number = reader.line_num
        if not any(v.strip() for v in values):
            continue
        if sum(len(v) + 1 for v in values) > MAX_ROW_CHARS:
            yield number, None, too_long
            continue
        if len(values) > len(names):
            yield number, None, f"{len(values)} values for {len(names)} columns"
            continue
        yield number, dict(zip(names, values, strict=False)), None


def shown(value: Any, limit: int = 40) -> str:
    """A value as a rejection reason quotes it: JSON (what the client sent), cut to
    ``limit`` characters."""
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


#: Columns that take a list (a JSON-lines row may give one); every other column takes a value.
LIST_COLUMNS = frozenset({"subscriptions"})


def _columns(row: dict[str, Any]) -> dict[str, Any]:
    """The row's known columns; an object (or a list, where the column takes one value)
    given for a column is refused, as ``submitForm`` refuses it."""
    out: dict[str, Any] = {}
    for name, value in row.items():
        key = COLUMNS.get("".join(ch for ch in str(name).lower() if ch.isalnum()))
        if key is None:
            continue
        if isinstance(value, dict) or (isinstance(value, list) and key not in LIST_COLUMNS):
            raise Rejected(f"{key}: must be a single value, not {shown(value)}")
        if isinstance(value, str):
            value = value.strip()
            if not value:
                continue
        if value is None:
            continue
        out[key] = value
    return out


def _extra(row: dict[str, Any]) -> dict[str, Any]:
    """The row's other columns (by their own names): seen by the matching strategies (a
    strategy over ``externalId``, say), not stored."""
    out: dict[str, Any] = {}
    for name, value in row.items():
        if COLUMNS.get("".join(ch for ch in str(name).lower() if ch.isalnum())) is not None:
            continue
        if isinstance(value, str):
            value = value.strip()
        if value not in (None, ""):
            out[str(name).strip()] = value
    return out


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    parsed = BOOLEANS.get(str(value).strip().lower())
    if parsed is None:
        raise Rejected(f"{name}: {shown(value)} is not true or false")
    return parsed


def _number(name: str, value: Any, kind: type) -> Any:
    if isinstance(value, bool):
        raise Rejected(f"{name}: {shown(value)} is not a number")
    try:
        number = kind(str(value).replace(",", "")) if not isinstance(value, int | float) else value
        number = kind(number)
    except (ValueError, OverflowError):
        raise Rejected(f"{name}: {shown(value)} is not a number") from None
    if not math.isfinite(number):
        raise Rejected(f"{name}: {shown(value)} is not a number")
    if abs(number) > MAX_NUMBER:
        raise Rejected(f"{name}: must be at most {MAX_NUMBER}")
    if number < 0:
        raise Rejected(f"{name}: must not be negative")
    return number


def _email(cols: dict[str, Any]) -> None:
    if "email" in cols:
        try:
            normalize.email(str(cols["email"]))
        except normalize.InvalidValue as exc:
            raise Rejected(f"email: {exc}") from None
        cols["email"] = str(cols["email"])


def contact_row(row: dict[str, Any]) -> dict[str, Any]:
    cols = _columns(row)
    _email(cols)
    if not (cols.get("email") or cols.get("lastName")):
        raise Rejected("a contact needs an email or a lastName")
    fields: dict[str, Any] = {}
    for name in ("firstName", "lastName", "email", "phone", "jobTitle", "marketingSource"):
        if name in cols:
            fields[name] = str(cols[name])
    if "role" in cols:
        if cols["role"] not in CONTACT_ROLES:
            raise Rejected(f"role: must be one of {', '.join(CONTACT_ROLES)}")
        fields["role"] = cols["role"]
    prefs = {
        name: _bool(name, cols[name])
        for name in ("allowBulkEmail", "allowEmail", "allowPrefill", "trackEmail")
        if name in cols
    }
    if prefs:
        fields["preferences"] = prefs
    if "consent" in cols:
        if cols["consent"] not in CONSENT_LEVELS:
            raise Rejected(f"consent: must be one of {', '.join(CONSENT_LEVELS)}")
        fields["consent"] = {"level": cols["consent"]}
    if "subscriptions" in cols:
        subs = cols["subscriptions"]
        items = subs if isinstance(subs, list) else str(subs).replace(";", ",").split(",")
        fields["subscriptions"] = [str(s).strip() for s in items if str(s).strip()]
    return {"contact": fields, "account": _account_ref(cols), "extra": _extra(row)}


def _account_ref(cols: dict[str, Any]) -> dict[str, Any] | None:
    name = cols.get("accountName") or cols.get("companyName")
    domain = cols.get("domain")
    if domain is not None:
        domain = normalize.domain(str(domain))
        if "." not in domain:
            raise Rejected(f"domain: {shown(cols['domain'])} is not a domain name")
    if not (name or domain):
        return None
    return {"name": str(name) if name else (domain or ""), "domain": domain}


LEAD_COLUMNS = (
    "topic",
    "formId",
    "email",
    "firstName",
    "lastName",
    "companyName",
    "jobTitle",
    "marketingSource",  # `sales`: starts at sales acceptance with the shipped rules
)


def lead_row(row: dict[str, Any]) -> dict[str, Any]:
    cols = _columns(row)
    _email(cols)
    fields: dict[str, Any] = {}
    for name in LEAD_COLUMNS:
        if name in cols:
            fields[name] = str(cols[name])
    if "contextKind" in cols or "contextName" in cols:
        kind = str(cols.get("contextKind", "campaign")).lower()
        if kind not in CONTEXT_KINDS:
            raise Rejected(f"marketingContextKind: must be one of {', '.join(CONTEXT_KINDS)}")
        if not cols.get("contextName"):
            raise Rejected("marketingContextName: is required with marketingContextKind")
        fields["marketingContext"] = {"kind": kind, "name": str(cols["contextName"])}
    if not (fields.get("email") or fields.get("lastName") or fields.get("companyName")):
        raise Rejected("a lead needs an email, a lastName or a companyName")
    if not (fields.get("topic") or fields.get("marketingContext")):
        fields["topic"] = fields.get("formId") or "import"
    return {"lead": fields, "account": _account_ref(cols), "extra": _extra(row)}


def account_row(row: dict[str, Any]) -> dict[str, Any]:
    cols = _columns(row)
    name = cols.get("name") or cols.get("accountName") or cols.get("companyName")
    if not name:
        raise Rejected("an account needs a name")
    ref = _account_ref({**cols, "accountName": name})
    assert ref is not None
    fields: dict[str, Any] = {"name": str(name)}
    if ref["domain"]:
        fields["domain"] = ref["domain"]
    for col in ("industry", "country"):
        if col in cols:
            fields[col] = str(cols[col])
    if "numberOfEmployees" in cols:
        fields["numberOfEmployees"] = _number("numberOfEmployees", cols["numberOfEmployees"], int)
    if "annualRevenue" in cols:
        fields["annualRevenue"] = _number("annualRevenue", cols["annualRevenue"], float)
    return {"account": fields}


PARSERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "contacts": contact_row,
    "leads": lead_row,
    "accounts": account_row,
}


# ---------------------------------------------------------------- matching in batches


@dataclass
class Item:
    """One record to find or create, with every file line merged into it."""

    keys: list[str]
    fields: dict[str, Any]
    lines: list[int]
    insert_only: dict[str, Any] = field(default_factory=dict)
    rid: ObjectId | None = None
    created: bool = False
    found: bool = True

    def merge(self, other: Item) -> None:
        for name, value in other.fields.items():
            if isinstance(value, dict) and isinstance(self.fields.get(name), dict):
                self.fields[name] = {**self.fields[name], **value}
            else:
                self.fields[name] = value
        for name, value in other.insert_only.items():
            self.insert_only.setdefault(name, value)
        self.lines.extend(other.lines)
        self.keys.extend(k for k in other.keys if k not in self.keys)


def dedupe(items: list[Item]) -> list[Item]:
    """Merge items sharing any key (the file's own duplicates); richer keys first."""
    by_key: dict[str, Item] = {}
    out: list[Item] = []
    for item in sorted(items, key=lambda i: -len(i.keys)):
        holder = next((by_key[k] for k in item.keys if k in by_key), None)
        if holder is None:
            out.append(item)
            holder = item
        else:
            holder.merge(item)
        for k in item.keys:
            by_key.setdefault(k, holder)
    return out


class Engine:
    """Finds or creates the records of one batch with a constant number of round trips."""

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
        new_doc: Callable[[dict[str, Any]], dict[str, Any]],
        changes: Callable[[dict[str, Any]], dict[str, Any]] | None,
        *,
        create: bool = True,
    ) -> list[Item]:
        """Items a fuzzy kind already found (``rid`` set) are updated; the others claim their
        first key (or, with ``create`` false, only look it up)."""
        items = dedupe(items)
        meta = {"collection": collection, "importId": self.import_id}
        found = {i.keys[0]: {"recordId": i.rid} for i in items if i.rid is not None}
        keyed = [i for i in items if i.rid is None]
        if create:
            claims = {i.keys[0]: (ObjectId(), {**meta, "line": i.lines[0]}) for i in keyed}
            won, held = await self.matching.claim_many(claims)
        else:
            won, held = {}, await self.matching.holders([i.keys[0] for i in keyed])
        held.update(found)
        inserts: list[dict[str, Any]] = []
        updates: list[tuple[ObjectId, dict[str, Any]]] = []
        t = now()
        for item in items:
            primary = item.keys[0]
            if primary in won:
                item.rid, item.created = won[primary], True
                doc = new_doc({**item.fields, **item.insert_only})
                doc.update(
                    _id=item.rid,
                    matchKeyedOn=_signatures(item.keys),
                    createdVia={"source": "import", "importId": self.import_id},
                )
                inserts.append(doc)
                continue
            claim = held.get(primary)
            if claim is None:
                item.found = False
                continue
            item.rid = claim["recordId"]
            ours = claim.get("importId") == self.import_id
            item.created = ours and claim.get("line", 0) >= self.first_line
            sets = changes(item.fields) if changes else {}
            if sets or ours:
                doc = new_doc({**item.fields, **item.insert_only})
                doc.update(matchKeyedOn=_signatures(item.keys))
                upd: dict[str, Any] = {"$set": {**sets, "updatedAt": t}}
                upd["$setOnInsert"] = records.set_on_insert(doc, upd["$set"], ())
                assert item.rid is not None
                updates.append((item.rid, upd))
        reported = updates if collection in import_events.UPDATED else []
        before = await records.by_ids(self.db, collection, [r for r, _ in reported])
        await records.write_batch(self.db, collection, inserts, updates, create=create)
        self.events += import_events.updated(collection, before, reported)
        secondary = {
            k: (i.rid, {**meta, "line": i.lines[0]})
            for i in items
            if i.rid is not None
            for k in i.keys[1:]
            if not k.startswith(FOUND)
        }
        if secondary:
            await self.matching.claim_many(secondary)
        return items


#: The first key of a record a fuzzy kind found (never claimed: ``find`` decides each time).
FOUND = "found:"


def _signatures(keys: list[str]) -> list[str]:
    return [
        signature_of_key(k)
        for k in keys
        if not k.startswith(FOUND) and signature_of_key(k) != "row"
    ]


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


def _rids(items: list[Item]) -> dict[str, ObjectId]:
    return {k: i.rid for i in items if i.rid is not None for k in i.keys}


async def match_item(
    matching: Matching,
    collection: str,
    strategy: Strategy,
    record: dict[str, Any],
    fallback: str,
    **item: Any,
) -> Item:
    """The batch item of one record: the record a fuzzy kind finds for it, else its key under
    ``strategy`` (``fallback`` when it has none)."""
    if matching.finds(strategy):
        found = await matching.fuzzy_match(collection, strategy, record)
        if found is not None:
            return Item(keys=[f"{FOUND}{found['_id']}"], rid=found["_id"], **item)
    key = matching.key(collection, strategy, record)
    return Item(keys=[key.id if key else fallback], **item)


class Batcher:
    def __init__(
        self,
        matching: Matching,
        import_id: str,
        form_id: str | None,
        new_lead: Callable[[dict[str, Any]], dict[str, Any]],
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
        rids = _rids(resolved)
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
                await match_item(
                    self.matching,
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
        resolved = await engine.resolve("contacts", items, contacts.new_document, contact_changes)
        _tally(s, resolved)
        self.record_rows("contact", resolved)
        if consents:
            rids = _rids(resolved)
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
            item = await match_item(
                self.matching,
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
            match = await match_item(
                self.matching,
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
        contact_ids = _rids(resolved)
        parent_of: dict[str, ObjectId] = {}
        for item in creating:
            line = item.lines[0]
            cid = contact_ids.get(contact_keys[line])
            item.insert_only = {"parentContactId": cid, "parentAccountId": account_of.get(line)}
            if cid is not None:
                parent_of.setdefault(item.keys[0], cid)
        resolved = await engine.resolve("leads", creating, self.new_lead, _lead_changes)
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
            "accounts", items, accounts.new_document, lambda f: accounts.apply_fields({}, f)
        )
        _tally(s, resolved)
        self.record_rows("account", resolved)
        self.rows += import_events.accounts_created(resolved)


def _lead_changes(fields: dict[str, Any]) -> dict[str, Any]:
    return leads.apply_fields({}, {k: v for k, v in fields.items() if k != "topic"})


# ---------------------------------------------------------------- the run


def file_id(kind: str, fmt: str, form_id: str | None, data: bytes) -> str:
    """An import's identity: what it holds (``kind``), how its text is read (``fmt``), whose
    matching strategies apply (``form_id``) and the text itself.  Sending the same file again
    resumes (or reports) that import; the same text read another way is another import."""
    digest = hashlib.sha256()
    for part in (kind, fmt, form_id or ""):
        digest.update(part.encode() + b"\0")
    digest.update(data)
    return f"{kind}-{digest.hexdigest()[:32]}"


class ImportFailed(Exception):
    """An import stopped: the rows up to ``committed_line`` stay imported, the record says
    ``failed`` with ``error``, and running the same import again resumes after that line."""

    def __init__(self, import_id: str, committed_line: int, error: str) -> None:
        super().__init__(f"import {import_id} failed after line {committed_line}: {error}")
        self.import_id = import_id
        self.committed_line = committed_line
        self.error = error


async def run_import(
    db: AsyncDatabase,
    kind: str,
    data: bytes,
    *,
    name: str = "upload",
    fmt: str | None = None,
    form_id: str | None = None,
    batch: int = BATCH,
    progress: Callable[[int], None] | None = None,
    restart: bool = False,
    funnel: Funnel,
    matching: Matching,
) -> Summary:
    """Import ``data`` (the file's bytes); resumes an interrupted or failed import of the same
    file (same kind, format and form).

    New leads start at the lifecycle's initial stage; afterwards the ``funnel`` scores the
    leads the import created or updated, and plugins hear of the records it created
    (``Summary.plugin_failures`` lists the plugins that failed: the rows stay imported).

    :raises ImportFailed: the import stopped (its record says ``failed``; run it again).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    fmt = fmt or detect_format(name)
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    import_id = file_id(kind, fmt, form_id, data)
    state = await imports.get(db, import_id)
    if state is not None and state.get("status") == "done" and not restart:
        out = _summary(import_id, kind, state)
        out.already_done = True
        return out
    if state is None or restart:
        state = {
            "_id": import_id,
            "kind": kind,
            "name": name,
            "format": fmt,
            "formId": form_id,
            "committedLine": 0,
            "counts": Summary(import_id, kind).counts(),
            "rejectedRows": [],
            "status": "running",
            "startedAt": now(),
            "updatedAt": now(),
        }
        await imports.start(db, state)
    else:
        await imports.resume(db, import_id)
    was = acting()
    try:
        with acting_as(EventActor(was.name or import_id, was.role, "import")):
            return await _import(
                db,
                kind,
                data.decode("utf-8-sig", errors="replace"),
                state,
                fmt=fmt,
                form_id=form_id,
                batch=batch,
                progress=progress,
                funnel=funnel,
                matching=matching,
            )
    except Exception as exc:
        failed = await _failed(db, import_id, exc)
        if failed is exc:
            raise
        raise failed from exc


async def _failed(db: AsyncDatabase, import_id: str, exc: Exception) -> Exception:
    """Record that the import stopped on ``exc`` and drop the match keys it claimed for rows
    it never wrote; what to raise: ``exc`` itself when it is already a typed error for the
    caller (a plugin that failed) or when even that record cannot be written (the database is
    gone: the import stays resumable), else an :class:`ImportFailed`."""
    error = f"{type(exc).__name__}: {exc}"[:500]
    log.error("import %s failed: %s", import_id, error, exc_info=exc)
    try:
        await imports.fail(db, import_id, error)
        committed = int(((await imports.get(db, import_id)) or {}).get("committedLine") or 0)
        await match_keys.release_unwritten(db, import_id, committed)
    except Exception:
        log.exception("import %s: could not record the failure", import_id)
        return exc
    return exc if isinstance(exc, UserError) else ImportFailed(import_id, committed, error)


async def _import(
    db: AsyncDatabase,
    kind: str,
    text: str,
    state: dict[str, Any],
    *,
    fmt: str,
    form_id: str | None,
    batch: int,
    progress: Callable[[int], None] | None,
    funnel: Funnel,
    matching: Matching,
) -> Summary:
    """The rows of an import after its checkpoint, batch by batch, then the funnel and the
    events; the import's record says ``done`` at the end."""
    import_id = str(state["_id"])
    summary = _summary(import_id, kind, state)
    summary.resumed_from_line = int(state.get("committedLine") or 0)
    if kind != "accounts":
        await matching.backfill("contacts")
    if kind == "leads":
        await matching.backfill("leads")
    await matching.backfill("accounts")

    batcher = Batcher(matching, import_id, form_id, funnel.new_lead)
    handle = getattr(batcher, kind)
    parse = PARSERS[kind]
    pending: list[tuple[int, Any]] = []
    rejects: list[dict[str, Any]] = []
    skipped_blank = 0
    last_line = summary.resumed_from_line

    async def commit(upto: int) -> None:
        nonlocal skipped_blank
        # A key this import claimed at or after the batch's first line was claimed by an
        # earlier, interrupted attempt at this very batch: its record counts as created.
        if pending and kind != "accounts":
            await _screen(db, kind, pending, rejects)
        engine = Engine(matching, import_id, pending[0][0] if pending else upto)
        if pending:
            await handle(engine, pending, summary)
        summary.rejected += len(rejects)
        summary.rejected_rows.extend(rejects)
        rows, batcher.rows = [*batcher.rows, *engine.events], []
        await _checkpoint(db, funnel.pm, summary, upto, rejects, rows)
        if progress:
            progress(len(pending) + len(rejects) + skipped_blank)
        pending.clear()
        rejects.clear()
        skipped_blank = 0

    for line, row, error in read_rows(text, fmt):
        if line <= summary.resumed_from_line:
            if progress:
                progress(1)
            continue
        last_line = line
        if error is None:
            try:
                pending.append((line, parse(row or {})))
            except Rejected as exc:
                error = str(exc)
        if error is not None:
            rejects.append({"line": line, "reason": error})
        if len(pending) + len(rejects) >= batch:
            await commit(line)
    await commit(last_line)
    summary.plugin_failures += await _announce_and_score(db, funnel, import_id, kind)
    summary.plugin_failures = list(dict.fromkeys(summary.plugin_failures))
    await imports.finish(db, import_id)
    summary.lines = last_line
    summary.rejected_rows = sorted(summary.rejected_rows, key=lambda r: r["line"])[
        : imports.MAX_REJECTED_KEPT
    ]
    return summary


async def _checkpoint(
    db: AsyncDatabase,
    pm: PluginManager | None,
    summary: Summary,
    upto: int,
    rejects: list[dict[str, Any]],
    rows: list[Event],
) -> None:
    """The rows up to ``upto`` are written: the checkpoint and the batch's ``import.row``
    events in one transaction, then the events to plugins."""

    async def work(session: Session | None) -> None:
        counts = summary.counts()
        await imports.checkpoint(db, summary.import_id, upto, counts, rejects, session)
        await dispatch.append(db, pm, rows, session)

    await in_transaction(db, work)
    summary.plugin_failures += await dispatch.deliver(db, pm, rows)


SUPPRESSED = "suppressed: this person's data was erased on request"


async def _screen(
    db: AsyncDatabase, kind: str, pending: list[tuple[int, Any]], rejects: list[dict[str, Any]]
) -> None:
    """Move out of ``pending`` (into ``rejects``) the rows of erased people (a suppressed
    email: an import never brings them back) and contact rows naming subscription lists that
    are not active (an import never makes a list up)."""
    part = "contact" if kind == "contacts" else "lead"
    emails = {
        line: normalize.email(p[part]["email"]) for line, p in pending if p[part].get("email")
    }
    gone = await suppressed(db, list(emails.values()))
    names = [n for _, p in pending for n in p[part].get("subscriptions") or []]
    found = await subscription_lists.by_names(db, names)
    kept: list[tuple[int, Any]] = []
    for line, parsed in pending:
        unknown = [
            n
            for n in parsed[part].get("subscriptions") or []
            if (found.get(n) or {}).get("status") != "active"
        ]
        if emails.get(line) in gone:
            rejects.append({"line": line, "reason": SUPPRESSED})
        elif unknown:
            reason = f"subscriptions: no active subscription list named {shown(unknown[0])}"
            rejects.append({"line": line, "reason": reason[:200]})
        else:
            kept.append((line, parsed))
    pending[:] = kept


def _summary(import_id: str, kind: str, state: dict[str, Any]) -> Summary:
    counts = state.get("counts") or {}
    return Summary(
        import_id=import_id,
        kind=kind,
        created=counts.get("created", 0),
        updated=counts.get("updated", 0),
        skipped=counts.get("skipped", 0),
        rejected=counts.get("rejected", 0),
        rejected_rows=list(state.get("rejectedRows") or []),
        contacts_created=counts.get("contactsCreated", 0),
        accounts_created=counts.get("accountsCreated", 0),
        lines=int(state.get("committedLine") or 0),
    )


def count_rows(data: bytes, fmt: str) -> int:
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    return max(0, lines - (1 if fmt == "csv" else 0))


async def _announce_and_score(
    db: AsyncDatabase, funnel: Funnel, import_id: str, kind: str
) -> list[PluginFailure]:
    """Tell plugins of the contacts the import created, then run the leads it created or
    updated through the funnel (``created`` fires for the new ones), batch by batch."""
    failures: list[PluginFailure] = []
    if kind in ("contacts", "leads"):
        async for chunk in contacts.created_by_import(db, import_id, BATCH):
            created = [
                ContactCreated(
                    contact_id=c["_id"],
                    source="import",
                    email=c.get("email"),
                    account_id=c.get("accountId"),
                )
                for c in chunk
            ]
            failures += await dispatch.record(db, funnel.pm, created)
    if kind == "leads":
        async for chunk in leads.batches(db, {"lastImportId": import_id}, BATCH):
            new = {
                d["_id"] for d in chunk if (d.get("createdVia") or {}).get("importId") == import_id
            }
            made = [lead_created(d, "import") for d in chunk if d["_id"] in new]
            failures += await dispatch.record(db, funnel.pm, made)
            report = await funnel.run(
                chunk, (), created=new, cause=Cause("import", reason=import_id)
            )
            failures += report.failures
    return list(dict.fromkeys(failures))
