"""The checks of a ``matching:`` section: unique strategy names, kinds some plugin provides
(and their own ``check``), custom field keys (``contact.custom.<name>``: declared, indexed, one
value) and the strategies the defaults and forms name (:func:`check_matching`)."""

from __future__ import annotations

from typing import Any

from .checks import Checker
from .fields import NO_FIELDS, CustomFields, custom_key_problem
from .models import MatchingRules


def check_matching(
    c: Checker, file: str, m: MatchingRules, fields: CustomFields = NO_FIELDS
) -> None:
    c.unique(
        ((s.name, file, ("matching", "strategies", i, "name")) for i, s in enumerate(m.strategies)),
        "strategy",
    )
    for i, s in enumerate(m.strategies):
        loc = ("matching", "strategies", i)
        for j, name in enumerate(s.fields):
            if ".custom." in name:
                problem = custom_key_problem(s.entity, name, fields)
                if problem:
                    c.at(file, (*loc, "fields", j), problem)
        kind = c.provided(file, (*loc, "kind"), "matching kind", s.kind, c.registry.matching_kinds)
        if kind is not None:
            c.checked(file, loc, f"matching kind {s.kind!r}", kind, s, f"strategy {s.name!r}")

    def ref(name: str | None, entity: str, loc: tuple[Any, ...]) -> None:
        if name is None:
            return
        found = m.strategy(name)
        if found is None:
            names = ", ".join(s.name for s in m.strategies if s.entity == entity)
            c.at(file, loc, f"unknown {entity} strategy {name!r}; expected one of: {names}")
        elif found.entity != entity:
            c.at(file, loc, f"strategy {name!r} matches {found.entity}s, not {entity}s")

    ref(m.defaults.contact, "contact", ("matching", "defaults", "contact"))
    ref(m.defaults.lead, "lead", ("matching", "defaults", "lead"))
    c.unique(
        ((a.form, file, ("matching", "forms", i, "form")) for i, a in enumerate(m.forms)),
        "form assignment",
    )
    for i, a in enumerate(m.forms):
        ref(a.contact, "contact", ("matching", "forms", i, "contact"))
        ref(a.lead, "lead", ("matching", "forms", i, "lead"))
