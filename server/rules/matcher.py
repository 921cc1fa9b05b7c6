"""Matching without a database: which strategy of the rule set's ``matching:`` section applies
to a record, what its key is (the normalised values a matching kind gives, which the database
keeps unique in ``match_keys``), and whether two records match.  Rule-file tests use it alone;
:mod:`leadgraph.services.matching` adds the database (find, claim, create)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from .. import normalize
from ..plugin_manager import PluginError, Provided, get_plugin_manager, guarded
from ..types import PluginManager
from .models import MatchingRules, Strategy
from .ruleset import DEFAULT_MATCHING, Registry, RuleSet

Entity = Literal["contact", "lead"]

#: The collection of each matched entity.
COLLECTIONS: dict[str, str] = {"contact": "contacts", "lead": "leads"}


def key_id(collection: str, strategy: str, values: Iterable[str]) -> str:
    """The ``match_keys`` id of a record's key: its collection, what it compares, the values."""
    return f"{collection}:{strategy}:" + "|".join(values)


@dataclass(frozen=True)
class Key:
    """A record's key under one strategy: the ``match_keys`` id and the normalised values."""

    id: str
    values: dict[str, str]


def custom_key(field: str) -> tuple[str, str] | None:
    """``(record type, name)`` of a strategy field naming a custom field
    (``contact.custom.<name>``), else None."""
    entity, sep, name = field.partition(".custom.")
    return (entity, name) if sep and entity in ("contact", "lead") and name else None


def stored_path(field: str) -> str:
    """Where a strategy field's value is stored in a record (``custom.<name>`` for a custom
    field's key)."""
    found = custom_key(field)
    return f"custom.{found[1]}" if found else field


def viewed(record: Mapping[str, Any], strategy: Strategy) -> Mapping[str, Any]:
    """``record`` as a matching kind reads it: each custom field the strategy compares
    (``contact.custom.<name>``) as a field of its own, its value the record's ``custom``'s."""
    extra: dict[str, Any] = {}
    for f in strategy.fields:
        found = custom_key(f)
        if found is not None and f not in record:
            custom = record.get("custom")
            extra[f] = custom.get(found[1]) if isinstance(custom, Mapping) else None
    return {**record, **extra} if extra else record


def signature(strategy: Strategy) -> str:
    """What a key compares: the fields (and the kind, unless exact), not the strategy's name,
    so two strategies over the same fields find the same records."""
    fields = "+".join(strategy.fields)
    return fields if strategy.kind == "exact" else f"{strategy.kind}~{fields}"


def signature_of_key(kid: str) -> str:
    return kid.split(":", 2)[1]


def row_key(collection: str, *parts: str) -> str:
    """A key for a record that has no strategy key (one per source row: never shared)."""
    return key_id(collection, "row", list(parts))


class Matcher:
    """The pure half of matching (no database): which strategy applies, what a record's key
    is, whether two records match.  Rule-file tests use it alone."""

    def __init__(self, ruleset: RuleSet | None, pm: PluginManager | None = None) -> None:
        self.ruleset = ruleset
        self.pm = pm

    # ------------------------------------------------------------ strategies and kinds

    @property
    def rules(self) -> MatchingRules:
        return self.ruleset.matching if self.ruleset is not None else DEFAULT_MATCHING

    @property
    def version(self) -> str | None:
        return self.ruleset.version if self.ruleset is not None else None

    @cached_property
    def registry(self) -> Registry:
        if self.ruleset is not None:
            return self.ruleset.registry
        return Registry.from_plugins(self.pm or get_plugin_manager())

    def strategy(self, entity: Entity, form_id: str | None) -> Strategy:
        """The strategy a form uses for contacts or leads (the default one otherwise)."""
        if entity == "contact":
            return self.rules.contact_strategy_for(form_id)
        return self.rules.lead_strategy_for(form_id)

    def strategies(self, entity: Entity) -> list[Strategy]:
        """Every strategy of ``entity``, one per signature, the default one first."""
        chosen = self.strategy(entity, None)
        unique: dict[str, Strategy] = {}
        for s in [chosen, *self.rules.strategies]:
            if s.entity == entity:
                unique.setdefault(signature(s), s)
        return list(unique.values())

    def kind(self, strategy: Strategy) -> Provided:
        provided = self.registry.matching_kinds.get(strategy.kind)
        if provided is None:
            known = ", ".join(sorted(self.registry.matching_kinds))
            raise PluginError(
                "leadgraph", f"no plugin provides matching kind {strategy.kind!r} ({known})"
            )
        return provided

    def values(self, strategy: Strategy, record: Mapping[str, Any]) -> dict[str, str] | None:
        """The normalised values ``record`` must share with an existing record (None when a
        value the strategy needs is missing); a failing kind raises :class:`PluginError`."""
        provided = self.kind(strategy)
        what = f"matching kind {strategy.kind!r} key"
        values = guarded(provided, what, provided.value.key, viewed(record, strategy), strategy)
        return dict(values) if values else None

    def key(self, collection: str, strategy: Strategy, record: Mapping[str, Any]) -> Key | None:
        """``record``'s key under ``strategy`` (None when incomplete)."""
        values = self.values(strategy, record)
        if values is None:
            return None
        ordered = [str(values.get(f, "")) for f in strategy.fields]
        return Key(key_id(collection, signature(strategy), ordered), values)

    def keys(self, entity: Entity, record: Mapping[str, Any]) -> dict[str, Key]:
        """``record``'s keys under every strategy of ``entity``, by key id."""
        collection = COLLECTIONS[entity]
        found = (self.key(collection, s, record) for s in self.strategies(entity))
        return {k.id: k for k in found if k is not None}

    def records_match(
        self, strategy: Strategy, new: Mapping[str, Any], existing: Mapping[str, Any]
    ) -> bool:
        """Whether ``new`` would be matched to ``existing`` under ``strategy``."""
        a = self.values(strategy, new)
        return a is not None and a == self.values(strategy, existing)

    def finds(self, strategy: Strategy) -> bool:
        """Whether the strategy's kind decides among candidates itself (``find``)."""
        return getattr(self.kind(strategy).value, "find", None) is not None

    def account_keys(self, ref: Mapping[str, Any]) -> list[str]:
        """An account's keys: its normalised domain, then its normalised name."""
        out = []
        if ref.get("domain"):
            domain = normalize.domain(str(ref["domain"]))
            if domain:
                out.append(key_id("accounts", "domain", [domain]))
        if ref.get("name"):
            out.append(key_id("accounts", "name", [normalize.name(str(ref["name"]))]))
        return out
