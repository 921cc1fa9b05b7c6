"""Pydantic models of the rule files: what each kind of rule may say.

One YAML file is one :class:`RuleFile`; a directory of them becomes one immutable
:class:`~leadgraph.rules.ruleset.RuleSet`.  Field names of records (``contact.jobTitle``) are
camelCase as stored; the keys of the rule files themselves are snake_case.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    WithJsonSchema,
    model_validator,
)

Name = Annotated[str, StringConstraints(min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$")]
#: A subscription list's name as lists are named (``Product updates``): spaces allowed, trimmed,
#: at most 100 characters, no control characters (``services.subscriptions.clean_name``).
ListName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$"
    ),
]
Duration = Annotated[
    str,
    StringConstraints(pattern=r"^\d+[mhdw]$"),
    Field(description="A time window: a number and a unit, m(inutes), h(ours), d(ays), w(eeks)."),
]
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def duration(text: str) -> timedelta:
    """``"30d"`` -> ``timedelta(days=30)``."""
    match = re.fullmatch(r"(\d+)([mhdw])", text)
    if match is None:
        raise ValueError(f"not a duration: {text!r} (expected e.g. 30d, 12h, 2w)")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def _as_datetime(value: Any) -> Any:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, list):
        return [_as_datetime(v) for v in value]
    return value


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


_INT64 = 2**63


def _scalar(value: Any) -> Any:
    """A value a comparison may hold: a string, number, boolean, date or null. Never an
    object: a value reaches MongoDB inside the operator's filter, where ``{"$regex": ...}``
    would be an operator the rule never wrote."""
    if isinstance(value, dict):
        ops = sorted(k for k in value if isinstance(k, str) and k.startswith("$"))
        said = f" ({', '.join(ops)} is not an operator here: use `op:`)" if ops else ""
        raise ValueError(
            f"expected a string, a number, a boolean, a date or null, got an object{said}"
        )
    if isinstance(value, list):
        raise ValueError("expected a string, a number, a boolean, a date or null, got a list")
    if isinstance(value, int) and not isinstance(value, bool) and not -_INT64 <= value < _INT64:
        raise ValueError("an integer beyond 64 bits cannot be compared with stored values")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value} is not a finite number")
    if value is not None and not isinstance(value, str | int | float | datetime):
        raise ValueError(f"expected a string, a number, a boolean, a date or null: {value!r}")
    return value


Scalar = Annotated[
    Any,
    AfterValidator(_scalar),
    WithJsonSchema({"type": ["string", "number", "boolean", "null"]}),
]


def _shape(value: Any) -> str:
    return "List" if isinstance(value, list) else "Scalar"


# An array a field may equal (``eq: [news]``, ``in: [[news], []]``): a list of scalars.
_Item = Annotated[
    Annotated[list[Scalar], Tag("List")] | Annotated[Scalar, Tag("Scalar")], Discriminator(_shape)
]
#: What ``value`` of ``{fact, op, value}`` may be: a scalar, or a list of scalars and arrays of
#: scalars (what each operator takes of these is the operator's ``check``). The tags are
#: capitalised so that the rule-file loader, which names a value's nearest lowercase key,
#: still says ``value``.
Value = Annotated[
    Annotated[list[_Item], Tag("List")] | Annotated[Scalar, Tag("Scalar")],
    Discriminator(_shape),
    BeforeValidator(_as_datetime),
]


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# ---------------------------------------------------------------- the condition language


class Compare(Rule):
    """A comparison on one record field: ``{fact: contact.jobTitle, op: in, value: [...]}``."""

    fact: str = Field(description="`contact.`, `lead.`, `account.` or `interaction.` + a field.")
    op: str = Field(default="eq", description="eq, ne, in, not_in, gt, gte, lt, lte, exists, ...")
    value: Value = None


class AllOf(Rule):
    all: list[Condition] = Field(min_length=1, description="Every condition holds.")


class AnyOf(Rule):
    any: list[Condition] = Field(min_length=1, description="At least one condition holds.")


class NotOf(Rule):
    not_: Condition = Field(alias="not", description="The condition does not hold.")


class EventSpec(Rule):
    """Interactions of the contact: which type, how many, within what time window."""

    type: Annotated[list[str], BeforeValidator(_as_list)] = Field(
        min_length=1, description="Interaction type(s), e.g. email_opened."
    )
    within: Duration | None = None
    min: int = Field(default=1, ge=0, description="At least this many (default 1).")
    max: int | None = Field(default=None, ge=0, description="At most this many.")
    where: Condition | None = Field(
        default=None, description="A condition on `interaction.` fields of each occurrence."
    )


class Event(Rule):
    event: EventSpec


def _condition_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        for key in ("all", "any", "not", "event", "fact"):
            if key in value:
                return key
        return None
    tags: dict[type, str] = {
        AllOf: "all",
        AnyOf: "any",
        NotOf: "not",
        Event: "event",
        Compare: "fact",
    }
    return tags.get(type(value))


Condition = Annotated[
    Annotated[AllOf, Tag("all")]
    | Annotated[AnyOf, Tag("any")]
    | Annotated[NotOf, Tag("not")]
    | Annotated[Event, Tag("event")]
    | Annotated[Compare, Tag("fact")],
    Discriminator(
        _condition_tag,
        custom_error_type="condition",
        custom_error_message="expected a condition: a mapping with all, any, not, event or fact",
    ),
]

# ---------------------------------------------------------------- matching


class Strategy(Rule):
    """A matching strategy: which fields decide that a new record already exists."""

    name: Name
    entity: Literal["contact", "lead"]
    kind: str = Field(default="exact", description="A matching kind provided by a plugin.")
    fields: list[str] = Field(min_length=1, description="Record fields compared, camelCase.")
    create: bool = Field(
        default=True, description="False: find and score existing records, never create one."
    )
    description: str = ""
    options: dict[str, Any] = Field(default_factory=dict)


class FormAssignment(Rule):
    form: str = Field(description="A marketing form (landing page) id.")
    contact: str | None = Field(default=None, description="Contact strategy for this form.")
    lead: str | None = Field(default=None, description="Lead strategy for this form.")


class MatchingDefaults(Rule):
    contact: str
    lead: str


class Matching(Rule):
    strategies: list[Strategy] = Field(min_length=1)
    defaults: MatchingDefaults
    forms: list[FormAssignment] = Field(default_factory=list)
    link_orphan_leads: bool = Field(
        default=True,
        description="A lead created with neither a parent contact nor a parent account gets "
        "a contact at once (seed 001's recommended setup): the contact strategy finds an "
        "existing contact by the lead's own data, else a `marketingOnly` contact is created. "
        "`false` leaves new orphan leads for `linkOrphanLeads`.",
    )

    def strategy(self, name: str) -> Strategy | None:
        return next((s for s in self.strategies if s.name == name), None)

    def _for(self, entity: str, form_id: str | None) -> Strategy:
        for assignment in self.forms:
            if form_id is not None and assignment.form == form_id:
                chosen = getattr(assignment, entity)
                if chosen:
                    found = self.strategy(chosen)
                    if found is not None:
                        return found
        found = self.strategy(getattr(self.defaults, entity))
        assert found is not None, "defaults are checked when the rules load"
        return found

    def contact_strategy_for(self, form_id: str | None) -> Strategy:
        """The contact strategy of a form (the default contact strategy otherwise)."""
        return self._for("contact", form_id)

    def lead_strategy_for(self, form_id: str | None) -> Strategy:
        """The lead strategy of a form (the default lead strategy otherwise)."""
        return self._for("lead", form_id)


# ---------------------------------------------------------------- scoring


class ScoringRule(Rule):
    """Points a lead earns: once when ``when`` holds, or per occurrence of ``per_event``."""

    name: str = Field(min_length=1)
    points: float
    when: Condition | None = None
    per_event: EventSpec | None = Field(
        default=None, description="Award `points` for each matching interaction."
    )
    cap: float | None = Field(default=None, description="At most this many points in total.")
    half_life: Duration | None = Field(
        default=None,
        description="Decay (per_event rules): each occurrence's points x 0.5^(age/half_life), "
        "so an event half_life old counts half; applied before `cap`.",
    )


Grade = Literal["A", "B", "C", "D", "E", "F"]
GRADES: tuple[str, ...] = get_args(Grade)  # best first
RollupMethod = Literal["max", "sum", "average"]
ROLLUP_METHODS: tuple[str, ...] = get_args(RollupMethod)


class GradeRule(Rule):
    """A grade (fit, A best to F) a model gives when ``when`` holds; the first that holds wins,
    one without ``when`` gives its grade otherwise."""

    grade: Grade
    when: Condition | None = Field(
        default=None, description="Conditions on the lead, contact and account; none: otherwise."
    )
    name: str = Field(
        default="", description="Why the grade is given (default: the condition, as text)."
    )


class ScoringModel(Rule):
    name: Name
    kind: str = Field(default="points", description="A scoring kind provided by a plugin.")
    description: str = ""
    threshold: float = Field(description="Sales-ready threshold: a score at or above it.")
    applies_to: Condition | None = Field(
        default=None, description="Only leads meeting this condition are scored by the model."
    )
    rules: list[ScoringRule] = Field(default_factory=list)
    options: dict[str, Any] = Field(default_factory=dict)
    grades: list[GradeRule] = Field(
        default_factory=list,
        description="A grade (fit) besides the score: the first entry whose `when` holds.",
    )
    account_rollup: RollupMethod | None = Field(
        default=None,
        description="Roll the model's scores up to accounts (Account.scores): the max, sum or "
        "average over the leads of the account and of its contacts.",
    )


# ---------------------------------------------------------------- lifecycle

TRIGGERS = ("created", "scored", "updated", "interaction")


class StageField(Rule):
    """A value a person records for a lead in a stage (the teleprospecting call notes, a
    budget): given with ``moveLeadStage(..., fields:)`` when a person moves the lead into the
    stage, and shown on ``Lead.stageFields``."""

    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")] = Field(
        description="The field's name in `fields:` and `lead.stageFields.<stage>.<name>`."
    )
    type: Literal["string", "number", "date", "enum"] = Field(
        default="string", description="string, number, date (YYYY-MM-DD) or enum (of `values`)."
    )
    required: bool = Field(
        default=False, description="A person moving the lead into the stage must give it."
    )
    values: list[str] = Field(
        default_factory=list, description="The allowed values of an enum field."
    )
    label: str = ""
    description: str = ""


class Stage(Rule):
    name: Name
    label: str = ""
    description: str = ""
    fields: list[StageField] = Field(
        default_factory=list, description="What a person records when moving a lead into it."
    )

    def field(self, name: str) -> StageField | None:
        return next((f for f in self.fields if f.name == name), None)


class StartAt(Rule):
    """A new lead meeting ``when`` (a condition on its own ``lead.`` fields, e.g. its
    ``marketingSource`` or the role of the key that created it) starts at ``stage``."""

    stage: str
    when: Condition = Field(description="A condition on the new lead's own `lead.` fields.")
    description: str = ""


class ActionCall(Rule):
    action: str = Field(description="An action provided by a plugin (built-in: set).")
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")


class Transition(Rule):
    name: Name
    from_: Annotated[list[str], BeforeValidator(_as_list)] = Field(
        alias="from", min_length=1, description="Stage(s) the lead may be in."
    )
    to: str
    on: Annotated[
        list[Literal["created", "scored", "updated", "interaction"]], BeforeValidator(_as_list)
    ] = Field(
        default_factory=list,
        description="Triggers that take this transition automatically; none: by hand only.",
    )
    guard: Condition | None = None
    requires: list[str] = Field(default_factory=list, description="Named guards from plugins.")
    actions: list[ActionCall] = Field(default_factory=list)
    description: str = ""


class Lifecycle(Rule):
    name: Name
    initial: str
    stages: list[Stage] = Field(min_length=1)
    transitions: list[Transition] = Field(default_factory=list)
    qualify_from: Annotated[list[str] | None, BeforeValidator(_as_list)] = Field(
        default=None,
        description="Stages a lead may be qualified into an opportunity from (default: "
        "sales_acceptance when the lifecycle has it, else its last stage).",
    )
    qualify_accepted_only: bool = Field(
        default=True,
        description='`qualifyLead` only qualifies a lead sales accepted (an owner and "sales '
        'accepted", at the acceptance stage); false: any lead at a `qualify_from` stage. '
        "Without an acceptance stage no lead can be accepted and this does not apply.",
    )
    qualify_roles: list[str] = Field(
        default_factory=lambda: ["sales", "admin"],
        min_length=1,
        description="The API-key roles that may qualify a lead into an opportunity.",
    )
    start_at: list[StartAt] = Field(
        default_factory=list,
        description="Where new leads start instead of `initial`: the first rule whose `when` "
        "holds for the new lead (leads created by sales start at sales acceptance).",
    )
    accept_at: str | None = Field(
        default=None,
        description="The stage where sales accepts a lead and assigns it an owner (default: "
        "sales_acceptance when the lifecycle has it).",
    )
    retired_stages: dict[str, str] = Field(
        default_factory=dict,
        description="Stages removed from the lifecycle -> the stage their leads move to when "
        "these rules go live (a stage that still holds leads cannot simply be removed).",
    )

    @property
    def stage_names(self) -> list[str]:
        return [s.name for s in self.stages]

    def stage(self, name: str) -> Stage | None:
        return next((s for s in self.stages if s.name == name), None)

    @property
    def acceptance_stage(self) -> str | None:
        """The stage where entering by a person's hand (or ``assignLead``) records "sales
        accepted" with an owner."""
        if self.accept_at is not None:
            return self.accept_at
        return "sales_acceptance" if "sales_acceptance" in self.stage_names else None

    @property
    def qualification_stages(self) -> list[str]:
        """The stages ``qualifyLead`` accepts a lead in."""
        if self.qualify_from is not None:
            return list(self.qualify_from)
        names = self.stage_names
        return ["sales_acceptance"] if "sales_acceptance" in names else names[-1:]


# ---------------------------------------------------------------- interaction types


INTERACTION_TYPE_NAME = r"^[a-z][a-z0-9_]{0,63}$"


class InteractionTypeDecl(Rule):
    """An interaction type beyond the built-in ones (``email_opened``, ...)."""

    name: Annotated[str, StringConstraints(pattern=INTERACTION_TYPE_NAME)] = Field(
        description="Lowercase snake_case, e.g. webinar_watched."
    )
    description: str = ""


# ---------------------------------------------------------------- segments


SegmentKind = Literal["dynamic", "static", "compound"]
SEGMENT_KINDS: tuple[str, ...] = get_args(SegmentKind)


class Segment(Rule):
    """A named set of contacts: ``dynamic`` (a condition on the contact, its account, its leads,
    its interactions), ``static`` (an explicit list, kept through the API) or ``compound``
    (the members of the ``include`` segments minus those of the ``exclude`` segments).

    A ``purpose`` (see :mod:`leadgraph.rules.purposes`) removes the contacts that may not be
    reached for it (consent, preferences, the ``subscription_list``'s opt-outs)."""

    name: Name
    description: str = ""
    kind: SegmentKind = Field(
        default="dynamic", description="dynamic (where), static (a list) or compound."
    )
    where: Condition | None = Field(default=None, description="dynamic: the condition.")
    include: list[Name] = Field(
        default_factory=list, description="compound: the segments whose members are in."
    )
    exclude: list[Name] = Field(
        default_factory=list, description="compound: the segments whose members are out."
    )
    purpose: Name | None = Field(
        default=None,
        description="What the segment is for, e.g. commercial_email: excludes the contacts "
        "that may not be reached for it.",
    )
    subscription_list: ListName | None = Field(
        default=None,
        description="The subscription list a mailing to the segment belongs to: contacts who "
        "unsubscribed from it (contact.unsubscribed) are excluded.",
    )

    @model_validator(mode="after")
    def _shape(self) -> Segment:
        if self.kind == "dynamic" and self.where is None:
            raise ValueError("missing required field 'where' (a dynamic segment's condition)")
        if self.kind != "dynamic" and self.where is not None:
            raise ValueError(f"a {self.kind} segment has no `where`")
        if self.kind == "compound" and not self.include:
            raise ValueError("a compound segment needs `include`")
        if self.kind != "compound" and (self.include or self.exclude):
            raise ValueError(f"a {self.kind} segment has no `include`/`exclude`")
        return self


# ---------------------------------------------------------------- tests: blocks


class Given(Rule):
    lead: dict[str, Any] | None = None
    contact: dict[str, Any] | None = None
    account: dict[str, Any] | None = None
    leads: list[dict[str, Any]] = Field(
        default_factory=list, description="The contact's leads (segment tests)."
    )
    interactions: list[dict[str, Any]] = Field(
        default_factory=list,
        description="The contact's interactions; `ago: 3d` instead of `occurredAt` is relative "
        "to the test's `now`.",
    )


class Expect(Rule):
    scored: bool | None = Field(
        default=None, description="Whether any model scores the lead (false: not scored)."
    )
    score: dict[str, float] = Field(default_factory=dict, description="Model -> score.")
    sales_ready: dict[str, bool] = Field(default_factory=dict)
    explanation: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="Model -> {rule: points} (the rules that scored)."
    )
    grade: dict[str, Grade | None] = Field(
        default_factory=dict, description="Model -> grade (null: the model gives none)."
    )
    stage: str | None = None
    transition: str | None = None
    segments: dict[str, bool] = Field(default_factory=dict, description="Segment -> member?")
    contact_strategy: str | None = None
    lead_strategy: str | None = None
    matches: bool | None = None


class RuleTest(Rule):
    name: str = Field(min_length=1)
    now: Annotated[datetime | None, BeforeValidator(_as_datetime)] = None
    given: Given = Field(default_factory=Given)
    trigger: Literal["created", "scored", "updated", "interaction"] | None = Field(
        default=None, description="Lifecycle tests: the trigger applied to `given.lead`."
    )
    form: str | None = Field(default=None, description="Matching tests: the form id.")
    entity: Literal["contact", "lead"] | None = Field(
        default=None, description="Matching tests: which record is matched."
    )
    candidate: dict[str, Any] | None = Field(
        default=None, description="Matching tests: an existing record compared with `given`."
    )
    expect: Expect


# ---------------------------------------------------------------- one file


MERGED_FIELDS = (
    "firstName",
    "lastName",
    "email",
    "phone",
    "jobTitle",
    "role",
    "accountId",
    "marketingSource",
    "marketingOnly",
    "subscriptions",
    "preferences.allowBulkEmail",
    "preferences.allowEmail",
    "preferences.allowPrefill",
    "preferences.trackEmail",
    "consent.level",
    "consent.isChild",
    "consent.guardian",
)
Policy = Literal["survivor", "newest", "oldest", "union", "any", "all", "keep"]
MergedField = Literal[MERGED_FIELDS]  # type: ignore[valid-type]


class Survivorship(Rule):
    """How ``mergeContacts`` fills the survivor's fields from its duplicates.

    ``survivor``: the survivor's value, else the newest duplicate's; ``newest`` / ``oldest``:
    of every record that has one; ``union`` (lists); ``any`` / ``all`` (booleans); ``keep``:
    the survivor's value even when empty.
    """

    default: Policy = "survivor"
    fields: dict[MergedField, Policy] = Field(default_factory=dict)

    def policy(self, path: str) -> Policy:
        return self.fields.get(path, self.default)


class RuleFile(Rule):
    """One YAML file under ``rules/``; every section is optional."""

    matching: Matching | None = None
    survivorship: Survivorship | None = None
    scoring: list[ScoringModel] = Field(default_factory=list)
    lifecycle: Lifecycle | None = None
    segments: list[Segment] = Field(default_factory=list)
    tests: list[RuleTest] = Field(default_factory=list)
    interaction_types: list[InteractionTypeDecl] = Field(
        default_factory=list,
        description="Interaction types this rule set adds to the built-in ones.",
    )


for _model in (
    AllOf,
    AnyOf,
    NotOf,
    EventSpec,
    Event,
    ScoringRule,
    GradeRule,
    ScoringModel,
    Transition,
    StartAt,
    Lifecycle,
    Segment,
    RuleFile,
):
    _model.model_rebuild()
