"""The audit log: who changed what, and from what to what, read from the record of what
changed (the ``events`` collection).  Admin only (``audit:read``): it shows every caller's
writes with the values they changed, which a marketer or sales key may not all read."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry
from bson import ObjectId
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from ..errors import InvalidInput
from ..services.audit import Audit
from .relay import After, Connection, First, check_page_args, connection

PERMISSION = "audit:read"

#: The GraphQL type of each kind of record an event is about (its id in ``record``).
RECORD_TYPES = {
    "contact": "Contact",
    "account": "Account",
    "lead": "Lead",
    "interaction": "Interaction",
    "opportunity": "Opportunity",
    "segment": "Segment",  # by name
    "rules": "RulesVersion",  # by version
    "subscription_list": "SubscriptionList",
    "webhook": "Webhook",
}
_KINDS = {v: k for k, v in RECORD_TYPES.items()}
_BY_NAME = frozenset({"segment", "rules"})


def _plain(value: Any) -> Any:
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@strawberry.type(description="Who made a change.")
class AuditActor:
    name: str | None = strawberry.field(
        description="The API key's name, the import, the form, or null for the server itself."
    )
    role: str | None = strawberry.field(
        description="The API key's role (`admin`, `marketer`, `sales`, `read-only`); null when no "
        "key acted.",
    )
    via: str = strawberry.field(description="api, cli, import, centre or system.")


@strawberry.type(description="One field's value before and after (null: not set, or erased).")
class AuditChange:
    field: str = strawberry.field(
        description="The field that changed, e.g. `email` or `preferences.allowBulkEmail`.",
    )
    old: JSON | None = strawberry.field(
        description="Its value before; null when it was not set (or the person was erased).",
    )
    new: JSON | None = strawberry.field(
        description="Its value after; null when it was cleared (or the person was erased).",
    )


@strawberry.type(description="One change to a record, from the record of what changed.")
class AuditEntry:
    id: str = strawberry.field(description="The event's id (a webhook's `webhook-id`).")
    at: datetime = strawberry.field(description="When the change was made.")
    action: str = strawberry.field(description="The event type, e.g. `contact.updated`.")
    record: relay.GlobalID = strawberry.field(description="The record changed (maybe gone).")
    record_type: str = strawberry.field(description="contact, account, lead, ...")
    actor: AuditActor | None = strawberry.field(description="Who made it; null when not recorded.")
    changes: list[AuditChange] = strawberry.field(
        description="The fields that changed, with old and new values (empty for a creation or "
        "deletion without values).",
    )
    redacted: bool = strawberry.field(
        description="The person it is about was erased: the values are gone, the entry stays."
    )

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> AuditEntry:
        record = doc.get("record") or {}
        kind = str(record.get("type"))
        actor = doc.get("actor")
        return cls(
            id=str(doc["_id"]),
            at=doc["at"],
            action=doc["type"],
            record=relay.GlobalID(RECORD_TYPES.get(kind, kind), str(record.get("id"))),
            record_type=kind,
            actor=AuditActor(name=actor.get("name"), role=actor.get("role"), via=actor["via"])
            if actor
            else None,
            changes=[
                AuditChange(field=c["field"], old=_plain(c.get("old")), new=_plain(c.get("new")))
                for c in doc.get("changes") or []
            ],
            redacted=bool(doc.get("redacted")),
        )


def record_id(record: relay.GlobalID) -> ObjectId | str:
    """The stored id behind a record's global id (``BAD_USER_INPUT`` naming ``record``)."""
    kind = _KINDS.get(record.type_name)
    if kind is None:
        raise InvalidInput("record", f"{record.type_name} records have no audit log")
    if kind in _BY_NAME:
        return record.node_id
    if not ObjectId.is_valid(record.node_id):
        raise InvalidInput("record", "is not a valid global id")
    return ObjectId(record.node_id)


@strawberry.type
class AuditQuery:
    @strawberry.field(
        description="Every write through the API, the CLI, imports and the subscription "
        "centre, newest first: of one record, by one actor (an API key's name), of some "
        "actions (`contact.updated`, `lead.*`). Admin only. An erased person's entries stay, "
        "without values."
    )
    async def audit_log(
        self,
        info: Info,
        record: Annotated[
            relay.GlobalID | None,
            strawberry.argument(
                description="Only the entries of this record (its global id: Contact, Account, "
                "Lead, Interaction, Opportunity, Segment, RulesVersion, SubscriptionList or "
                "Webhook)."
            ),
        ] = None,
        actor: Annotated[
            str | None,
            strawberry.argument(
                description="Only the changes made by this actor (an API key's name)."
            ),
        ] = None,
        actions: Annotated[
            list[str] | None,
            strawberry.argument(
                description="Only these event types: exact (`contact.updated`) or a kind "
                "(`lead.*`)."
            ),
        ] = None,
        first: First = None,
        after: After = None,
    ) -> Connection[AuditEntry]:
        info.context.require(PERMISSION)
        first, _ = check_page_args(info, first, None)
        oid = record_id(record) if record is not None else None
        audit = Audit(info.context.db)
        page, count = await audit.page(
            record=oid, actor=actor, actions=actions, first=first, after=after
        )
        return connection(page, AuditEntry.from_doc, count)
