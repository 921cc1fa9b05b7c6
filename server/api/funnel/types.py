"""The lead lifecycle of the live rules: stages, their fields and the transitions."""

from __future__ import annotations

import strawberry


@strawberry.type(description="A field people record for a lead in a stage.")
class LifecycleStageField:
    name: str
    type: str = strawberry.field(description="string, number, date (YYYY-MM-DD) or enum.")
    required: bool = strawberry.field(description="Must be given to move a lead into the stage.")
    values: list[str] = strawberry.field(description="The allowed values of an enum field.")
    label: str
    description: str


@strawberry.type(description="A stage of the lead lifecycle.")
class LifecycleStage:
    name: str
    label: str
    description: str
    fields: list[LifecycleStageField]


@strawberry.type(description="A move between stages; automatic when it has triggers.")
class LifecycleTransition:
    name: str
    from_stages: list[str]
    to: str
    triggers: list[str] = strawberry.field(description="Empty: taken by hand only.")
    description: str


@strawberry.type(description="The lead business process of the live rules.")
class LeadLifecycle:
    name: str
    initial: str
    stages: list[LifecycleStage]
    transitions: list[LifecycleTransition]
    rules_version: str
