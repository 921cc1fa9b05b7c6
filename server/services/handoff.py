"""The hand-off to sales: owners, "sales accepted", stage fields and the admin's override.

- **Owner**: ``assignLead`` gives an open lead an owner (a salesperson's name; by default the
  caller's API key name).  Assigned while the lead is at the lifecycle's acceptance stage
  (``accept_at``, default ``sales_acceptance``) and not yet accepted, it is also recorded as
  *sales accepted*.
- **Sales accepted**: a person moving a lead into the acceptance stage (``moveLeadStage``, an
  admin's override, or creating a lead that starts there) accepts it in the same write: the
  owner is the one named, else the lead's, else the caller; ``salesAccepted {owner, by, at}``
  is set and the stage history gets an entry ``transition: sales_accepted``.  A lead that
  reaches the stage automatically (its score) waits there, unaccepted, until ``assignLead``.
  Moved out of the stage by hand, it is no longer accepted.
- **Stage fields**: a stage may declare fields (``lifecycle.stages[].fields``: string, number,
  date, enum; required or not).  A person moving a lead into the stage gives them in
  ``fields``; they are checked against the declaration (unknown, wrong type, missing required:
  ``BAD_USER_INPUT`` naming ``fields.<name>``, nothing written) and stored under
  ``stageFields.<stage>``; ``setLeadStageFields`` records them for the lead's current stage
  (a lead that arrived automatically, or notes taken later).  Automatic moves record none
  and check none.
- **Override**: an admin may move a lead to any stage, whatever the transitions and guards,
  with a reason; the stage history marks the entry ``override: true``.

Every stage move goes through :meth:`Funnel.move_by_hand` (the funnel's one persist path);
``assignLead`` and stage fields are revision-guarded writes through the same persist point,
each with its event (``lead.assigned``, ``lead.updated``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from ..contracts import PluginFailure
from ..documents import stage_entry
from ..errors import Conflict, InvalidInput
from ..events import Event, LeadAssigned, LeadUpdated, diff
from ..rules.evaluate import applied
from ..rules.models import Lifecycle, Stage, StageField
from ..rules.ruleset import RuleSet
from ..store.clock import now as db_now
from ..types import LeadDoc, PluginManager, StageEntry
from .funnel import Funnel, Refused
from .history import Cause, Write

MAX_TEXT = 10_000  # characters of a string stage field (call notes)
SALES_ACCEPTED = "sales_accepted"


# ---------------------------------------------------------------- stage fields (pure)


def _typed(decl: StageField, value: Any) -> Any:
    """``value`` as stored for a field of ``decl``'s type; raises ValueError saying why not."""
    if decl.type == "string":
        if not isinstance(value, str):
            raise ValueError(f"must be a string, got {type(value).__name__}")
        if len(value) > MAX_TEXT:
            raise ValueError(f"must be at most {MAX_TEXT} characters")
        return value
    if decl.type == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"must be a number, got {type(value).__name__}")
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value
    if decl.type == "date":
        try:
            day = date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
        except ValueError:
            day = None
        if day is None:
            raise ValueError(f"must be a date as YYYY-MM-DD, got {value!r}")
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    if value not in decl.values:  # enum
        raise ValueError(f"must be one of: {', '.join(decl.values)}; got {value!r}")
    return value


def check_stage_fields(
    stage: Stage, values: Mapping[str, Any] | None, stored: Mapping[str, Any]
) -> dict[str, Any]:
    """The stage's field values after a person gave ``values`` (merged over ``stored``).

    :raises InvalidInput: every unknown field, value of the wrong type and missing required
        field, each at ``fields.<name>``.
    """
    errors: list[tuple[str, str]] = []
    out = dict(stored)
    if values is not None and not isinstance(values, Mapping):
        raise InvalidInput("fields", "must be an object of field name -> value")
    for name, value in (values or {}).items():
        decl = stage.field(name)
        if decl is None:
            known = ", ".join(f.name for f in stage.fields) or "none"
            errors.append((f"fields.{name}", f"stage {stage.name!r} has no such field; {known}"))
            continue
        if value is None:
            out.pop(name, None)
            continue
        try:
            out[name] = _typed(decl, value)
        except ValueError as exc:
            errors.append((f"fields.{name}", str(exc)))
    failed = {path for path, _ in errors}
    for decl in stage.fields:
        path = f"fields.{decl.name}"
        if decl.required and out.get(decl.name) in (None, "") and path not in failed:
            errors.append((path, f"is required at stage {stage.name!r}"))
    if errors:
        raise InvalidInput(errors)
    return out


def shown_value(value: Any) -> Any:
    """A stored stage field value as clients read it (dates as YYYY-MM-DD)."""
    return value.date().isoformat() if isinstance(value, datetime) else value


# ---------------------------------------------------------------- sales accepted (pure)


def acceptance(
    ruleset: RuleSet,
    lead: Mapping[str, Any],
    stage: str,
    *,
    owner: str | None,
    by: str | None,
    at: datetime,
) -> tuple[dict[str, Any], list[StageEntry]]:
    """The fields and stage-history entry recording that a person accepted the lead into the
    acceptance ``stage`` (nothing when ``stage`` is not it): the owner is ``owner``, else the
    lead's, else ``by``."""
    lc = ruleset.lifecycle
    if lc is None or stage != lc.acceptance_stage:
        return {}, []
    who = owner or lead.get("owner") or by
    fields = {"owner": who, "salesAccepted": {"owner": who, "by": by, "at": at}}
    entry = stage_entry(
        stage,
        at,
        reason="sales accepted",
        by=by,
        transition=SALES_ACCEPTED,
        rules_version=ruleset.version,
        owner=who,
    )
    return fields, [entry]


def accept_new(ruleset: RuleSet | None, doc: LeadDoc, by: str | None) -> None:
    """A lead a person creates that starts at the acceptance stage (``start_at``) is accepted
    by its creator: updates the new document in place."""
    if ruleset is None or by is None:
        return
    fields, entries = acceptance(
        ruleset, doc, doc["stage"], owner=doc.get("owner"), by=by, at=doc["createdAt"]
    )
    if entries:
        doc["owner"], doc["salesAccepted"] = fields["owner"], fields["salesAccepted"]
    doc["stageHistory"] = [*doc.get("stageHistory", []), *entries]


# ---------------------------------------------------------------- the service


class Handoff:
    """Owners, acceptance, stage fields and overrides over one database and rule set."""

    def __init__(self, db: AsyncDatabase, funnel: Funnel, pm: PluginManager | None) -> None:
        self.db = db
        self.funnel = funnel
        self.pm = pm

    def _lifecycle(self) -> tuple[RuleSet, Lifecycle]:
        ruleset = self.funnel.ruleset
        if ruleset is None or ruleset.lifecycle is None:
            raise Conflict("no valid rules with a lifecycle are loaded (see rulesStatus)")
        return ruleset, ruleset.lifecycle

    async def move(
        self,
        doc: dict[str, Any],
        to: str,
        *,
        by: str | None,
        reason: str | None,
        fields: Mapping[str, Any] | None = None,
        owner: str | None = None,
        override: bool = False,
    ) -> tuple[dict[str, Any], list[PluginFailure]]:
        """Move a lead by hand (or, ``override``, to any stage) with the target stage's
        ``fields``; entering the acceptance stage accepts it (``owner``, else the lead's,
        else ``by``).

        :raises InvalidInput: bad stage fields (nothing written).
        :raises lifecycle.InvalidTransition, Refused, PluginError: see ``move_by_hand``.
        """
        ruleset, lc = self._lifecycle()
        t = db_now()

        def extra(stage: str) -> tuple[dict[str, Any], list[StageEntry]]:
            target = lc.stage(stage)
            assert target is not None
            out: dict[str, Any] = {}
            stored = (doc.get("stageFields") or {}).get(stage) or {}
            if fields or any(f.required for f in target.fields):
                values = check_stage_fields(target, fields, stored)
                if values != stored:
                    out[f"stageFields.{stage}"] = values
            accepted, entries = acceptance(ruleset, doc, stage, owner=owner, by=by, at=t)
            out.update(accepted)
            if not accepted and doc.get("salesAccepted"):
                out["salesAccepted"] = None  # left the acceptance stage
            return out, entries

        return await self.funnel.move_by_hand(
            doc,
            to,
            by=by,
            reason=reason,
            override=override,
            extra=extra,
            also=lambda after: assigned(doc, after, always=False),
        )

    async def record_fields(self, doc: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
        """Record field values of the open lead's current stage (merged over those stored).

        :raises InvalidInput: bad stage fields; :raises Refused: the lead is closed, or changed
            meanwhile (nothing written).
        """
        _, lc = self._lifecycle()
        if doc.get("status", "open") != "open":
            raise Refused(f"the lead is {doc['status']}")
        stage = lc.stage(doc.get("stage") or "")
        if stage is None:
            raise Refused(f"the lead's stage {doc.get('stage')!r} is not in the lifecycle")
        stored = (doc.get("stageFields") or {}).get(stage.name) or {}
        fields = check_stage_fields(stage, values, stored)
        update = {
            "$set": {f"stageFields.{stage.name}": fields, "updatedAt": db_now()},
            "$inc": {"rev": 1},
        }
        after = applied(doc, update)
        changes = diff(doc, after, skip=("stageHistory",))
        found: list[Event] = [
            LeadUpdated(lead_id=doc["_id"], contact_id=doc.get("parentContactId"), changes=changes)
        ]
        await self._write(doc, update, after, None, found)
        return after

    async def assign(
        self, doc: dict[str, Any], owner: str, *, by: str | None
    ) -> tuple[dict[str, Any], list[PluginFailure]]:
        """Give an open lead ``owner``; at the acceptance stage and not yet accepted, it is
        accepted too.

        :raises Refused: the lead is closed, or changed meanwhile (nothing written).
        """
        if doc.get("status", "open") != "open":
            raise Refused(f"the lead is {doc['status']}; only an open lead gets an owner")
        t = db_now()
        fields: dict[str, Any] = {"owner": owner, "updatedAt": t}
        entries: list[StageEntry] = []
        ruleset = self.funnel.ruleset
        if ruleset is not None and not doc.get("salesAccepted"):
            stage = doc.get("stage") or ""
            accepted, entries = acceptance(ruleset, doc, stage, owner=owner, by=by, at=t)
            fields.update(accepted)
        update: dict[str, Any] = {"$set": fields, "$inc": {"rev": 1}}
        if entries:
            update["$push"] = {"stageHistory": {"$each": entries}}
        after = applied(doc, update)
        return after, await self._write(doc, update, after, by, assigned(doc, after, always=True))

    async def _write(
        self,
        doc: dict[str, Any],
        update: dict[str, Any],
        after: dict[str, Any],
        by: str | None,
        found: list[Event],
    ) -> list[PluginFailure]:
        """Store a person's change of a lead through the funnel's persist point (rev-guarded,
        with its history and ``found`` events), then hand the events to plugins.

        :raises Refused: the lead changed meanwhile (nothing written).
        """
        write = Write(doc, update, after, Cause("hand", by=by), events=found)
        if await self.funnel.history.persist([write], db_now()):
            raise Refused("the lead changed meanwhile; read it again")
        return await self.funnel.announce([write])


def assigned(before: dict[str, Any], after: dict[str, Any], *, always: bool) -> list[Event]:
    """``lead.assigned`` when the owner was set (``always``), changed, or the lead was
    accepted."""
    accepted = after.get("salesAccepted") not in (None, before.get("salesAccepted"))
    if not (always or accepted or after.get("owner") != before.get("owner")):
        return []
    return [
        LeadAssigned(
            lead_id=after["_id"],
            contact_id=after.get("parentContactId"),
            owner=after.get("owner"),
            previous_owner=before.get("owner"),
            accepted=accepted,
        )
    ]
