"""Import contacts, leads or accounts from CSV or JSON-lines files, through matching: the run.

The file is read and its rows mapped by :mod:`.import_files`; each batch's records are found or
created through the matching service (:mod:`leadgraph.services.matching`), as form capture
finds them, by the batch engine (:mod:`.import_batch`).  Duplicates inside the file and against
the database therefore merge into one record, and a second run of the same file (after a kill,
say) finds every record it had written through the same keys: nothing is lost, nothing is
duplicated.  After each batch the ``imports`` document records the last committed line, so a
rerun resumes there.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from .. import normalize
from ..contracts import PluginFailure
from ..db import in_transaction
from ..errors import UserError
from ..events import Actor as EventActor
from ..events import ContactCreated, Event, acting, acting_as, lead_created
from ..rules.matcher import Entity
from ..store import contacts, imports, leads, match_keys, subscription_lists
from ..store.clock import now
from ..types import PluginManager, Session
from . import dispatch
from .funnel import Funnel
from .history import Cause
from .import_batch import Batcher, Engine, Summary
from .import_files import (
    EMPTY_ROW,
    FORMATS,
    PARSERS,
    Rejected,
    Unmapped,
    count_rows,
    detect_format,
    read_rows,
    shown,
    with_custom,
)
from .matching import Matching
from .privacy import suppressed

__all__ = [
    "BATCH",
    "FORMATS",
    "KINDS",
    "ImportFailed",
    "Summary",
    "count_rows",
    "detect_format",
    "file_id",
    "run_import",
]

log = logging.getLogger("leadgraph.import")

KINDS = ("contacts", "leads", "accounts")
BATCH = 2000


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


class _Batches:
    """The rows of one run of an import, gathered into batches and committed one by one."""

    def __init__(
        self,
        db: AsyncDatabase,
        kind: str,
        summary: Summary,
        batcher: Batcher,
        parse: Callable[[dict[str, Any]], dict[str, Any]],
        unmapped: Unmapped,
        progress: Callable[[int], None] | None,
        pm: PluginManager | None,
    ) -> None:
        self.db, self.kind, self.summary, self.batcher = db, kind, summary, batcher
        self.parse, self.unmapped, self.progress, self.pm = parse, unmapped, progress, pm
        self.pending: list[tuple[int, Any]] = []
        self.rejects: list[dict[str, Any]] = []
        self.skips: list[dict[str, Any]] = []

    def __len__(self) -> int:
        return len(self.pending) + len(self.rejects) + len(self.skips)

    def add(self, line: int, row: dict[str, Any] | None, error: str | None) -> None:
        if error == EMPTY_ROW:
            self.skips.append({"line": line, "reason": EMPTY_ROW})
            return
        if error is None:
            try:
                self.pending.append((line, self.parse(row or {})))
            except Rejected as exc:
                error = str(exc)
        if error is not None:
            self.rejects.append({"line": line, "reason": error})

    async def commit(self, upto: int) -> None:
        summary, pending = self.summary, self.pending
        if pending and self.kind != "accounts":
            await _screen(self.db, self.kind, pending, self.rejects)
        if pending:
            await self.batcher.refuse_incomplete(self.kind, pending, self.rejects)
        # A key this import claimed at or after the batch's first line was claimed by an
        # earlier, interrupted attempt at this very batch: its record counts as created.
        engine = Engine(
            self.batcher.matching, summary.import_id, pending[0][0] if pending else upto
        )
        if pending:
            await getattr(self.batcher, self.kind)(engine, pending, summary)
        summary.rejected += len(self.rejects)
        summary.rejected_rows.extend(self.rejects)
        summary.skipped += len(self.skips)
        summary.skipped_rows.extend(self.skips)
        summary.unmapped_columns = list(self.unmapped.columns)
        rows, self.batcher.rows = [*self.batcher.rows, *engine.events], []
        await _checkpoint(self.db, self.pm, summary, upto, self.rejects, self.skips, rows)
        if self.progress:
            self.progress(len(self))
        pending.clear()
        self.rejects.clear()
        self.skips.clear()


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
    parse = with_custom(PARSERS[kind], kind, funnel.ruleset)
    unmapped = Unmapped(kind, _read_by_matching(matching, kind), funnel.ruleset)
    batches = _Batches(db, kind, summary, batcher, parse, unmapped, progress, funnel.pm)
    last_line = summary.resumed_from_line
    for line, row, error in read_rows(text, fmt):
        if row is not None:
            unmapped.note(row)
        if line <= summary.resumed_from_line:
            if progress:
                progress(1)
            continue
        last_line = line
        batches.add(line, row, error)
        if len(batches) >= batch:
            await batches.commit(line)
    await batches.commit(last_line)
    summary.plugin_failures += await _announce_and_score(db, funnel, import_id, kind)
    summary.plugin_failures = list(dict.fromkeys(summary.plugin_failures))
    await imports.finish(db, import_id)
    summary.lines = last_line
    for rows in (summary.rejected_rows, summary.skipped_rows):
        rows[:] = sorted(rows, key=lambda r: r["line"])[: imports.MAX_REJECTED_KEPT]
    return summary


def _read_by_matching(matching: Matching, kind: str) -> set[str]:
    """The fields the matching strategies of ``kind``'s records read (a column of the file
    they read is not unmapped, though no stored field takes it)."""
    if kind == "accounts":  # accounts have no strategies (domain, else name)
        return set()
    entity: Entity = "contact" if kind == "contacts" else "lead"
    return {f for s in matching.strategies(entity) for f in s.fields}


async def _checkpoint(
    db: AsyncDatabase,
    pm: PluginManager | None,
    summary: Summary,
    upto: int,
    rejects: list[dict[str, Any]],
    skips: list[dict[str, Any]],
    rows: list[Event],
) -> None:
    """The rows up to ``upto`` are written: the checkpoint and the batch's ``import.row``
    events in one transaction, then the events to plugins."""

    async def work(session: Session | None) -> None:
        await imports.checkpoint(
            db,
            summary.import_id,
            upto,
            summary.counts(),
            rejects,
            session,
            skipped=skips,
            unmapped=summary.unmapped_columns,
        )
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
        skipped_rows=list(state.get("skippedRows") or []),
        unmapped_columns=list(state.get("unmappedColumns") or []),
        contacts_created=counts.get("contactsCreated", 0),
        accounts_created=counts.get("accountsCreated", 0),
        lines=int(state.get("committedLine") or 0),
    )


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
