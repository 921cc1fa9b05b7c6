"""Built-in lifecycle actions and guards.

Actions: ``set`` (``with: {field: value}``: set lead fields in the same write as the move).
Guards: ``has_parent`` (the lead is linked to a contact or an account).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leadgraph import hookimpl
from leadgraph.contracts import InteractionReads, StageAction, StageGuard

# Managed by the lifecycle and the funnel runner (``rev`` guards its writes).
PROTECTED = {
    "_id",
    "stage",
    "stageHistory",
    "scores",
    "status",
    "rev",
    "funnelVersion",
    "scoreError",
    "scoreErrors",
}


class SetFields:
    """``{action: set, with: {salesReady: false}}``."""

    def check(self, options: dict[str, Any]) -> None:
        if not options:
            raise ValueError("`with` must name at least one lead field to set")
        bad = PROTECTED & set(options)
        if bad:
            raise ValueError(f"cannot set {', '.join(sorted(bad))} (managed by the lifecycle)")

    def __call__(
        self, lead: dict[str, Any], transition: Any, options: dict[str, Any]
    ) -> dict[str, Any]:
        return dict(options)


class HasParent:
    """The lead is linked to a contact or an account (reads no interactions)."""

    reads = InteractionReads()
    facts = ("lead.parentContactId", "lead.parentAccountId")

    def __call__(self, facts: Mapping[str, Any]) -> bool:
        lead = facts.get("lead") or {}
        return bool(lead.get("parentContactId") or lead.get("parentAccountId"))


has_parent = HasParent()


@hookimpl
def leadgraph_stage_actions() -> dict[str, StageAction]:
    return {"set": SetFields()}


@hookimpl
def leadgraph_stage_guards() -> dict[str, StageGuard]:
    return {"has_parent": has_parent}
