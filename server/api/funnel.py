"""The lead funnel over GraphQL: stage moves, sales-ready marks, qualification, rescoring,
and the lifecycle the live rules define."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated, Any

import strawberry
from strawberry import relay
from strawberry.types import Info

from .. import funnel
from ..db import in_transaction
from ..errors import (
    Conflict,
    ConflictError,
    ForbiddenError,
    InvalidInput,
    NotFound,
    NotFoundError,
    ValidationError,
    errors_as_data,
)
from ..rules import lifecycle
from ..rules.ruleset import RuleSet
from ..store._base import now
from .leads import Lead, LeadPayload
from .relay import object_id

FunnelResult = Annotated[
    LeadPayload | ValidationError | NotFoundError | ForbiddenError | ConflictError,
    strawberry.union("FunnelResult"),
]


@strawberry.type(description="A stage of the lead lifecycle.")
class LifecycleStage:
    name: str
    label: str
    description: str


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


def live_rules(info: Info) -> RuleSet:
    manager = info.context.rules
    if manager is None or manager.current is None:
        raise Conflict("no valid rules are loaded (see rulesStatus)")
    return manager.current


async def _lead(info: Info, id: relay.GlobalID) -> dict[str, Any]:
    oid = object_id(id, "Lead")
    doc = await info.context.db["leads"].find_one({"_id": oid})
    if doc is None:
        raise NotFound("Lead", str(id))
    return doc


async def _set_and_advance(info: Info, lead: dict[str, Any], fields: dict[str, Any]) -> Lead:
    """Store ``fields`` on the lead, then follow the automatic transitions of ``updated``."""
    db = info.context.db
    await db["leads"].update_one({"_id": lead["_id"]}, {"$set": {**fields, "updatedAt": now()}})
    after = await funnel.apply(
        db, live_rules(info), {"_id": lead["_id"]}, trigger="updated", pm=info.context.pm
    )
    return Lead.from_doc(after[0])


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
                LifecycleStage(name=s.name, label=s.label or s.name, description=s.description)
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
        self, info: Info, id: relay.GlobalID, to: str, reason: str | None = None
    ) -> FunnelResult:
        principal = info.context.require("leads:stage")
        ruleset = live_rules(info)
        lead = await _lead(info, id)
        lc = ruleset.lifecycle
        if lc is None:
            raise Conflict("the rules define no lifecycle")
        if to not in lc.stage_names and to not in {t.name for t in lc.transitions}:
            raise InvalidInput(
                "to", f"no stage or transition named {to!r}; stages: " + ", ".join(lc.stage_names)
            )
        facts = (await funnel.gather_facts(info.context.db, [lead]))[lead["_id"]]
        try:
            t = lifecycle.manual_transition(ruleset, facts, to)
        except lifecycle.InvalidTransition as exc:
            raise Conflict(str(exc)) from exc
        update = lifecycle.transition_update(ruleset, lead, [t], by=principal.name, reason=reason)
        assert update is not None
        after = await info.context.db["leads"].find_one_and_update(
            {"_id": lead["_id"], "stage": lead.get("stage")}, update, return_document=True
        )
        if after is None:
            raise Conflict("the lead changed stage meanwhile; read it again")
        result = funnel.Evaluation(update=update, transitions=[t])
        await funnel.announce(info.context.pm, lead, after, result, ruleset)
        return LeadPayload(lead=Lead.from_doc(after))

    @strawberry.mutation(
        description="Mark a lead sales-ready (or not) by hand; a sales-ready lead skips the "
        "teleprospecting stages."
    )
    @errors_as_data
    async def mark_sales_ready(
        self, info: Info, id: relay.GlobalID, sales_ready: bool = True
    ) -> FunnelResult:
        info.context.require("leads:stage")
        lead = await _lead(info, id)
        return LeadPayload(lead=await _set_and_advance(info, lead, {"salesReady": sales_ready}))

    @strawberry.mutation(description="Mark a lead ready for the telemarketers (or not).")
    @errors_as_data
    async def mark_teleprospect_ready(
        self, info: Info, id: relay.GlobalID, teleprospect_ready: bool = True
    ) -> FunnelResult:
        info.context.require("leads:stage")
        lead = await _lead(info, id)
        fields = {"teleprospectReady": teleprospect_ready}
        return LeadPayload(lead=await _set_and_advance(info, lead, fields))

    @strawberry.mutation(
        description="Qualify a lead into an opportunity: the lead is closed as qualified and "
        "its parent contact stops being marketing-only."
    )
    @errors_as_data
    async def qualify_lead(self, info: Info, id: relay.GlobalID) -> FunnelResult:
        info.context.require("leads:stage")
        lead = await _lead(info, id)
        if lead.get("status", "open") != "open":
            raise Conflict(f"the lead is already {lead['status']}")
        db = info.context.db

        async def work(session: Any) -> dict[str, Any] | None:
            if lead.get("parentContactId"):
                await db["contacts"].update_one(
                    {"_id": lead["parentContactId"]},
                    {"$set": {"marketingOnly": False, "updatedAt": now()}},
                    session=session,
                )
            return await db["leads"].find_one_and_update(
                {"_id": lead["_id"], "status": "open"},
                {"$set": {"status": "qualified", "updatedAt": now()}},
                return_document=True,
                session=session,
            )

        after = await in_transaction(db, work)
        if after is None:
            raise Conflict("the lead was closed meanwhile")
        return LeadPayload(lead=Lead.from_doc(after))

    @strawberry.mutation(description="Close a lead as disqualified.")
    @errors_as_data
    async def disqualify_lead(
        self, info: Info, id: relay.GlobalID, reason: str | None = None
    ) -> FunnelResult:
        info.context.require("leads:stage")
        lead = await _lead(info, id)
        after = await info.context.db["leads"].find_one_and_update(
            {"_id": lead["_id"], "status": "open"},
            {"$set": {"status": "disqualified", "disqualifiedReason": reason, "updatedAt": now()}},
            return_document=True,
        )
        if after is None:
            raise Conflict(f"the lead is already {lead.get('status')}")
        return LeadPayload(lead=Lead.from_doc(after))

    @strawberry.mutation(
        description="Rescore a lead with the live rules now (scores carry their explanation and "
        "rules version) and follow the automatic transitions."
    )
    @errors_as_data
    async def rescore_lead(self, info: Info, id: relay.GlobalID) -> FunnelResult:
        info.context.require("leads:write")
        lead = await _lead(info, id)
        after = await funnel.apply(
            info.context.db, live_rules(info), {"_id": lead["_id"]}, pm=info.context.pm
        )
        return LeadPayload(lead=Lead.from_doc(after[0]))


@strawberry.type
class FunnelSubscription:
    @strawberry.subscription(
        description="Leads as they are created or change (score, stage, sales-ready), "
        "optionally only those now in one stage; from a MongoDB change stream."
    )
    async def lead_changed(
        self, info: Info, stage: str | None = None
    ) -> AsyncGenerator[Lead, None]:
        match: dict[str, Any] = {"operationType": {"$in": ["insert", "update", "replace"]}}
        if stage is not None:
            match["fullDocument.stage"] = stage
        stream = await info.context.db["leads"].watch(
            [{"$match": match}], full_document="updateLookup"
        )
        async with stream:
            async for change in stream:
                if change.get("fullDocument"):
                    yield Lead.from_doc(change["fullDocument"])
