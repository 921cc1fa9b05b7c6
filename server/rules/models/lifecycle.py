"""The ``lifecycle`` section: stages, their fields, where new leads start, and the transitions
between stages."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints, model_validator

from .base import Duration, Name, Rule, as_list, duration
from .condition import Condition

#: What starts a funnel run; lifecycle transitions name them in ``on:``.
#: ``created``: a lead was created; ``interaction``: its contact (or, for an account-based
#: lead, a contact of its account) engaged; ``updated``: a person changed the lead (a flag or a
#: field); ``scored``: the lead's scores were computed (every run that scores adds it).
Trigger = Literal["created", "scored", "updated", "interaction"]


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


#: The longest SLA a stage may have (ten years): a longer window is a typo.
MAX_SLA = timedelta(weeks=520)


def _sla_window(text: str) -> str:
    """An SLA's ``within``: longer than nothing, at most :data:`MAX_SLA`."""
    try:
        window = duration(text) if len(text) <= 12 else None
    except OverflowError:
        window = None
    if window is None or window > MAX_SLA:
        raise ValueError(f"an SLA's `within` may be at most 520w (ten years), got {text}")
    if window <= timedelta(0):
        raise ValueError(f"an SLA's `within` must be longer than nothing, got {text}")
    return text


def _action(value: Any) -> Any:
    return {"event": True} if value == "event" else value


class SlaAction(Rule):
    """One thing a breach of a stage's SLA does: exactly one of ``event`` (tell plugins and
    webhooks: ``lead.sla_breached``, which every breach appends anyway), ``reassign`` (a new
    owner by the assignment rule named, or ``true``: by the first assignment rule whose
    ``where`` holds) or ``move`` (to a stage, through a lifecycle transition and its guards)."""

    event: bool = Field(default=False, description="Tell plugins and webhooks (the default).")
    reassign: bool | Name | None = Field(
        default=None,
        description="An assignment rule's name, or true: the first assignment rule whose "
        "`where` holds gives the lead another owner.",
    )
    move: Name | None = Field(
        default=None, description="Move the lead to this stage (a transition must lead there)."
    )

    @model_validator(mode="after")
    def _one(self) -> SlaAction:
        given = [k for k in ("event", "reassign", "move") if getattr(self, k) not in (None, False)]
        if len(given) != 1:
            raise ValueError(
                "an SLA action is one of `event`, `reassign: <rule>|true`, `move: <stage>`"
                + (f" (got {', '.join(given)})" if given else "")
            )
        return self

    @property
    def kind(self) -> str:
        return "event" if self.event else "reassign" if self.reassign is not None else "move"


def _tell() -> list[SlaAction]:
    return [SlaAction(event=True)]


class Sla(Rule):
    """How long a lead may stay in the stage (``within``: 30m, 4h, 2d, 1w) and what happens
    once it stayed longer (``then``), once per stay: the scheduler of ``leadgraph serve``
    acts on it and records it (a ``sla_breached`` stage-history entry, ``lead.sla_breached``)."""

    within: Annotated[Duration, AfterValidator(_sla_window)] = Field(
        description="How long a lead may stay in the stage: a number and m, h, d or w."
    )
    then: Annotated[
        list[Annotated[SlaAction, BeforeValidator(_action)]], BeforeValidator(as_list)
    ] = Field(
        default_factory=_tell,
        description="What a breach does: event (the default), reassign, move (at most one "
        "of each).",
    )
    description: str = ""

    @model_validator(mode="after")
    def _once_each(self) -> Sla:
        kinds = [a.kind for a in self.then]
        twice = sorted({k for k in kinds if kinds.count(k) > 1})
        if twice:
            raise ValueError(f"an SLA does each action at most once (twice: {', '.join(twice)})")
        return self

    @property
    def window(self) -> timedelta:
        return duration(self.within)

    def action(self, kind: str) -> SlaAction | None:
        return next((a for a in self.then if a.kind == kind), None)


class Stage(Rule):
    name: Name
    label: str = ""
    description: str = ""
    fields: list[StageField] = Field(
        default_factory=list, description="What a person records when moving a lead into it."
    )
    sla: Sla | None = Field(
        default=None,
        description="How long a lead may stay in the stage, and what happens when it stays "
        "longer (docs/rules.md, Stage SLAs).",
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
    from_: Annotated[list[str], BeforeValidator(as_list)] = Field(
        alias="from", min_length=1, description="Stage(s) the lead may be in."
    )
    to: str
    on: Annotated[list[Trigger], BeforeValidator(as_list)] = Field(
        default_factory=list,
        description="Triggers that take this transition automatically; none: by hand only.",
    )
    guard: Condition | None = None
    requires: list[str] = Field(default_factory=list, description="Named guards from plugins.")
    actions: list[ActionCall] = Field(default_factory=list)
    description: str = ""


#: When an assignment rule is tried: ``acceptance`` (the lead reaches the acceptance stage,
#: automatically) or a funnel trigger (a run of the funnel for that trigger).
AssignWhen = Literal["acceptance", "created", "scored", "updated", "interaction"]
Owner = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


def _on_acceptance() -> list[AssignWhen]:
    return ["acceptance"]


class AssignmentRule(Rule):
    """Who gets an open lead that has no owner: the first rule whose ``when`` fired and whose
    ``where`` holds names one owner by its strategy (exactly one of ``round_robin``,
    ``owner``, ``least_loaded``)."""

    name: Name = Field(description="The rule's name (its round-robin position is kept by it).")
    when: Annotated[list[AssignWhen], BeforeValidator(as_list)] = Field(
        default_factory=_on_acceptance,
        min_length=1,
        description="acceptance (the lead reaches the acceptance stage; the default) and/or "
        "funnel triggers (created, scored, updated, interaction).",
    )
    where: Condition | None = Field(
        default=None, description="A condition on the lead, its contact and account (a territory)."
    )
    round_robin: list[Owner] | None = Field(
        default=None, min_length=1, description="Owners in turn, the turn kept in the database."
    )
    owner: Owner | None = Field(default=None, description="This one owner.")
    least_loaded: list[Owner] | None = Field(
        default=None,
        min_length=1,
        description="The owner with the fewest open leads (ties: the first listed).",
    )
    description: str = ""

    @model_validator(mode="after")
    def _one_strategy(self) -> AssignmentRule:
        given = [k for k in ("round_robin", "owner", "least_loaded") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(
                "an assignment rule needs exactly one of round_robin, owner, least_loaded"
                + (f" (got {', '.join(given)})" if given else "")
            )
        return self

    @property
    def strategy(self) -> str:
        return "round_robin" if self.round_robin else "owner" if self.owner else "least_loaded"


class Lifecycle(Rule):
    name: Name
    initial: str
    stages: list[Stage] = Field(min_length=1)
    transitions: list[Transition] = Field(default_factory=list)
    qualify_from: Annotated[list[str] | None, BeforeValidator(as_list)] = Field(
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
    assignment: list[AssignmentRule] = Field(
        default_factory=list,
        description="Assignment rules: the first whose `when` fired and whose `where` holds "
        "gives an open lead without an owner one.",
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


for _model in (
    Sla,
    Stage,
    AssignmentRule,
    Transition,
    StartAt,
    Lifecycle,
):
    _model.model_rebuild()
