"""The matching strategies in effect for capture, import and orphan linking.

Strategies come from the live rules (``RuleSet.matching.contact_strategy_for(form_id)`` /
``lead_strategy_for(form_id)``) and the matching kinds from plugins (an object with
``key(record, strategy) -> dict | None`` and, for fuzzy kinds, ``async find(collection, record,
strategy)``).  Until rules are loaded (or in a bare test database) the defaults of the domain
apply: contacts by normalised email, leads by email + form id, exact matching.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import normalize
from .store import match_keys


@dataclass(frozen=True)
class Strategy:
    name: str
    fields: tuple[str, ...]
    kind: str = "exact"
    create: bool = True


DEFAULT_CONTACT = Strategy("contact-email", ("email",))
DEFAULT_LEAD = Strategy("lead-email-form", ("email", "formId"))
ACCOUNT_DOMAIN = Strategy("account-domain", ("domain",))
ACCOUNT_NAME = Strategy("account-name", ("name",))


def _normalise(field: str, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool | int | float):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        return None
    low = field.lower()
    try:
        if "email" in low:
            return normalize.email(value)
        if "phone" in low:
            return normalize.phone(value) or None
        if low in ("domain", "website", "url"):
            return normalize.domain(value) or None
    except normalize.InvalidValue:
        return value.strip().lower()
    if low in ("formid", "eventid", "id"):
        return value.strip()
    return normalize.name(value)


class ExactMatcher:
    """Built-in ``exact`` kind: every field present, compared after normalisation."""

    def key(self, record: dict[str, Any], strategy: Any) -> dict[str, str] | None:
        out: dict[str, str] = {}
        for field in strategy.fields:
            value = _normalise(field, record.get(field))
            if value is None:
                return None
            out[field] = value
        return out


EXACT = ExactMatcher()


def ruleset(rules: Any) -> Any:
    """The current RuleSet of a RulesManager (or the RuleSet itself)."""
    if rules is None:
        return None
    for attr in ("current", "ruleset", "rules"):
        value = getattr(rules, attr, None)
        if value is not None and not callable(value):
            return value
    return rules


def _strategy(rules: Any, method: str, form_id: str | None, default: Strategy) -> Any:
    rs = ruleset(rules)
    matching = getattr(rs, "matching", None)
    fn = getattr(matching, method, None)
    if fn is None:
        return default
    try:
        found = fn(form_id)
    except Exception:  # a rule set that cannot answer leaves the documented default
        return default
    return found or default


def contact_strategy(rules: Any, form_id: str | None) -> Any:
    return _strategy(rules, "contact_strategy_for", form_id, DEFAULT_CONTACT)


def lead_strategy(rules: Any, form_id: str | None) -> Any:
    return _strategy(rules, "lead_strategy_for", form_id, DEFAULT_LEAD)


@dataclass(frozen=True)
class Kinds:
    """Where matching kinds come from: the live rules' plugin registry, else the plugins."""

    rules: Any = None
    pm: Any = None


def matcher(source: Any, kind: str) -> Any:
    """The matching-kind object plugins offer for ``kind`` (built-in exact otherwise)."""
    pm = source
    while isinstance(pm, Kinds):
        pm = pm.pm
    if isinstance(source, Kinds):
        registry = getattr(ruleset(source.rules), "registry", None)
        provided = (getattr(registry, "matching_kinds", None) or {}).get(kind)
        if provided is not None:
            return getattr(provided, "value", provided)
    if pm is not None:
        for hook in ("leadgraph_matching_kinds", "leadgraph_matching_kind", "leadgraph_matchers"):
            caller = getattr(pm.hook, hook, None)
            if caller is None:
                continue
            try:
                results = caller(kind=kind) if "kind" in _argnames(caller) else caller()
            except Exception:
                continue
            for result in results if isinstance(results, list) else [results]:
                if isinstance(result, dict) and kind in result:
                    return result[kind]
                if (
                    result is not None
                    and not isinstance(result, dict)
                    and getattr(result, "kind", getattr(result, "name", kind)) == kind
                ):
                    return result
    return EXACT


def _argnames(caller: Any) -> tuple[str, ...]:
    spec = getattr(caller, "spec", None)
    return tuple(getattr(spec, "argnames", ()) or ())


def fields_of(strategy: Any) -> tuple[str, ...]:
    return tuple(getattr(strategy, "fields", ()) or ())


def creates(strategy: Any) -> bool:
    return bool(getattr(strategy, "create", True))


def match_key(
    pm: Any, collection: str, strategy: Any, record: dict[str, Any]
) -> tuple[str | None, dict[str, str] | None]:
    """``(key id, normalised values)`` of ``record`` under ``strategy`` (None when incomplete)."""
    values = matcher(pm, getattr(strategy, "kind", "exact")).key(record, strategy)
    if not values:
        return None, None
    ordered = [str(values.get(f, "")) for f in fields_of(strategy)] or [
        str(v) for v in values.values()
    ]
    return match_keys.key_id(collection, signature(strategy), ordered), dict(values)


def signature(strategy: Any) -> str:
    """What a key compares: the fields (and the kind, unless exact), not the strategy's name,
    so two strategies over the same fields find the same records."""
    fields = "+".join(fields_of(strategy))
    kind = getattr(strategy, "kind", "exact")
    return fields if kind == "exact" else f"{kind}~{fields}"


def signature_of_key(kid: str) -> str:
    return kid.split(":", 2)[1]


def exact_strategies(rules: Any, entity: str) -> list[Any]:
    """Every exact strategy the rules define for ``entity`` (the default one at least)."""
    default = DEFAULT_CONTACT if entity == "contact" else DEFAULT_LEAD
    matching = getattr(ruleset(rules), "matching", None)
    found = [
        s
        for s in getattr(matching, "strategies", None) or []
        if getattr(s, "entity", entity) == entity and getattr(s, "kind", "exact") == "exact"
    ]
    chosen = _strategy(rules, f"{entity}_strategy_for", None, default)
    unique: dict[str, Any] = {}
    for s in [chosen, *found]:
        if getattr(s, "kind", "exact") == "exact":
            unique.setdefault(signature(s), s)
    return list(unique.values())
