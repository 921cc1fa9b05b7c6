"""The funnel's queries, mutations and subscription: stages, hand-off, rescoring."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import strawberry
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from ...errors import Conflict, Forbidden, InvalidInput
from ...rules import lifecycle
from ...services.funnel import Funnel, Refused, Report
from ...web import live
from ..errors import PluginErrorType, errors_as_data, plugin_errors
from ..leads.types import Lead, LeadPayload, LeadResult
from ..opportunities import checked_value
from ..relay import RecordId, object_id
from .types import LeadLifecycle, LifecycleStage, LifecycleStageField, LifecycleTransition

MAX_OWNER = 200  # characters of an owner's name


def _funnel(info: Info) -> Funnel:
    funnel = info.context.services.funnel
    if funnel.ruleset is None:
        raise Conflict("no valid rules are loaded (see rulesStatus)")
    return funnel


async def _lead(info: Info, id: relay.GlobalID) -> dict[str, Any]:
    return await info.context.services.funnel.lead(object_id(id, "Lead"), str(id))


async def _set_by_hand(
    info: Info, id: relay.GlobalID, fields: dict[str, Any]
) -> LeadPayload | PluginErrorType:
    """A person set a lead's flags: stored as a decision, then the ``updated`` transitions."""
    principal = info.context.require("leads:stage")
    funnel = _funnel(info)
    lead = await _lead(info, id)
    return _result(await funnel.set_by_hand(lead, fields, by=principal.name), lead["_id"])


def _owner(value: str | None, field: str = "owner") -> str | None:
    """A salesperson's name: trimmed, not blank, at most :data:`MAX_OWNER` characters."""
    if value is None:
        return None
    if not value.strip():
        raise InvalidInput(field, "must not be blank")
    if len(value) > MAX_OWNER:
        raise InvalidInput(field, f"must be at most {MAX_OWNER} characters")
    return value.strip()


def _result(report: Report, oid: Any) -> LeadPayload | PluginErrorType:
    """The lead after a funnel run, or the plugin that kept it from being brought up to date
    (the lead is then marked stale: ``Lead.scoreError``)."""
    for failed in report.failed:
        if failed.lead_id == oid:
            return PluginErrorType.of(failed.failure)
    after = report.lead(oid)
    assert after is not None
    return LeadPayload(lead=Lead.from_doc(after), plugin_errors=plugin_errors(report.failures))


@strawberry.type
class FunnelQuery:
    @strawberry.field(description="The lead lifecycle (stages and transitions) of the live rules.")
    def lead_lifecycle(self, info: Info) -> LeadLifecycle | None:
        manager = info.context.rules
        ruleset = manager.current if manager is not None else None
        if ruleset is None or ruleset.lifecycle is None:
            return None
        lc = ruleset.lifecycle
        return LeadLifecycle(
            name=lc.name,
            initial=lc.initial,
            stages=[
                LifecycleStage(
                    name=s.name,
                    label=s.label or s.name,
                    description=s.description,
                    fields=[
                        LifecycleStageField(
                            name=f.name,
                            type=f.type,
                            required=f.required,
                            values=list(f.values),
                            label=f.label or f.name,
                            description=f.description,
                        )
                        for f in s.fields
                    ],
                )
                for s in lc.stages
            ],
            transitions=[
                LifecycleTransition(
                    name=t.name,
                    from_stages=list(t.from_),
                    to=t.to,
                    triggers=list(t.on),
                    description=t.description,
                )
                for t in lc.transitions
            ],
            rules_version=ruleset.version,
        )


@strawberry.type
class FunnelMutation:
    @strawberry.mutation(
        description="Move a lead by hand to a stage (or along a transition, by name), if the "
        "lifecycle allows it from the lead's stage and the transition's guards hold."
    )
    @errors_as_data
    async def move_lead_stage(
        self,
        info: Info,
        id: RecordId,
        to: Annotated[
            str,
            strawberry.argument(
                description="The target stage's name, or a transition's name (see `leadLifecycle`)."
            ),
        ],
        reason: Annotated[
            str | None,
            strawberry.argument(description="Why the lead is moved (kept in its stage history)."),
        ] = None,
        fields: Annotated[
            JSON | None,
            strawberry.argument(
                description="Values of the target stage's fields (`leadLifecycle.stages.fields`)."
            ),
        ] = None,
        owner: Annotated[
            str | None,
            strawberry.argument(
                description="Into the acceptance stage: the salesperson to assign (default: the "
                "lead's owner, else the caller)."
            ),
        ] = None,
        override: Annotated[
            bool,
            strawberry.argument(
                description="Admins only: move to any stage whatever the transitions and guards; "
                "`reason` is required and the stage history records a manual override."
            ),
        ] = False,
    ) -> LeadResult:
        principal = info.context.require("leads:stage")
        if override and not principal.can("leads:override"):
            raise Forbidden("leads:override", principal.role)
        funnel = _funnel(info)
        lc = funnel.ruleset.lifecycle if funnel.ruleset else None
        if lc is None:
            raise Conflict("the rules define no lifecycle")
        targets = (
            lc.stage_names if override else [*lc.stage_names, *(t.name for t in lc.transitions)]
        )
        if to not in targets:
            what = "stage" if override else "stage or transition"
            raise InvalidInput(
                "to", f"no {what} named {to!r}; stages: " + ", ".join(lc.stage_names)
            )
        if override and not (reason or "").strip():
            raise InvalidInput("reason", "an override needs a reason")
        owner = _owner(owner)
        lead = await _lead(info, id)
        try:
            after, failures = await info.context.services.handoff.move(
                lead,
                to,
                by=principal.name,
                reason=reason,
                fields=fields,
                owner=owner,
                override=override,
            )
        except lifecycle.InvalidTransition as exc:
            raise Conflict(str(exc)) from exc
        except Refused as exc:
            raise Conflict(str(exc)) from exc
        return LeadPayload(lead=Lead.from_doc(after), plugin_errors=plugin_errors(failures))

    @strawberry.mutation(
        description="Mark a lead sales-ready (or not) by hand. A sales-ready lead skips the "
        "teleprospecting stages; marked by hand, its scores no longer change the flag. "
        "Un-marked, it becomes sales-ready again only when a score newly crosses its threshold."
    )
    @errors_as_data
    async def mark_sales_ready(
        self,
        info: Info,
        id: RecordId,
        sales_ready: Annotated[
            bool,
            strawberry.argument(
                description="True (the default) marks the lead sales-ready; false un-marks it."
            ),
        ] = True,
    ) -> LeadResult:
        return await _set_by_hand(info, id, {"salesReady": sales_ready})

    @strawberry.mutation(description="Mark a lead ready for the telemarketers (or not).")
    @errors_as_data
    async def mark_teleprospect_ready(
        self,
        info: Info,
        id: RecordId,
        teleprospect_ready: Annotated[
            bool,
            strawberry.argument(
                description="True (the default) marks the lead ready for teleprospecting; false "
                "un-marks it."
            ),
        ] = True,
    ) -> LeadResult:
        return await _set_by_hand(info, id, {"teleprospectReady": teleprospect_ready})

    @strawberry.mutation(
        description="Qualify a lead into an opportunity, from a stage the lifecycle allows "
        "(`qualify_from`, default sales acceptance): in one transaction the lead is closed as "
        "qualified (its stage history records it), its parent contact stops being "
        "marketing-only and its open `Opportunity` is created (`Lead.opportunity`)."
    )
    @errors_as_data
    async def qualify_lead(
        self,
        info: Info,
        id: RecordId,
        reason: Annotated[
            str | None,
            strawberry.argument(description="Why the lead qualified (kept in its stage history)."),
        ] = None,
        topic: Annotated[
            str | None,
            strawberry.argument(description="The opportunity's topic (default: the lead's)."),
        ] = None,
        value: Annotated[
            float | None, strawberry.argument(description="The opportunity's expected amount.")
        ] = None,
        owner: Annotated[
            str | None,
            strawberry.argument(
                description="The opportunity's salesperson (default: the lead's owner, else the "
                "caller)."
            ),
        ] = None,
    ) -> LeadResult:
        principal = info.context.require("leads:stage")
        value, owner = checked_value(value), _owner(owner)
        if topic is not None and not topic.strip():
            raise InvalidInput("topic", "must not be blank")
        _funnel(info)
        lead = await _lead(info, id)
        try:
            out = await info.context.services.opportunities.qualify(
                lead,
                by=principal.name,
                reason=reason,
                topic=topic,
                value=value,
                owner=owner,
                role=principal.role,
            )
        except Refused as exc:
            raise Conflict(str(exc)) from exc
        return LeadPayload(
            lead=Lead.from_doc(out.lead), plugin_errors=plugin_errors(out.plugin_failures)
        )

    @strawberry.mutation(description="Close a lead as disqualified.")
    @errors_as_data
    async def disqualify_lead(
        self,
        info: Info,
        id: RecordId,
        reason: Annotated[
            str | None,
            strawberry.argument(
                description="Why the lead is disqualified (kept in its stage history)."
            ),
        ] = None,
    ) -> LeadResult:
        principal = info.context.require("leads:stage")
        funnel = _funnel(info)
        lead = await _lead(info, id)
        try:
            after, failures = await funnel.disqualify(lead, by=principal.name, reason=reason)
        except Refused as exc:
            raise Conflict(str(exc)) from exc
        return LeadPayload(lead=Lead.from_doc(after), plugin_errors=plugin_errors(failures))

    @strawberry.mutation(
        description="Record values of the fields of the lead's current stage "
        "(`leadLifecycle.stages.fields`), merged over those stored; null clears one."
    )
    @errors_as_data
    async def set_lead_stage_fields(
        self,
        info: Info,
        id: RecordId,
        fields: Annotated[
            JSON,
            strawberry.argument(
                description="A JSON object of field name to value for the lead's current stage "
                "(strings, numbers, dates as YYYY-MM-DD, enum values), as "
                "`leadLifecycle.stages.fields` declares them."
            ),
        ],
    ) -> LeadResult:
        info.context.require("leads:stage")
        _funnel(info)
        lead = await _lead(info, id)
        try:
            after = await info.context.services.handoff.record_fields(lead, fields)
        except Refused as exc:
            raise Conflict(str(exc)) from exc
        return LeadPayload(lead=Lead.from_doc(after))

    @strawberry.mutation(
        description="Assign an open lead to a salesperson (default: the caller). At the "
        'acceptance stage and not yet accepted, this records "sales accepted" too.'
    )
    @errors_as_data
    async def assign_lead(
        self,
        info: Info,
        id: RecordId,
        owner: Annotated[
            str | None,
            strawberry.argument(
                description="The salesperson (an API key's name); null: the caller."
            ),
        ] = None,
    ) -> LeadResult:
        principal = info.context.require("leads:stage")
        who = _owner(owner) or principal.name
        lead = await _lead(info, id)
        try:
            after, failures = await info.context.services.handoff.assign(
                lead, who, by=principal.name
            )
        except Refused as exc:
            raise Conflict(str(exc)) from exc
        return LeadPayload(lead=Lead.from_doc(after), plugin_errors=plugin_errors(failures))

    @strawberry.mutation(
        description="Rescore a lead with the live rules now (scores carry their explanation and "
        "rules version) and follow the automatic transitions."
    )
    @errors_as_data
    async def rescore_lead(self, info: Info, id: RecordId) -> LeadResult:
        info.context.require("leads:write")
        funnel = _funnel(info)
        lead = await _lead(info, id)
        return _result(await funnel.rescore(lead), lead["_id"])


def _known_stage(info: Info, stage: str) -> None:
    """Raise a typed input error unless ``stage`` is a stage of the live lifecycle."""
    ruleset = getattr(info.context.rules, "current", None)
    names = ruleset.lifecycle.stage_names if ruleset and ruleset.lifecycle else []
    if stage not in names:
        known = f"stages: {', '.join(names)}" if names else "the live rules have no lifecycle"
        raise InvalidInput("stage", f"unknown stage {stage!r}; {known}")


@strawberry.type
class FunnelSubscription:
    @strawberry.subscription(
        description="Leads as they are created or change (score, stage, sales-ready), "
        "optionally only those now in one stage; from a MongoDB change stream."
    )
    async def lead_changed(
        self,
        info: Info,
        stage: Annotated[
            str | None,
            strawberry.argument(
                description="Only leads now in this lifecycle stage (a stage of the live rules); "
                "null: every lead."
            ),
        ] = None,
    ) -> AsyncIterator[Lead]:
        if stage is not None:
            _known_stage(info, stage)
        return await info.context.subscribe(
            live.LEADS,
            matches=lambda doc: stage is None or doc.get("stage") == stage,
            convert=Lead.from_doc,
        )
