"""Segments: which contacts are in, read one contact at a time (Python) or over the database.

A dynamic segment's condition reads the contact, its account (``contact.accountId``), its
interactions and — when it mentions ``lead.`` facts — its leads: then a contact is a member
when *one of its leads* satisfies the whole condition together with the contact (contacts
without leads are not members).  A static segment's members are its list; a compound
segment's are the members of its ``include`` segments minus those of its ``exclude``
segments.  A segment's ``purpose`` then removes the contacts its consent rules exclude
(:mod:`leadgraph.rules.purposes`).

:func:`is_member` and :func:`explain` are the one-contact reading; :func:`with_consent` gives
the condition the database runs for a dynamic segment, which :mod:`leadgraph.store.segment_query`
runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .conditions import entities, walk
from .models import AllOf, AnyOf, Compare, Condition, Event, NotOf, Segment
from .purposes import Exclusion, exclusions
from .ruleset import RuleSet

#: name -> the segment called so (None: no such segment)
Resolve = Callable[[str], Segment | None]
#: segment name -> whether the contact is on that static segment's list
Listed = Callable[[str], bool]


class UnknownSegment(KeyError):
    pass


def get_segment(ruleset: RuleSet, name: str) -> Segment:
    segment = ruleset.segment(name)
    if segment is None:
        raise UnknownSegment(name)
    return segment


def mentions_leads(cond: Condition | None) -> bool:
    return cond is not None and "lead" in entities(cond)


#: The records that reach people (through their contact, else their account's contacts): a
#: condition on their fields makes a contact a member when one of *its* records meets it.
REACHING = ("lead", "opportunity")


def base_of(cond: Condition | None) -> str:
    """What a condition's members are found through: ``lead`` or ``opportunity`` when it reads
    their facts (a segment reads one of them, never both), else ``contact``."""
    found = entities(cond) if cond is not None else set()
    return next((r for r in REACHING if r in found), "contact")


def consent_filter(segment: Segment) -> Condition | None:
    """What a member must also meet for the segment's purpose: none of its exclusions (None
    when the purpose has none)."""
    rules = exclusions(segment.purpose, segment.subscription_list)
    return NotOf.model_validate({"not": AnyOf(any=[r.when for r in rules])}) if rules else None


def with_consent(segment: Segment) -> Condition:
    """A dynamic segment's condition with its purpose's exclusions: what the database runs."""
    assert segment.where is not None
    rules = exclusions(segment.purpose, segment.subscription_list)
    if not rules:
        return segment.where
    return AllOf(
        all=[segment.where, NotOf.model_validate({"not": AnyOf(any=[r.when for r in rules])})]
    )


@dataclass(frozen=True)
class Facts:
    """One contact and what its segments may read."""

    contact: Mapping[str, Any]
    account: Mapping[str, Any] | None = None
    leads: Sequence[Mapping[str, Any]] = ()
    interactions: Sequence[Mapping[str, Any]] = ()
    #: its opportunities and its account's that have no contact
    opportunities: Sequence[Mapping[str, Any]] = ()

    def record(self, base: str = "contact", one: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The facts with ``one`` of its leads or opportunities (``base``) as ``lead`` or
        ``opportunity``."""
        return {
            "contact": self.contact,
            "account": self.account,
            "lead": one if base == "lead" else None,
            "opportunity": one if base == "opportunity" else None,
            "interactions": list(self.interactions),
        }

    def of(self, base: str) -> Sequence[Mapping[str, Any]]:
        return {"lead": self.leads, "opportunity": self.opportunities}.get(base, ())


def is_member(
    ruleset: RuleSet,
    segment: Segment,
    contact: Mapping[str, Any],
    *,
    account: Mapping[str, Any] | None = None,
    leads: Sequence[Mapping[str, Any]] = (),
    interactions: Sequence[Mapping[str, Any]] = (),
    opportunities: Sequence[Mapping[str, Any]] = (),
    now: datetime | None = None,
    resolve: Resolve | None = None,
    listed: Listed | None = None,
) -> bool:
    """Whether one contact (with its account, leads and interactions) is in the segment.

    ``resolve`` finds the segments a compound one names (default: the rule set's);
    ``listed`` says whether the contact is on a static segment's list (default: never)."""
    facts = Facts(contact, account, leads, interactions, opportunities)
    return explain(ruleset, segment, facts, now=now, resolve=resolve, listed=listed).member


@dataclass
class ConditionResult:
    """One node of a segment's definition and whether it holds for the contact."""

    path: str
    text: str
    holds: bool


@dataclass
class ExclusionResult:
    reason: str
    description: str
    applies: bool


@dataclass
class Explanation:
    """Why a contact is in a segment or not."""

    member: bool
    matched: bool  # the definition (condition, list or include/exclude) holds
    conditions: list[ConditionResult] = field(default_factory=list)
    exclusions: list[ExclusionResult] = field(default_factory=list)
    lead: Mapping[str, Any] | None = None  # the lead that satisfied a lead condition
    opportunity: Mapping[str, Any] | None = None  # the opportunity that satisfied one

    @property
    def excluded_by(self) -> list[str]:
        return [e.reason for e in self.exclusions if e.applies]


def describe(cond: Condition) -> str:
    """A short text of one condition node."""
    if isinstance(cond, Compare):
        return f"{cond.fact} {cond.op} {cond.value!r}"
    if isinstance(cond, AllOf):
        return f"all of {len(cond.all)}"
    if isinstance(cond, AnyOf):
        return f"any of {len(cond.any)}"
    if isinstance(cond, NotOf):
        return "not"
    assert isinstance(cond, Event)
    spec = cond.event
    count = f"at least {spec.min}" + (f", at most {spec.max}" if spec.max is not None else "")
    window = f" within {spec.within}" if spec.within else ""
    where = " matching where" if spec.where is not None else ""
    return f"{count} {'/'.join(spec.type)}{window}{where}"


def _path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc)


def explain(
    ruleset: RuleSet,
    segment: Segment,
    facts: Facts,
    *,
    now: datetime | None = None,
    resolve: Resolve | None = None,
    listed: Listed | None = None,
    _seen: frozenset[str] = frozenset(),
) -> Explanation:
    """Each part of the segment's definition with true/false for this contact, and each of its
    purpose's consent rules with whether it excludes the contact."""
    now = now or datetime.now(UTC)
    find = resolve or ruleset.segment
    on_list = listed or (lambda name: False)
    out = Explanation(member=False, matched=False)
    if segment.kind == "dynamic":
        assert segment.where is not None
        test = ruleset.compiler.predicate
        record = facts.record()
        base = base_of(segment.where)
        if base != "contact":
            whole, ones = test(segment.where), facts.of(base)
            chosen = next((r for r in ones if whole(facts.record(base, r), now)), None)
            one = chosen if chosen is not None else (ones[0] if ones else None)
            if base == "lead":
                out.lead = chosen
            else:
                out.opportunity = chosen
            record = facts.record(base, one) if one is not None else {}
        for node, loc in walk(segment.where, ("where",)):
            if any(part == "where" for part in loc[1:]):
                continue  # inside an event: the event's line says it
            holds = bool(record) and test(node)(record, now)
            out.conditions.append(ConditionResult(_path(loc), describe(node), holds))
        out.matched = out.conditions[0].holds
    elif segment.kind == "static":
        out.matched = on_list(segment.name)
        out.conditions.append(ConditionResult("list", "on the segment's list", out.matched))
    else:
        ins: list[bool] = []
        outs: list[bool] = []
        for key, names, results in (
            ("include", segment.include, ins),
            ("exclude", segment.exclude, outs),
        ):
            for i, name in enumerate(names):
                ref = find(name)
                inner = (
                    ref is not None
                    and name not in _seen
                    and explain(
                        ruleset,
                        ref,
                        facts,
                        now=now,
                        resolve=find,
                        listed=on_list,
                        _seen=_seen | {segment.name},
                    ).member
                )
                results.append(inner)
                out.conditions.append(ConditionResult(f"{key}.{i}", f"in segment {name!r}", inner))
        out.matched = any(ins) and not any(outs)
    record = facts.record()
    for rule in exclusions(segment.purpose, segment.subscription_list):
        applies = ruleset.compiler.predicate(rule.when)(record, now)
        out.exclusions.append(ExclusionResult(rule.reason, rule.description, applies))
    out.member = out.matched and not out.excluded_by
    return out


def exclusion_rules(segment: Segment) -> list[Exclusion]:
    return exclusions(segment.purpose, segment.subscription_list)
