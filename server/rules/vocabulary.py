"""The known values of the facts that name something: a lead's stage, a contact's role, a
scoring model, a subscription list, an interaction type, ...

One table (:data:`NAMED`) says which fact holds which kind of name; :func:`vocabulary` fills it
from the live rules (the lifecycle's stages, the scoring models, the interaction types) and,
where the caller has them, the database's subscription lists.  Conditions (rule files and the
API's segments, :mod:`leadgraph.rules.checks`) and the API's filters (``leads(filter:
{stage: ...})``) look values up here, so an unknown value fails loudly, naming the known ones,
instead of selecting nothing.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..contracts import CONSENT_LEVELS, CONTACT_ROLES, CONTACT_TYPES, LEAD_STATUSES
from ..documents import OPPORTUNITY_STAGES
from .models import GRADES

#: fact (``entity.field``; ``.*`` for a wildcard's key) -> which kind of name it holds.
#: A wildcard fact (``lead.scoreOf.*``) names by its key: ``lead.scoreOf.<model>``.
NAMED: Mapping[str, str] = {
    "contact.role": "contact role",
    "contact.contactType": "contact type",
    "contact.consent.level": "consent level",
    "contact.subscriptions": "subscription list",
    "contact.unsubscribed": "subscription list",
    "contact.insights.counts.*": "interaction type",
    "lead.stage": "stage",
    "lead.status": "lead status",
    "lead.scores.model": "scoring model",
    "lead.scores.grade": "grade",
    "lead.scoreOf.*": "scoring model",
    "lead.gradeOf.*": "scoring model",
    "opportunity.stage": "opportunity stage",
    "interaction.type": "interaction type",
}

#: wildcard facts whose *value* names something too: ``lead.gradeOf.<model>`` is a grade.
VALUE_OF_KEY: Mapping[str, str] = {"lead.gradeOf.*": "grade"}

#: The operators comparing a fact with the value itself (or each listed value): only then is a
#: value checked (``contains`` or ``gt`` compare with text or an order, not a name).
EQUALITY_OPS = frozenset({"eq", "ne", "in", "not_in"})


@dataclass(frozen=True)
class Known:
    """The names of one kind (``what``: "stage"), in their declared order."""

    what: str
    values: tuple[str, ...]

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not one of the names (None when it is): the known names, and the
        closest one when there is one."""
        if isinstance(value, str) and value in self.values:
            return None
        text = str(value)
        close = difflib.get_close_matches(text, self.values, n=1) or difflib.get_close_matches(
            text.lower(), self.values, n=1
        )
        hint = f"did you mean {close[0]!r}? " if close else ""
        known = ", ".join(self.values) if self.values else f"none (no {self.what} is defined)"
        return f"unknown {self.what} {value!r}; {hint}expected one of: {known}"


@dataclass(frozen=True)
class Vocabulary:
    """Each kind of name -> its known names; a kind missing here is not checked (the lists
    when the database was not asked, the stages of rules without a lifecycle)."""

    kinds: Mapping[str, Known]

    def known(self, what: str) -> Known | None:
        return self.kinds.get(what)

    def with_lists(self, lists: Collection[str]) -> Vocabulary:
        """This vocabulary with the subscription lists checked too."""
        found = Known("subscription list", tuple(sorted(lists)))
        return Vocabulary({**self.kinds, "subscription list": found})

    def name_problem(self, what: str, value: Any) -> str | None:
        """Why ``value`` is not a known ``what`` (None when it is, or ``what`` is not checked)."""
        known = self.kinds.get(what)
        return known.problem(value) if known is not None else None

    def fact_problem(self, fact: str) -> str | None:
        """Why a wildcard fact's key is not a known name (``lead.scoreOf.nope``)."""
        wildcard, key = _wildcard(fact)
        return self.name_problem(NAMED[wildcard], key) if wildcard is not None else None

    def value_problems(self, fact: str, op: str, value: Any) -> list[tuple[tuple[Any, ...], str]]:
        """Why a comparison's value is not a known name: ``(where in the value, message)``
        pairs (``()`` for the value itself, ``(k,)`` for its k-th element)."""
        what = NAMED.get(fact)
        if what is None and f"{fact} value" in self.kinds:
            what = f"{fact} value"  # an enum custom field's values
        if what is None:
            wildcard, _ = _wildcard(fact)
            what = VALUE_OF_KEY.get(wildcard) if wildcard is not None else None
        if what is None or op not in EQUALITY_OPS or self.kinds.get(what) is None:
            return []
        items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
        out: list[tuple[tuple[Any, ...], str]] = []
        for k, item in items:
            problem = None if item is None else self.name_problem(what, item)
            if problem is not None:
                out.append(((k,) if k is not None else (), problem))
        return out


def _wildcard(fact: str) -> tuple[str | None, str]:
    """The wildcard entry of :data:`NAMED` that ``fact`` is a key of, and the key."""
    for name in NAMED:
        if name.endswith(".*"):
            prefix = name[:-1]
            if fact.startswith(prefix) and "." not in fact[len(prefix) :]:
                return name, fact[len(prefix) :]
    return None, ""


def vocabulary(
    *,
    stages: Iterable[str] | None,
    models: Iterable[str] | None,
    interaction_types: Iterable[str],
    lists: Collection[str] | None = None,
    contact_types: Iterable[str] = CONTACT_TYPES,
    custom: Mapping[str, Iterable[str]] | None = None,
) -> Vocabulary:
    """The known names: the domain's closed vocabularies and the given rules' (``stages`` None:
    rules without a lifecycle; ``models`` / ``lists`` None: not checked; ``contact_types``: the
    built-in ones and those the rule files add; ``custom``: each enum custom field's fact to
    its values, checked as ``<fact> value``)."""
    kinds = {
        "contact role": CONTACT_ROLES,
        "contact type": tuple(contact_types),
        "consent level": CONSENT_LEVELS,
        "lead status": LEAD_STATUSES,
        "opportunity stage": OPPORTUNITY_STAGES,
        "grade": tuple(GRADES),
        "interaction type": tuple(sorted(interaction_types)),
    }
    if models is not None:
        kinds["scoring model"] = tuple(models)
    if stages is not None:
        kinds["stage"] = tuple(stages)
    if lists is not None:
        kinds["subscription list"] = tuple(sorted(lists))
    for fact, values in (custom or {}).items():
        kinds[f"{fact} value"] = tuple(values)
    return Vocabulary({what: Known(what, values) for what, values in kinds.items()})
