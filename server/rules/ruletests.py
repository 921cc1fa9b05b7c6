"""Run the ``tests:`` blocks of rule files: given records, the expected score, stage, match
or segment membership."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..contracts import Facts
from .evaluate import evaluate
from .lifecycle import assignment_rule, start_stage
from .loader import RuleError
from .matcher import Matcher
from .models import RuleTest, duration
from .ruleset import RuleSet
from .scoring import score_lead
from .segments import is_member

DEFAULT_NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@dataclass
class Outcome:
    file: str
    test: str
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def __str__(self) -> str:
        head = f"{self.file} :: {self.test}"
        return head + ("" if self.ok else "\n  " + "\n  ".join(self.failures))


def _interactions(test: RuleTest, now: datetime) -> list[dict[str, Any]]:
    out = []
    for item in test.given.interactions:
        doc = dict(item)
        if "ago" in doc:
            doc["occurredAt"] = now - duration(str(doc.pop("ago")))
        out.append(doc)
    return out


def run_test(ruleset: RuleSet, file: str, test: RuleTest) -> Outcome:
    out = Outcome(file, test.name)
    now = test.now or DEFAULT_NOW
    given = test.given
    facts = Facts(
        lead=dict(given.lead or {}),
        contact=given.contact,
        account=given.account,
        contacts=[given.contact] if given.contact else [],
        interactions=_interactions(test, now),
    )
    _check_scores(ruleset, test, facts, now, out)
    _check_stage(ruleset, test, facts, now, out)
    _check_owner(ruleset, test, facts, now, out)
    _check_segments(ruleset, test, facts, now, out)
    _check_matching(ruleset, test, out)
    return out


def _check_scores(
    ruleset: RuleSet, test: RuleTest, facts: Facts, now: datetime, out: Outcome
) -> None:
    """``expect.score``, ``sales_ready``, ``explanation``, ``grade`` and ``scored``."""
    expect = test.expect
    if (
        expect.score
        or expect.sales_ready
        or expect.explanation
        or expect.grade
        or expect.scored is not None
    ):
        results = {r.model: r for r in score_lead(ruleset, facts, now)}
        if expect.scored is not None and bool(results) is not expect.scored:
            out.failures.append(f"scored: expected {expect.scored}, got {sorted(results)}")
        for model, want in expect.score.items():
            got = results[model].score if model in results else None
            if got is None or abs(got - want) > 1e-9:
                out.failures.append(f"score of {model}: expected {want:g}, got {got}")
        for model, want_ready in expect.sales_ready.items():
            got_ready = results[model].sales_ready if model in results else None
            if got_ready is not want_ready:
                out.failures.append(
                    f"sales_ready of {model}: expected {want_ready}, got {got_ready}"
                )
        for model, want_rules in expect.explanation.items():
            got_rules = dict(results[model].explanation) if model in results else {}
            if got_rules != want_rules:
                out.failures.append(
                    f"explanation of {model}: expected {want_rules}, got {got_rules}"
                )
        for model, want_grade in expect.grade.items():
            got_grade = results[model].grade if model in results else None
            if got_grade != want_grade:
                why = f" ({results[model].grade_reason})" if model in results else ""
                out.failures.append(
                    f"grade of {model}: expected {want_grade}, got {got_grade}{why}"
                )


def _check_stage(
    ruleset: RuleSet, test: RuleTest, facts: Facts, now: datetime, out: Outcome
) -> None:
    """``expect.stage`` and ``transition``."""
    expect = test.expect
    if expect.stage is not None or expect.transition is not None:
        # The funnel runner's own pure evaluation: scores, salesReady and the transitions.
        lead = facts["lead"]
        if test.trigger == "created" and not lead.get("stage") and ruleset.lifecycle:
            # a new lead starts where the lifecycle's start_at rules send it
            lead = facts["lead"] = {**lead, "stage": start_stage(ruleset, lead, now)}
        path = evaluate(ruleset, facts, {test.trigger or "updated"}, now).transitions
        stage = (
            path[-1].to
            if path
            else lead.get("stage") or (ruleset.lifecycle.initial if ruleset.lifecycle else None)
        )
        if expect.stage is not None and stage != expect.stage:
            out.failures.append(
                f"stage: expected {expect.stage!r}, got {stage!r} (via {[t.name for t in path]})"
            )
        if expect.transition is not None and (not path or path[0].name != expect.transition):
            got_t = path[0].name if path else None
            out.failures.append(f"transition: expected {expect.transition!r}, got {got_t!r}")


def _check_owner(
    ruleset: RuleSet, test: RuleTest, facts: Facts, now: datetime, out: Outcome
) -> None:
    """``expect.owner``: the owner the lead has after its trigger, as the assignment rules
    give one to an open lead without (:mod:`leadgraph.services.assignment`): the first rule
    one of whose ``when`` fired (the trigger; ``acceptance`` when the lead reaches the
    acceptance stage) and whose ``where`` holds.  A test starts every round robin afresh and
    knows no other lead: the first owner of a ``round_robin`` or ``least_loaded`` list."""
    expect = test.expect
    if "owner" not in expect.model_fields_set:
        return
    lead = dict(facts["lead"])
    trigger = test.trigger or "updated"
    lc = ruleset.lifecycle
    if trigger == "created" and not lead.get("stage") and lc is not None:
        lead["stage"] = start_stage(ruleset, lead, now)
    path = evaluate(ruleset, {**facts, "lead": lead}, {trigger}, now).transitions
    before = None if trigger == "created" else lead.get("stage")
    stage = path[-1].to if path else lead.get("stage")
    fired: set[str] = {trigger}
    if lc is not None and stage == lc.acceptance_stage and (path or before != stage):
        fired.add("acceptance")
    got = lead.get("owner")
    if not got and lead.get("status", "open") == "open":
        rule = assignment_rule(ruleset, {**facts, "lead": {**lead, "stage": stage}}, fired, now)
        if rule is not None:
            listed = rule.round_robin or rule.least_loaded or []
            got = rule.owner or (listed[0] if listed else None)
    if got != expect.owner:
        out.failures.append(f"owner: expected {expect.owner!r}, got {got!r}")


def _check_segments(
    ruleset: RuleSet, test: RuleTest, facts: Facts, now: datetime, out: Outcome
) -> None:
    """``expect.segments``: membership of each named segment."""
    expect, given = test.expect, test.given
    for name, want_member in expect.segments.items():
        segment = ruleset.segment(name)
        assert segment is not None, "checked when the rules load"
        got_member = is_member(
            ruleset,
            segment,
            given.contact or {},
            account=given.account,
            leads=given.leads,
            opportunities=given.opportunities,
            interactions=facts["interactions"],
            now=now,
        )
        if got_member is not want_member:
            out.failures.append(f"segment {name}: expected member={want_member}, got {got_member}")


def _check_matching(ruleset: RuleSet, test: RuleTest, out: Outcome) -> None:
    """``expect.contact_strategy``, ``lead_strategy`` and ``matches``."""
    matcher = Matcher(ruleset)
    expect, given = test.expect, test.given
    for entity, want_name in (("contact", expect.contact_strategy), ("lead", expect.lead_strategy)):
        if want_name is not None:
            got_name = matcher.strategy(entity, test.form).name  # type: ignore[arg-type]
            if got_name != want_name:
                out.failures.append(
                    f"{entity} strategy for form {test.form!r}: expected "
                    f"{want_name!r}, got {got_name!r}"
                )

    if expect.matches is not None:
        entity = test.entity or "lead"
        record = dict((given.lead if entity == "lead" else given.contact) or {})
        strategy = matcher.strategy(entity, test.form)
        got_match = matcher.records_match(strategy, record, dict(test.candidate or {}))
        if got_match is not expect.matches:
            out.failures.append(
                f"match under {strategy.name}: expected {expect.matches}, got {got_match}"
            )


def run_tests(ruleset: RuleSet) -> list[Outcome]:
    """Every ``tests:`` entry of every rule file, in file order."""
    return [run_test(ruleset, file, test) for file, test in ruleset.tests]


def failing_tests(ruleset: RuleSet) -> list[RuleError]:
    """The rule files' own ``tests:`` that fail, as errors like an invalid file's (at the
    test's ``- name:`` line): rules whose tests fail do not go live on a reload, and
    ``leadgraph rules check`` refuses them."""
    marks = ruleset.test_marks or ((1, 1),) * len(ruleset.tests)
    errors: list[RuleError] = []
    index: dict[str, int] = {}
    for (file, test), (line, column) in zip(ruleset.tests, marks, strict=True):
        i = index[file] = index.get(file, -1) + 1
        outcome = run_test(ruleset, file, test)
        if not outcome.ok:
            failures = "; ".join(outcome.failures)
            message = f"test {test.name!r} fails: {failures}"
            errors.append(RuleError(file, line, column, message, ("tests", i)))
    return errors
