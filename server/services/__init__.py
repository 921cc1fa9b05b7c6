"""The service layer: what leadgraph does, whoever asks (resolvers, the CLI, the importer).
May import store, rules and the core, never api, web, cli or strawberry (tests/test_layers.py).

A :class:`Services` is built once per (database, rules version) from the database, the rule
set and the plugin manager, and handed to every caller.  Resolvers validate input, call one
service and map its result; services own transactions and plugin events; ``leadgraph.store``
alone talks to MongoDB.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from ..rules.ruleset import RuleSet
from ..types import PluginManager
from .capture import Capture
from .consent import Consent
from .funnel import Funnel
from .handoff import Handoff
from .history import History
from .interactions import Interactions
from .matching import Matching
from .merging import Merging
from .opportunities import Opportunities
from .people import People
from .preview import Preview
from .privacy import Privacy
from .records import Records
from .segments import Segments
from .sla import Breaches
from .subscriptions import SubscriptionLists


@dataclass(eq=False)
class Services:
    """Every service over one database, with one rule set (None: no valid rules loaded)."""

    db: AsyncDatabase
    ruleset: RuleSet | None
    pm: PluginManager | None

    @cached_property
    def funnel(self) -> Funnel:
        """Scoring, sales-ready and stage moves: the one funnel runner."""
        return Funnel(self.db, self.ruleset, self.pm)

    @cached_property
    def handoff(self) -> Handoff:
        """The hand-off to sales: owners, "sales accepted", stage fields, overrides."""
        return Handoff(self.db, self.funnel, self.pm)

    @cached_property
    def opportunities(self) -> Opportunities:
        """Qualifying leads into opportunities, and winning or losing those."""
        return Opportunities(self.db, self.funnel, self.pm)

    @cached_property
    def people(self) -> People:
        """Who an account or a lead reaches: an account's leads, account and lead insights."""
        return People(self.db)

    @cached_property
    def history(self) -> History:
        """Score history and as-of replay (written by the funnel runner)."""
        return self.funnel.history

    @cached_property
    def matching(self) -> Matching:
        """Whether a record already exists: strategies, keys, backfill, rekeying."""
        return Matching(self.db, self.ruleset, self.pm)

    @cached_property
    def capture(self) -> Capture:
        """Form submissions and event registrations, through matching and the funnel."""
        return Capture(self.funnel, self.ruleset, self.pm, self.matching, self.consent)

    @cached_property
    def interactions(self) -> Interactions:
        """Interactions recorded through the API: the one road capture takes too."""
        return Interactions(self.funnel, self.pm)

    @cached_property
    def records(self) -> Records:
        """Contacts, accounts and leads entered by hand: create, link, delete (cascades)."""
        return Records(self.db, self.funnel, self.pm, self.consent, self.matching)

    @cached_property
    def consent(self) -> Consent:
        """The one road for consent changes (preferences, consent, subscriptions), each
        recorded as a ``consent_changed`` interaction."""
        return Consent(self.db, self.pm)

    @cached_property
    def subscription_lists(self) -> SubscriptionLists:
        """Subscription lists (create, rename, archive) and their subscribers."""
        return SubscriptionLists(self.db, self.consent, self.pm)

    @cached_property
    def privacy(self) -> Privacy:
        """Export and erase a person, suppression, the subscription centre."""
        return Privacy(self.db, self.consent, self.matching)

    @cached_property
    def merging(self) -> Merging:
        """Merging duplicate contacts (and undoing it), finding likely duplicates."""
        return Merging(self.db, self.funnel, self.matching, self.pm)

    @cached_property
    def segments(self) -> Segments:
        """Segments: definitions (rule files and API), members, consent, evaluations."""
        return Segments(self.db, self.ruleset, self.pm)

    @cached_property
    def sla(self) -> Breaches:
        """Stage SLAs: acting on each breach once (the scheduler's work)."""
        return Breaches(self.funnel)

    @cached_property
    def preview(self) -> Preview:
        """What a rule set would change if it went live (nothing written)."""
        return Preview(self.db, self.ruleset, self.pm)


class ServiceCache:
    """The :class:`Services` of the live rules, rebuilt when the rules or database change."""

    def __init__(self) -> None:
        self._current: Services | None = None

    def get(self, db: AsyncDatabase, rules: Any, pm: PluginManager | None) -> Services:
        ruleset = getattr(rules, "current", None)
        cur = self._current
        if cur is None or cur.db is not db or cur.ruleset is not ruleset or cur.pm is not pm:
            cur = self._current = Services(db, ruleset, pm)
        return cur


__all__ = [
    "Capture",
    "Consent",
    "Funnel",
    "Handoff",
    "History",
    "Matching",
    "Merging",
    "Opportunities",
    "Preview",
    "Privacy",
    "Records",
    "Segments",
    "ServiceCache",
    "Services",
    "SubscriptionLists",
]
