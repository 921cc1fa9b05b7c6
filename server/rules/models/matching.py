"""The ``matching`` section: strategies that decide that a new record already exists, and
which strategy a form uses."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .base import Name, Rule


class Strategy(Rule):
    """A matching strategy: which fields decide that a new record already exists."""

    name: Name
    entity: Literal["contact", "lead"]
    kind: str = Field(default="exact", description="A matching kind provided by a plugin.")
    fields: list[str] = Field(min_length=1, description="Record fields compared, camelCase.")
    create: bool = Field(
        default=True, description="False: find and score existing records, never create one."
    )
    description: str = ""
    options: dict[str, Any] = Field(default_factory=dict)


class FormAssignment(Rule):
    form: str = Field(description="A marketing form (landing page) id.")
    contact: str | None = Field(default=None, description="Contact strategy for this form.")
    lead: str | None = Field(default=None, description="Lead strategy for this form.")


class MatchingDefaults(Rule):
    contact: str
    lead: str


class MatchingRules(Rule):
    strategies: list[Strategy] = Field(min_length=1)
    defaults: MatchingDefaults
    forms: list[FormAssignment] = Field(default_factory=list)
    link_orphan_leads: bool = Field(
        default=True,
        description="A lead created with neither a parent contact nor a parent account gets "
        "a contact at once (seed 001's recommended setup): the contact strategy finds an "
        "existing contact by the lead's own data, else a `marketingOnly` contact is created. "
        "`false` leaves new orphan leads for `linkOrphanLeads`.",
    )

    def strategy(self, name: str) -> Strategy | None:
        return next((s for s in self.strategies if s.name == name), None)

    def _for(self, entity: str, form_id: str | None) -> Strategy:
        for assignment in self.forms:
            if form_id is not None and assignment.form == form_id:
                chosen = getattr(assignment, entity)
                if chosen:
                    found = self.strategy(chosen)
                    if found is not None:
                        return found
        found = self.strategy(getattr(self.defaults, entity))
        assert found is not None, "defaults are checked when the rules load"
        return found

    def contact_strategy_for(self, form_id: str | None) -> Strategy:
        """The contact strategy of a form (the default contact strategy otherwise)."""
        return self._for("contact", form_id)

    def lead_strategy_for(self, form_id: str | None) -> Strategy:
        """The lead strategy of a form (the default lead strategy otherwise)."""
        return self._for("lead", form_id)
