"""Capture as a service: a submission is matched and stored
(:mod:`leadgraph.services.capture_core`), then
the contact's leads go through the funnel runner and plugins hear what was created."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..contracts import PluginFailure
from ..events import emit
from . import capture_core as core
from . import history
from .consent import Consent
from .funnel import Funnel
from .matching import Matching


@dataclass
class Captured:
    """A stored submission and the plugins that failed after it was stored."""

    outcome: core.Outcome
    plugin_failures: list[PluginFailure] = field(default_factory=list)


class Capture:
    def __init__(
        self, funnel: Funnel, rules: Any, pm: Any, matching: Matching, consent: Consent
    ) -> None:
        self.funnel = funnel
        self.rules = rules
        self.pm = pm
        self.matching = matching
        self.consent = consent

    async def submit(self, **kwargs: Any) -> Captured:
        """Run one submission (see :func:`leadgraph.services.capture_core.capture` for the
        arguments).

        The submission is stored exactly once whatever a plugin does afterwards; a scoring
        plugin that fails leaves the lead marked stale and is reported in the result.
        """
        out = await core.capture(
            self.funnel.db,
            rules=self.rules,
            pm=self.pm,
            make_lead=self.funnel.new_lead,
            matching=self.matching,
            consent=self.consent,
            **kwargs,
        )
        if out.replayed:
            return Captured(out)
        failures: list[PluginFailure] = []
        if out.contact_match.created:
            failures += await emit(self.pm, "contact_created", {"contact": out.contact})
        created = [out.lead["_id"]] if out.lead is not None and out.lead_match.created else []
        report = await self.funnel.after_engagement(
            out.contact, created=created, cause=history.interaction(out.interaction)
        )
        if out.lead is not None:
            out.lead = report.lead(out.lead["_id"]) or out.lead
        failures += await emit(
            self.pm,
            "interaction_recorded",
            {"interaction": out.interaction, "contact": out.contact},
        )
        return Captured(out, [*report.failures, *failures])
