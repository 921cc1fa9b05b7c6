"""What one funnel run did (:class:`Report`) and a lead it could not score
(:class:`LeadFailure`): shared by the funnel and the batched rescore."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId

from ..contracts import PluginFailure

#: What counts as a lead changed, in the words ``leadgraph rescore`` and every preview of it
#: (``leadgraph rules diff``, ``rescore --dry-run``, ``previewRules``) say it: the one
#: definition :func:`leadgraph.services.preview.changed` counts by.
CHANGED_MEANS = (
    "changed: a model's score, grade or sales-ready flag, the lead's sales-ready flag or stage"
)


def changed_leads(n: int, *, would: bool = False) -> str:
    """``"N leads changed (changed: ...)"``, or ``"N leads would change (changed: ...)"`` for a
    preview: the same count in the same words (:data:`CHANGED_MEANS`)."""
    noun = "lead" if n == 1 else "leads"
    return f"{n} {noun} {'would change' if would else 'changed'} ({CHANGED_MEANS})"


@dataclass
class LeadFailure:
    lead_id: ObjectId
    failure: PluginFailure
    #: Further failures for the same lead (a second scoring model's plugin, a guard).
    more: list[PluginFailure] = field(default_factory=list)


@dataclass
class Report:
    """What one funnel run did: the leads after it, and what failed."""

    leads: list[dict[str, Any]] = field(default_factory=list)
    changed: int = 0
    unchanged: int = 0
    failed: list[LeadFailure] = field(default_factory=list)
    event_failures: list[PluginFailure] = field(default_factory=list)
    #: Accounts whose roll-ups the run's score changes touch (see services/rollup.py).
    accounts: set[ObjectId] = field(default_factory=set)

    @property
    def processed(self) -> int:
        """How many leads the run evaluated (changed, unchanged or failed)."""
        return self.changed + self.unchanged + len(self.failed)

    @property
    def failures(self) -> list[PluginFailure]:
        """Every plugin failure of the run, each once."""
        found = [g for f in self.failed for g in [f.failure, *f.more]]
        return list(dict.fromkeys(found + self.event_failures))

    def merge(self, other: Report) -> None:
        self.leads += other.leads
        self.changed += other.changed
        self.unchanged += other.unchanged
        self.failed += other.failed
        self.event_failures += other.event_failures
        self.accounts |= other.accounts

    def lead(self, oid: ObjectId) -> dict[str, Any] | None:
        return next((d for d in self.leads if d["_id"] == oid), None)
