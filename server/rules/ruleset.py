"""A directory of rule files turned into one checked, immutable :class:`RuleSet`.

Loading is all or nothing: YAML and shape errors (pydantic) and then cross-file checks
(a form's strategy exists, a transition's stages exist, every fact and operator is known, no
name is defined twice) are collected with their file, line and column, and
:class:`~leadgraph.rules.loader.RulesInvalid` carries them all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy

from ..contracts import CONTACT_TYPES, INTERACTION_TYPES, Scorer
from ..plugin_manager import PluginError, Provided, check_hooks, collect, get_plugin_manager
from .checks import (
    Checker,
    check_lifecycle,
    check_scoring,
    check_segment,
    check_segments,
    check_tests,
    declared_contact_types,
    declared_interaction_types,
    only_one,
    segment_cycle,
)
from .conditions import Compiler, known_facts
from .fields import ENTITIES, NO_FIELDS, CustomFields, coerce
from .limits import DEFAULT_LIMITS, RuleLimits
from .loader import RuleError, RulesInvalid, locate, parse_bytes, read_file, rule_files
from .matching_checks import check_matching
from .models import (
    Lifecycle,
    MatchingDefaults,
    MatchingRules,
    RuleFile,
    RuleTest,
    ScoringModel,
    Segment,
    Strategy,
    Survivorship,
)
from .vocabulary import Vocabulary, vocabulary

DEFAULT_MATCHING = MatchingRules(
    strategies=[
        Strategy(name="contact-email", entity="contact", fields=["email"]),
        Strategy(name="lead-email-form", entity="lead", fields=["email", "formId"]),
    ],
    defaults=MatchingDefaults(contact="contact-email", lead="lead-email-form"),
)


@dataclass(frozen=True)
class Registry:
    """What the plugins provide to the rules, and which plugin provided each thing."""

    matching_kinds: Mapping[str, Provided]
    scoring_kinds: Mapping[str, Provided]
    operators: Mapping[str, Provided]
    facts: frozenset[str]
    actions: Mapping[str, Provided]
    guards: Mapping[str, Provided]
    interaction_types: Mapping[str, Provided] = field(default_factory=dict)

    @classmethod
    def from_plugins(cls, pm: pluggy.PluginManager) -> Registry:
        check_hooks(pm)
        facts = collect(pm, "leadgraph_condition_facts")
        return cls(
            matching_kinds=collect(pm, "leadgraph_matching_kinds"),
            scoring_kinds=collect(pm, "leadgraph_scoring_kinds"),
            operators=collect(pm, "leadgraph_condition_operators"),
            facts=frozenset(known_facts(facts)),
            actions=collect(pm, "leadgraph_stage_actions"),
            guards=collect(pm, "leadgraph_stage_guards"),
            interaction_types=collect(pm, "leadgraph_interaction_types"),
        )


@dataclass(frozen=True)
class RuleSet:
    """The live rules: one version of a rules directory, checked and compiled."""

    version: str
    directory: str
    files: tuple[str, ...]
    matching: MatchingRules
    scoring_models: tuple[ScoringModel, ...]
    lifecycle: Lifecycle | None
    segments: tuple[Segment, ...]
    tests: tuple[tuple[str, RuleTest], ...]
    registry: Registry
    compiler: Compiler
    scorers: Mapping[str, Scorer]
    survivorship: Survivorship = field(default_factory=Survivorship)
    extras: Mapping[str, Any] = field(default_factory=dict)
    #: Every interaction type the rules know -> its description: the built-in ones, the
    #: plugins' and the rule files' (``interaction_types:``).
    interaction_types: Mapping[str, str] = field(
        default_factory=lambda: dict.fromkeys(INTERACTION_TYPES, "built in")
    )
    #: Where the lifecycle's stages are declared (file, line, column), for errors about them.
    lifecycle_source: tuple[str, int, int] | None = None
    #: The files as read (name, content) that make :attr:`version`: kept so that the score
    #: history can store each version's rules (``leadgraph.services.history``).
    sources: tuple[tuple[str, bytes], ...] = ()
    #: Every contact type the rules know -> its description: the built-in ones and the rule
    #: files' (``contact_types:``).
    contact_types: Mapping[str, str] = field(
        default_factory=lambda: dict.fromkeys(CONTACT_TYPES, "built in")
    )
    #: The custom fields of contacts, accounts and leads (the ``fields:`` section).
    custom_fields: CustomFields = NO_FIELDS
    #: Where the ``fields:`` section is (file, line, column), for errors about its fields.
    fields_source: tuple[str, int, int] | None = None
    #: Where each of :attr:`tests` starts in its file (line, column), in the same order: a
    #: failing test is reported there (:func:`leadgraph.rules.ruletests.failing_tests`).
    test_marks: tuple[tuple[int, int], ...] = ()

    def segment(self, name: str) -> Segment | None:
        return next((s for s in self.segments if s.name == name), None)

    def scoring_model(self, name: str) -> ScoringModel | None:
        return next((m for m in self.scoring_models if m.name == name), None)

    @property
    def vocabulary(self) -> Vocabulary:
        """The names these rules know (stages, scoring models, interaction types) with the
        domain's closed vocabularies (:mod:`leadgraph.rules.vocabulary`)."""
        return vocabulary(
            stages=self.lifecycle.stage_names if self.lifecycle is not None else None,
            models=[m.name for m in self.scoring_models],
            interaction_types=self.interaction_types,
            contact_types=self.contact_types,
            custom=self.custom_fields.enum_values(),
        )


def content_version(files: list[tuple[str, bytes]]) -> str:
    """The version of a rule directory: a hash of its files' names and contents."""
    digest = hashlib.sha256()
    for name, data in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return digest.hexdigest()[:16]


def segment_problems(
    ruleset: RuleSet, seg: Segment, loc: tuple[Any, ...], lists: Collection[str] | None = None
) -> list[RuleError]:
    """What is wrong with a segment given through the API, checked against ``ruleset``'s
    facts, operators and known values (the checks a rule file's segment gets) and, when given,
    the subscription ``lists``; each error's ``loc`` says where."""
    vocab = ruleset.vocabulary if lists is None else ruleset.vocabulary.with_lists(lists)
    c = Checker(
        ruleset.registry,
        interaction_types=ruleset.interaction_types,
        vocabulary=vocab,
        custom_facts=ruleset.custom_fields.facts(),
    )
    check_segment(c, "input", seg, loc)
    return c.errors


def _read(
    directory: Path, limits: RuleLimits, checker: Checker
) -> tuple[dict[str, RuleFile], list[tuple[str, bytes]]]:
    """Every rule file of ``directory`` parsed (by file name) and as read; a file's errors go
    to ``checker``."""
    models: dict[str, RuleFile] = {}
    contents: list[tuple[str, bytes]] = []
    try:
        paths = rule_files(directory)
    except OSError as exc:
        raise RulesInvalid(
            [RuleError(str(directory), 1, 1, f"cannot list: {exc.strerror}")]
        ) from exc
    for path in paths:
        data, error = read_file(path, directory, limits)
        if data is None:
            checker.errors.append(error or RuleError(path.name, 1, 1, "cannot read the file"))
            continue
        contents.append((path.name, data))
        model, raw, errors = parse_bytes(data, path.name, limits)
        checker.raw[path.name] = raw
        checker.errors.extend(errors)
        if model is not None:
            models[path.name] = model
    return models, contents


def read_fields(
    checker: Checker, models: dict[str, RuleFile]
) -> tuple[CustomFields, tuple[str, int, int] | None]:
    """The one ``fields:`` section (its custom fields' facts given to ``checker``, each
    ``default`` checked to be a value of its field) and where it is."""
    found = only_one(checker, models, "fields")
    if not found:
        return NO_FIELDS, None
    file, fields = found
    checker.custom_facts = fields.facts()
    for entity in ENTITIES:
        for i, f in enumerate(fields.of(entity, retired=True)):
            problem = coerce(f, f.default)[1] if f.default is not None else None
            if problem:
                checker.at(file, ("fields", entity, i, "default"), f"default: {problem}")
    return fields, (file, *locate(checker.raw.get(file), ("fields",), key=True))


def _test_marks(checker: Checker, models: dict[str, RuleFile]) -> tuple[tuple[int, int], ...]:
    """Where each test of ``models`` starts (line, column), in :attr:`RuleSet.tests` order."""
    return tuple(
        locate(checker.raw.get(f), ("tests", i))
        for f, m in models.items()
        for i in range(len(m.tests))
    )


def load_rules(
    directory: Path | str,
    pm: pluggy.PluginManager | None = None,
    limits: RuleLimits = DEFAULT_LIMITS,
) -> RuleSet:
    """Read, check and compile every rule file of ``directory``.

    Raises :class:`RulesInvalid` listing every error (files over ``limits`` included), or
    :class:`PluginError` when a plugin's provider hook fails.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise RulesInvalid([RuleError(str(directory), 1, 1, "rules directory not found")])
    pm = pm or get_plugin_manager()
    registry = Registry.from_plugins(pm)
    checker = Checker(registry, limits)
    models, contents = _read(directory, limits, checker)
    checker.interaction_types = declared_interaction_types(checker, registry, models)
    contact_types = declared_contact_types(checker, models)
    compiler = Compiler({name: p.value for name, p in registry.operators.items()})
    custom_fields, fields_source = read_fields(checker, models)
    found_matching = only_one(checker, models, "matching")
    matching = found_matching[1] if found_matching else DEFAULT_MATCHING
    if found_matching:
        check_matching(checker, found_matching[0], matching, custom_fields)
    found_survivorship = only_one(checker, models, "survivorship")
    found_lc = only_one(checker, models, "lifecycle")
    lifecycle: Lifecycle | None = found_lc[1] if found_lc else None
    scoring = [(f, i, s) for f, m in models.items() for i, s in enumerate(m.scoring)]
    checker.vocabulary = vocabulary(
        stages=lifecycle.stage_names if lifecycle is not None else None,
        models=[s.name for _, _, s in scoring],
        interaction_types=checker.interaction_types,
        contact_types=contact_types,
        custom=custom_fields.enum_values(),
    )
    if found_lc and lifecycle is not None:
        check_lifecycle(checker, found_lc[0], lifecycle)

    checker.unique(((s.name, f, ("scoring", i, "name")) for f, i, s in scoring), "scoring model")
    scorers: dict[str, Scorer] = {}
    for f, i, scoring_model in scoring:
        check_scoring(checker, f, i, scoring_model, compiler, scorers)

    segments = [(f, i, s) for f, m in models.items() for i, s in enumerate(m.segments)]
    checker.unique(((s.name, f, ("segments", i, "name")) for f, i, s in segments), "segment")
    check_segments(checker, segments)

    model_names = {s.name for _, _, s in scoring}
    segment_names = {s.name for _, _, s in segments}
    for f, m in models.items():
        check_tests(checker, f, m.tests, model_names, segment_names, lifecycle, matching)

    if checker.errors:
        raise RulesInvalid(checker.errors)
    return RuleSet(
        version=content_version(contents),
        directory=str(directory),
        files=tuple(name for name, _ in contents),
        matching=matching,
        scoring_models=tuple(s for _, _, s in scoring),
        lifecycle=lifecycle,
        segments=tuple(s for _, _, s in segments),
        tests=tuple((f, t) for f, m in models.items() for t in m.tests),
        registry=registry,
        compiler=compiler,
        scorers=scorers,
        survivorship=found_survivorship[1] if found_survivorship else Survivorship(),
        interaction_types=checker.interaction_types,
        contact_types=contact_types,
        lifecycle_source=(
            (found_lc[0], *locate(checker.raw.get(found_lc[0]), ("lifecycle", "stages"), key=True))
            if found_lc
            else None
        ),
        sources=tuple(sorted(contents)),
        custom_fields=custom_fields,
        fields_source=fields_source,
        test_marks=_test_marks(checker, models),
    )


__all__ = [
    "PluginError",
    "RuleError",
    "RuleSet",
    "RulesInvalid",
    "load_rules",
    "segment_cycle",
]
