"""The events of one funnel write of a lead, from the lead before and after it: what the
persist point (:meth:`leadgraph.services.history.History.persist`) stores with the write."""

from __future__ import annotations

from typing import Any

from ..events import Change, Event, LeadScored, LeadStageChanged


def lead_events(
    before: dict[str, Any], after: dict[str, Any], version: str | None, via: list[str]
) -> list[Event]:
    """The events of one funnel write of a lead: ``lead.scored`` when a score or the
    sales-ready flag changed, one ``lead.stage_changed`` per stage it entered (``via``: the
    write's transitions, for entries that do not name theirs)."""
    out: list[Event] = []
    contact = after.get("parentContactId")
    old = {s["model"]: s.get("score") for s in before.get("scores") or []}
    new = {s["model"]: s.get("score") for s in after.get("scores") or []}
    scored = [
        Change(f"scores.{m}", old.get(m), new.get(m))
        for m in dict.fromkeys([*old, *new])
        if old.get(m) != new.get(m)
    ]
    if bool(before.get("salesReady")) != bool(after.get("salesReady")):
        scored.append(Change("salesReady", before.get("salesReady"), after.get("salesReady")))
    if scored:
        out.append(
            LeadScored(
                lead_id=after["_id"],
                contact_id=contact,
                changes=tuple(scored),
                rules_version=version,
                sales_ready=bool(after.get("salesReady")),
            )
        )
    entered = (after.get("stageHistory") or [])[len(before.get("stageHistory") or []) :]
    stage = before.get("stage")
    for entry in entered:
        if entry.get("stage") == stage or entry.get("status"):
            continue
        out.append(
            LeadStageChanged(
                lead_id=after["_id"],
                contact_id=contact,
                from_stage=stage,
                to_stage=entry["stage"],
                transition=entry.get("transition") or (via[-1] if via else "manual"),
                rules_version=entry.get("rulesVersion") or version,
            )
        )
        stage = entry["stage"]
    return out
