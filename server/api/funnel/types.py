"""The lead lifecycle of the live rules: stages, their fields and the transitions."""

from __future__ import annotations

import strawberry


@strawberry.type(description="A field people record for a lead in a stage.")
class LifecycleStageField:
    name: str = strawberry.field(
        description="The field's name: the key in `setLeadStageFields(fields:)` and "
        "`Lead.stageFields`.",
    )
    type: str = strawberry.field(description="string, number, date (YYYY-MM-DD) or enum.")
    required: bool = strawberry.field(description="Must be given to move a lead into the stage.")
    values: list[str] = strawberry.field(description="The allowed values of an enum field.")
    label: str = strawberry.field(description="A short label for a form.")
    description: str = strawberry.field(
        description="What the field records, for a person (empty when the rules give none).",
    )


@strawberry.type(description="A stage of the lead lifecycle.")
class LifecycleStage:
    name: str = strawberry.field(
        description="The stage's name, as `Lead.stage`, `moveLeadStage(to:)` and the filters use "
        "it (e.g. `inquiry`).",
    )
    label: str = strawberry.field(description="A short label for a board column, e.g. `Inquiry`.")
    description: str = strawberry.field(
        description="What happens in the stage, for a person (empty when the rules give none).",
    )
    fields: list[LifecycleStageField] = strawberry.field(
        description="The fields people record for a lead in this stage (call notes, budget, ...).",
    )


@strawberry.type(description="A move between stages; automatic when it has triggers.")
class LifecycleTransition:
    name: str = strawberry.field(
        description="The transition's name (`moveLeadStage(to:)` takes it too; stage histories "
        "record it).",
    )
    from_stages: list[str] = strawberry.field(description="The stages it leaves from.")
    to: str = strawberry.field(description="The stage it enters.")
    triggers: list[str] = strawberry.field(description="Empty: taken by hand only.")
    description: str = strawberry.field(
        description="When and why it is taken, for a person (empty when the rules give none).",
    )


@strawberry.type(description="The lead business process of the live rules.")
class LeadLifecycle:
    name: str = strawberry.field(description="The lifecycle's name in the rules.")
    initial: str = strawberry.field(description="The stage a new lead starts in (e.g. `inquiry`).")
    stages: list[LifecycleStage] = strawberry.field(
        description="Its stages, in the order the rules list them.",
    )
    transitions: list[LifecycleTransition] = strawberry.field(
        description="Every transition between stages, automatic and by hand.",
    )
    rules_version: str = strawberry.field(description="The rules version this lifecycle is from.")
