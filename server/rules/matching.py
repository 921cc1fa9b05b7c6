"""Matching strategy assignment: which strategy a form uses, and whether two records match."""

from __future__ import annotations

from typing import Any, Literal

from ..plugin_manager import guarded
from .models import Strategy
from .ruleset import RuleSet

Entity = Literal["contact", "lead"]


def strategy_for(ruleset: RuleSet, entity: Entity, form_id: str | None) -> Strategy:
    """The strategy a form uses for contacts or leads (the default one otherwise)."""
    if entity == "contact":
        return ruleset.matching.contact_strategy_for(form_id)
    return ruleset.matching.lead_strategy_for(form_id)


def matcher(ruleset: RuleSet, strategy: Strategy) -> Any:
    """The plugin object implementing the strategy's kind."""
    return ruleset.registry.matching_kinds[strategy.kind].value


def match_key(
    ruleset: RuleSet, strategy: Strategy, record: dict[str, Any]
) -> dict[str, str] | None:
    """The normalised values ``record`` must share with an existing record (None: incomplete)."""
    provided = ruleset.registry.matching_kinds[strategy.kind]
    return guarded(
        provided, f"matching kind {strategy.kind!r} key", provided.value.key, record, strategy
    )


def records_match(
    ruleset: RuleSet, strategy: Strategy, new: dict[str, Any], existing: dict[str, Any]
) -> bool:
    """Whether ``new`` would be matched to ``existing`` under ``strategy``."""
    a = match_key(ruleset, strategy, new)
    return a is not None and a == match_key(ruleset, strategy, existing)
