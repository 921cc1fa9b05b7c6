"""The cross-file checks of a rule set: each section's names, references, conditions and
plugin-provided kinds, collected as :class:`~leadgraph.rules.loader.RuleError` s with their
file, line and column (:func:`leadgraph.rules.ruleset.load_rules` runs them).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..contracts import CONTACT_TYPES, CUSTOM_INTERACTION_TYPE, INTERACTION_TYPES, Scorer
from ..plugin_manager import PluginError, Provided, guarded
from .conditions import Compiler, entities, fact_problem, in_event, walk
from .limits import DEFAULT_LIMITS, RuleLimits
from .loader import RuleError, locate
from .models import (
    INTERACTION_TYPE_NAME,
    Compare,
    Condition,
    Event,
    EventSpec,
    Lifecycle,
    MatchingRules,
    RuleFile,
    RuleTest,
    ScoringModel,
    Segment,
)
from .purposes import PURPOSES
from .sla import check_assignment, check_slas
from .vocabulary import Vocabulary, vocabulary

if TYPE_CHECKING:
    from .ruleset import Registry

TYPE_NAME = re.compile(INTERACTION_TYPE_NAME)
Records = tuple[str, ...]
#: The records a condition reads (scoring, guards, matching ...); a segment's may also read
#: opportunities (which reach people through their contact or their account's contacts).
RECORDS: Records = ("contact", "lead", "account")
SEGMENT_RECORDS: Records = (*RECORDS, "opportunity")


@dataclass
class Checker:
    registry: Registry
    limits: RuleLimits = DEFAULT_LIMITS
    errors: list[RuleError] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    interaction_types: Mapping[str, str] = field(
        default_factory=lambda: dict.fromkeys(INTERACTION_TYPES, "built in")
    )
    #: The known names values are checked against (set once the rules' stages, models and
    #: interaction types are read; until then the interaction types alone).
    vocabulary: Vocabulary | None = None
    #: The facts the rules' custom fields add (``contact.custom.<name>``).
    custom_facts: frozenset[str] = frozenset()

    @property
    def words(self) -> Vocabulary:
        return self.vocabulary or vocabulary(
            stages=None, models=None, interaction_types=self.interaction_types
        )

    def interaction_type(self, file: str, loc: tuple[Any, ...], name: Any) -> None:
        problem = self.words.name_problem("interaction type", name)
        if problem:
            self.at(file, loc, problem)

    def values(self, file: str, loc: tuple[Any, ...], node: Compare) -> None:
        """A comparison's fact key and value(s), where the fact names something
        (:data:`leadgraph.rules.vocabulary.NAMED`), must be known names."""
        words = self.words
        problem = words.fact_problem(node.fact)
        if problem:
            self.at(file, (*loc, "fact"), problem)
        for where, message in words.value_problems(node.fact, node.op, node.value):
            self.at(file, (*loc, "value", *where), message)

    def event_spec(self, file: str, spec: EventSpec, loc: tuple[Any, ...]) -> None:
        for j, name in enumerate(spec.type):
            self.interaction_type(file, (*loc, "type", j), name)

    def at(self, file: str, loc: tuple[Any, ...], message: str, *, key: bool = False) -> None:
        line, col = locate(self.raw.get(file), loc, key=key)
        self.errors.append(RuleError(file, line, col, message, loc))

    def provided(
        self, file: str, loc: tuple[Any, ...], what: str, name: str, table: Mapping[str, Provided]
    ) -> Provided | None:
        """The plugin-provided ``what`` (operator, kind, action, guard) called ``name``; None,
        with an error at ``loc`` listing the known ones, when no plugin provides it."""
        found = table.get(name)
        if found is None:
            known = ", ".join(sorted(table))
            self.at(file, loc, f"unknown {what} {name!r}; expected one of: {known}")
        return found

    def checked(
        self,
        file: str,
        loc: tuple[Any, ...],
        what: str,
        provided: Provided,
        value: Any,
        problem: str,
    ) -> None:
        """Run the ``check`` of a plugin-provided ``what`` (if it has one) on ``value``: the
        ValueError it raises becomes an error ``problem: <reason>`` at ``loc``."""
        check = getattr(provided.value, "check", None)
        if check is None:
            return
        try:
            guarded(provided, f"{what} check", check, value, expected=(ValueError,))
        except ValueError as exc:
            self.at(file, loc, f"{problem}: {exc}")

    def where(self, file: str, loc: tuple[Any, ...]) -> str:
        line, col = locate(self.raw.get(file), loc)
        return f"{file}:{line}:{col}"

    def condition(
        self, file: str, cond: Condition | None, loc: tuple[Any, ...], records: Records = RECORDS
    ) -> None:
        """A condition's nesting, facts (of ``records``; ``interaction`` inside an event),
        operators and values."""
        if cond is None:
            return
        for node, nloc in walk(cond, loc):
            depth = 1 + sum(
                1 for part in nloc[len(loc) :] if part in ("all", "any", "not", "where")
            )
            if depth > self.limits.max_condition_depth:
                self.at(
                    file,
                    nloc,
                    f"condition nested deeper than {self.limits.max_condition_depth} levels",
                )
                return
            if isinstance(node, Compare):
                allowed = ("interaction",) if in_event(nloc) else records
                facts = set(self.registry.facts) | self.custom_facts
                problem = fact_problem(node.fact, facts, allowed)
                if problem:
                    self.at(file, (*nloc, "fact"), problem)
                else:
                    self.values(file, nloc, node)
                operators = self.registry.operators
                op = self.provided(file, (*nloc, "op"), "operator", node.op, operators)
                if op is not None:
                    what, value_loc = f"operator {node.op!r}", (*nloc, "value")
                    self.checked(file, value_loc, what, op, node.value, f"value for {node.op!r}")
            elif isinstance(node, Event):
                spec = node.event
                self.event_spec(file, spec, (*nloc, "event"))
                if spec.max is not None and spec.max < spec.min:
                    self.at(file, (*nloc, "event", "max"), "max is smaller than min")

    def unique(self, items: Iterator[tuple[str, str, tuple[Any, ...]]], what: str) -> None:
        seen: dict[str, tuple[str, tuple[Any, ...]]] = {}
        for name, file, loc in items:
            if name in seen:
                first = self.where(*seen[name])
                self.at(file, loc, f"duplicate {what} {name!r} (first defined at {first})")
            else:
                seen[name] = (file, loc)


def only_one(checker: Checker, models: dict[str, RuleFile], section: str) -> tuple[str, Any] | None:
    found = [(f, getattr(m, section)) for f, m in models.items() if getattr(m, section)]
    for file, _ in found[1:]:
        checker.at(
            file,
            (section,),
            f"duplicate {section} section (first defined at "
            f"{checker.where(found[0][0], (section,))}); a rule set has one",
            key=True,
        )
    return found[0] if found else None


def check_scoring(
    c: Checker,
    file: str,
    i: int,
    model: ScoringModel,
    compiler: Compiler,
    scorers: dict[str, Scorer],
) -> None:
    base = ("scoring", i)
    before = len(c.errors)
    if "." in model.name:
        c.at(
            file,
            (*base, "name"),
            f"scoring model {model.name!r}: a model's name may not hold '.' "
            "(leads store their scores by model name: scoreOf.<model>)",
        )
    c.condition(file, model.applies_to, (*base, "applies_to"))
    for k, entry in enumerate(model.grades):
        c.condition(file, entry.when, (*base, "grades", k, "when"))
        if entry.when is None and k < len(model.grades) - 1:
            c.at(
                file,
                (*base, "grades", k),
                f"grade {entry.grade} without `when` holds always: the entries after it "
                "are never reached (put it last)",
            )
    for j, rule in enumerate(model.rules):
        c.condition(file, rule.when, (*base, "rules", j, "when"))
        if rule.half_life is not None and rule.per_event is None:
            c.at(
                file,
                (*base, "rules", j, "half_life"),
                "half_life decays the points of each occurrence: it needs per_event",
            )
        if rule.per_event is not None:
            c.event_spec(file, rule.per_event, (*base, "rules", j, "per_event"))
            if rule.per_event.where is not None:
                c.condition(file, rule.per_event.where, (*base, "rules", j, "per_event", "where"))
    kind = c.provided(file, (*base, "kind"), "scoring kind", model.kind, c.registry.scoring_kinds)
    if kind is None:
        return
    if len(c.errors) > before:
        return  # its conditions are broken: do not hand them to the kind
    try:
        scorers[model.name] = guarded(
            kind,
            f"scoring kind {model.kind!r} prepare",
            kind.value.prepare,
            model,
            compiler,
            expected=(ValueError,),
        )
    except ValueError as exc:
        c.at(file, base, f"scoring model {model.name!r}: {exc}")


def check_lifecycle(c: Checker, file: str, lc: Lifecycle) -> None:
    names = lc.stage_names
    c.unique(
        ((s.name, file, ("lifecycle", "stages", i, "name")) for i, s in enumerate(lc.stages)),
        "stage",
    )
    c.unique(
        (
            (t.name, file, ("lifecycle", "transitions", i, "name"))
            for i, t in enumerate(lc.transitions)
        ),
        "transition",
    )

    def stage(name: str, loc: tuple[Any, ...]) -> None:
        if name not in names:
            c.at(file, loc, f"unknown stage {name!r}; expected one of: {', '.join(names)}")

    stage(lc.initial, ("lifecycle", "initial"))
    if lc.accept_at is not None:
        stage(lc.accept_at, ("lifecycle", "accept_at"))
    for i, start in enumerate(lc.start_at):
        sloc = ("lifecycle", "start_at", i)
        stage(start.stage, (*sloc, "stage"))
        for node, nloc in walk(start.when, (*sloc, "when")):
            if isinstance(node, Event) or (
                isinstance(node, Compare) and not node.fact.startswith("lead.")
            ):
                c.at(file, nloc, "a start_at condition sees only the new lead's `lead.` fields")
                break
        else:
            c.condition(file, start.when, (*sloc, "when"))
    for i, declared in enumerate(lc.stages):
        c.unique(
            (
                (f.name, file, ("lifecycle", "stages", i, "fields", j, "name"))
                for j, f in enumerate(declared.fields)
            ),
            f"field of stage {declared.name!r}",
        )
        for j, f in enumerate(declared.fields):
            floc = ("lifecycle", "stages", i, "fields", j)
            if f.type == "enum" and not f.values:
                c.at(file, floc, f"enum field {f.name!r} needs `values`")
            elif f.type != "enum" and f.values:
                c.at(file, (*floc, "values"), f"only an enum field has `values` ({f.type!r})")
    for j, name in enumerate(lc.qualify_from or []):
        stage(name, ("lifecycle", "qualify_from", j))
    for old, new in lc.retired_stages.items():
        retired: tuple[Any, ...] = ("lifecycle", "retired_stages", old)
        if old in names:
            c.at(
                file,
                retired,
                f"stage {old!r} is still in the lifecycle; retire it by removing it from stages",
                key=True,
            )
        stage(new, retired)
    for i, t in enumerate(lc.transitions):
        loc = ("lifecycle", "transitions", i)
        for j, s in enumerate(t.from_):
            stage(s, (*loc, "from", j) if len(t.from_) > 1 else (*loc, "from"))
        stage(t.to, (*loc, "to"))
        c.condition(file, t.guard, (*loc, "guard"))
        for j, g in enumerate(t.requires):
            c.provided(file, (*loc, "requires", j), "guard", g, c.registry.guards)
        for j, a in enumerate(t.actions):
            aloc = (*loc, "actions", j)
            action = c.provided(file, (*aloc, "action"), "action", a.action, c.registry.actions)
            if action is not None:
                what = f"action {a.action!r}"
                c.checked(file, aloc, what, action, a.with_, what)
    check_assignment(c, file, lc)
    check_slas(c, file, lc)


def check_segment(c: Checker, file: str, seg: Segment, loc: tuple[Any, ...]) -> None:
    """One segment's condition, purpose and subscription list (not its references)."""
    c.condition(file, seg.where, (*loc, "where"), SEGMENT_RECORDS)
    if seg.where is not None and {"lead", "opportunity"} <= entities(seg.where):
        first = next(
            nl for n, nl in walk(seg.where, (*loc, "where")) if entities(n) == {"opportunity"}
        )
        c.at(file, (*first, "fact"), "a segment reads lead facts or opportunity facts, not both")
    if seg.subscription_list is not None:
        problem = c.words.name_problem("subscription list", seg.subscription_list)
        if problem:
            c.at(file, (*loc, "subscription_list"), problem)
    if seg.purpose is not None and seg.purpose not in PURPOSES:
        known = ", ".join(PURPOSES)
        c.at(file, (*loc, "purpose"), f"unknown purpose {seg.purpose!r}; expected one of: {known}")


def check_segments(c: Checker, segments: list[tuple[str, int, Segment]]) -> None:
    """Rule-file segments: their conditions and purposes, compound references to other
    rule-file segments, no cycles, no static ones (their lists live in the database)."""
    graph = {s.name: [*s.include, *s.exclude] for _, _, s in segments}
    for f, i, seg in segments:
        loc: tuple[Any, ...] = ("segments", i)
        check_segment(c, f, seg, loc)
        if seg.kind == "static":
            c.at(f, (*loc, "kind"), "static segments are kept through the API, not rule files")
        for key in ("include", "exclude"):
            for j, name in enumerate(getattr(seg, key)):
                if name not in graph:
                    c.at(f, (*loc, key, j), f"unknown segment {name!r}")
        cycle = segment_cycle(seg.name, graph)
        if cycle is not None:
            c.at(f, (*loc, "name"), f"segment cycle: {' -> '.join(cycle)}")


def segment_cycle(start: str, graph: Mapping[str, list[str]]) -> list[str] | None:
    """A path ``start -> ... -> start`` through the compound references of ``graph`` (segment
    name -> the segments it includes or excludes), or None when there is none."""
    path: list[str] = [start]
    seen: set[str] = set()

    def visit(name: str) -> list[str] | None:
        for ref in graph.get(name, ()):
            if ref == start:
                return [*path, ref]
            if ref in seen:
                continue
            seen.add(ref)
            path.append(ref)
            found = visit(ref)
            if found is not None:
                return found
            path.pop()
        return None

    return visit(start)


def check_tests(
    c: Checker,
    file: str,
    tests: list[RuleTest],
    models: set[str],
    segments: set[str],
    lc: Lifecycle | None,
    m: MatchingRules,
) -> None:
    c.unique(((t.name, file, ("tests", i, "name")) for i, t in enumerate(tests)), "test")
    for i, t in enumerate(tests):
        for k, interaction in enumerate(t.given.interactions):
            if "type" in interaction:
                at: tuple[Any, ...] = ("tests", i, "given", "interactions", k, "type")
                c.interaction_type(file, at, interaction["type"])
        loc = ("tests", i, "expect")
        for section, known, what in (
            ("score", models, "scoring model"),
            ("sales_ready", models, "scoring model"),
            ("explanation", models, "scoring model"),
            ("grade", models, "scoring model"),
            ("segments", segments, "segment"),
        ):
            for name in getattr(t.expect, section):
                if name not in known:
                    c.at(file, (*loc, section, name), f"unknown {what} {name!r}", key=True)
        if t.expect.stage is not None and (lc is None or t.expect.stage not in lc.stage_names):
            c.at(file, (*loc, "stage"), f"unknown stage {t.expect.stage!r}")
        for key in ("contact_strategy", "lead_strategy"):
            name = getattr(t.expect, key)
            if name is not None and m.strategy(name) is None:
                c.at(file, (*loc, key), f"unknown strategy {name!r}")


def declared_interaction_types(
    c: Checker, registry: Registry, models: dict[str, RuleFile]
) -> dict[str, str]:
    """The vocabulary: built-in types, then the plugins', then the rule files' declarations."""
    vocabulary = dict.fromkeys(INTERACTION_TYPES, "built in")
    for name, provided in registry.interaction_types.items():
        if name in INTERACTION_TYPES or name == CUSTOM_INTERACTION_TYPE:
            raise PluginError(
                provided.plugin, f"leadgraph_interaction_types: {name!r} is a built-in name"
            )
        if not TYPE_NAME.fullmatch(name):
            raise PluginError(
                provided.plugin,
                f"leadgraph_interaction_types: {name!r} is not lowercase snake_case",
            )
        vocabulary[name] = str(provided.value)
    declared = [(f, i, d) for f, m in models.items() for i, d in enumerate(m.interaction_types)]
    c.unique(
        ((d.name, f, ("interaction_types", i, "name")) for f, i, d in declared), "interaction type"
    )
    for f, i, d in declared:
        loc = ("interaction_types", i, "name")
        if d.name in INTERACTION_TYPES or d.name == CUSTOM_INTERACTION_TYPE:
            c.at(f, loc, f"{d.name!r} is a built-in interaction type")
        elif d.name in registry.interaction_types:
            plugin = registry.interaction_types[d.name].plugin
            c.at(f, loc, f"interaction type {d.name!r} is already provided by plugin {plugin!r}")
        else:
            vocabulary.setdefault(d.name, d.description)
    return vocabulary


def declared_contact_types(c: Checker, models: dict[str, RuleFile]) -> dict[str, str]:
    """The contact types: the built-in ones, then the rule files' (``contact_types:``)."""
    known = dict.fromkeys(CONTACT_TYPES, "built in")
    declared = [(f, i, d) for f, m in models.items() for i, d in enumerate(m.contact_types)]
    c.unique(((d.name, f, ("contact_types", i, "name")) for f, i, d in declared), "contact type")
    for f, i, d in declared:
        if d.name in CONTACT_TYPES:
            c.at(f, ("contact_types", i, "name"), f"{d.name!r} is a built-in contact type")
        else:
            known.setdefault(d.name, d.description)
    return known
