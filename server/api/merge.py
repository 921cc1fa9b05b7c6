"""Merging duplicate contacts (with undo) and listing likely duplicates."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any

import strawberry
from bson import ObjectId
from bson.errors import InvalidId
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from ..errors import InvalidInput
from .contacts.types import Contact
from .errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    PluginErrorType,
    ValidationError,
    errors_as_data,
    plugin_errors,
)
from .relay import global_id, object_id


@strawberry.type(description="The audit record of a merge, from which undoMerge restores it.")
class ContactMerge:
    id: str = strawberry.field(description="The merge's id, for undoMerge.")
    survivor_id: relay.GlobalID = strawberry.field(
        description="The contact that was kept (global id).",
    )
    duplicate_ids: list[relay.GlobalID] = strawberry.field(
        description="The contacts merged into it (they no longer resolve until the merge is "
        "undone).",
    )
    filled_fields: list[str] = strawberry.field(
        description="Survivor fields the survivorship rules changed."
    )
    changes: JSON = strawberry.field(
        description="The survivor's fields as the merge set them (field name to new value; ids "
        "and times as strings).",
    )
    created_at: datetime = strawberry.field(description="When the merge was made.")
    undone_at: datetime | None = strawberry.field(
        description="When it was undone; null while it stands.",
    )

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> ContactMerge:
        return cls(
            id=str(doc["_id"]),
            survivor_id=global_id("Contact", doc["survivorId"]),  # type: ignore[arg-type]
            duplicate_ids=[global_id("Contact", i) for i in doc["duplicateIds"]],  # type: ignore[misc]
            filled_fields=sorted(doc.get("after") or {}),
            changes=JSON({k: _jsonable(v) for k, v in (doc.get("after") or {}).items()}),
            created_at=doc["createdAt"],
            undone_at=doc.get("undoneAt"),
        )


def _jsonable(value: Any) -> Any:
    return str(value) if isinstance(value, ObjectId | datetime) else value


_PLUGIN_ERRORS = (
    "Plugins that failed after the merge was stored (a `contactsMerged` handler, or scoring "
    "the leads whose facts changed: then their `scoreError` is set too)."
)


@strawberry.type(description="The survivor after the merge, and the audit record.")
class MergePayload:
    contact: Contact = strawberry.field(
        description="The survivor after the merge, with the duplicates' leads, interactions and "
        "subscriptions.",
    )
    merge: ContactMerge = strawberry.field(
        description="The merge's audit record (keep its id to undo it).",
    )
    plugin_errors: list[PluginErrorType] = strawberry.field(
        default_factory=list, description=_PLUGIN_ERRORS
    )


@strawberry.type(description="The survivor and the restored duplicates.")
class UndoMergePayload:
    contact: Contact = strawberry.field(
        description="The survivor, with its fields as before the merge.",
    )
    restored: list[Contact] = strawberry.field(
        description="The duplicates, back with their own leads and interactions.",
    )
    plugin_errors: list[PluginErrorType] = strawberry.field(
        default_factory=list, description=_PLUGIN_ERRORS
    )


MergeResult = Annotated[
    MergePayload | ValidationError | NotFoundError | ForbiddenError | ConflictError,
    strawberry.union(
        "MergeResult",
        description="What merging duplicate contacts answers: the merge record (survivor and "
        "merged-away contacts), or a typed error.",
    ),
]
UndoMergeResult = Annotated[
    UndoMergePayload | ValidationError | NotFoundError | ForbiddenError | ConflictError,
    strawberry.union(
        "UndoMergeResult",
        description="What undoing a merge answers: the merge record as undone, or a typed error.",
    ),
]


@strawberry.enum(description="Why contacts look like duplicates.")
class DuplicateReason(Enum):
    MATCHING_STRATEGY = strawberry.enum_value(
        "matching_strategy",
        description="The same key under a contact matching strategy (named in `strategy`).",
    )
    NAME_PHONE = strawberry.enum_value("name_phone", description="Same name and phone number.")
    NAME_ACCOUNT = strawberry.enum_value(
        "name_account", description="Same name at the same account."
    )


@strawberry.type(description="Contacts that are likely one person.")
class DuplicateGroup:
    reason: DuplicateReason = strawberry.field(description="Why they look like one person.")
    key: str = strawberry.field(description="The shared normalised value(s).")
    strategy: str | None = strawberry.field(
        default=None, description="The contact matching strategy whose key they share."
    )
    contacts: list[Contact] = strawberry.field(
        description="The contacts of the group (two or more).",
    )


@strawberry.type
class MergeMutation:
    @strawberry.mutation(
        description="Merge duplicates into a survivor: leads, interactions and subscriptions "
        "move to it, empty fields are filled by the survivorship rules, an audit record is kept."
    )
    @errors_as_data
    async def merge_contacts(
        self,
        info: Info,
        survivor_id: Annotated[
            relay.GlobalID,
            strawberry.argument(description="The contact to keep (global id)."),
        ],
        duplicate_ids: Annotated[
            list[relay.GlobalID],
            strawberry.argument(
                description="The contacts to merge into it (global ids; not the survivor)."
            ),
        ],
    ) -> MergeResult:
        principal = info.context.require("contacts:merge")
        survivor = object_id(survivor_id, "Contact", "survivorId")
        dups = [object_id(d, "Contact", f"duplicateIds.{i}") for i, d in enumerate(duplicate_ids)]
        out = await info.context.services.merging.merge(survivor, dups, by=principal.name)
        return MergePayload(
            contact=Contact.from_doc(out.contact),
            merge=ContactMerge.from_doc(out.record),
            plugin_errors=plugin_errors(out.plugin_failures),
        )

    @strawberry.mutation(description="Undo a merge: the duplicates come back with their records.")
    @errors_as_data
    async def undo_merge(
        self,
        info: Info,
        merge_id: Annotated[
            str,
            strawberry.argument(description="The merge's id (`ContactMerge.id`)."),
        ],
    ) -> UndoMergeResult:
        info.context.require("contacts:merge")
        try:
            oid = ObjectId(merge_id)
        except (InvalidId, TypeError):
            raise InvalidInput("mergeId", "is not a merge id") from None
        out = await info.context.services.merging.undo(oid)
        return UndoMergePayload(
            contact=Contact.from_doc(out.contact),
            restored=[Contact.from_doc(d) for d in out.restored],
            plugin_errors=plugin_errors(out.plugin_failures),
        )


@strawberry.type
class MergeQuery:
    @strawberry.field(
        description="Groups of likely duplicate contacts (the same key under a contact matching "
        "strategy, or the same name and phone, or the same name and account)."
    )
    async def duplicate_candidates(
        self,
        info: Info,
        first: Annotated[
            int, strawberry.argument(description="At most this many groups of duplicates.")
        ] = 50,
    ) -> list[DuplicateGroup]:
        first = max(1, min(first, info.context.settings.max_page_size))
        groups = await info.context.services.merging.duplicate_candidates(first)
        ids = [i for g in groups for i in g["ids"]]
        docs = await info.context.loaders.by_id("contacts").load_many(ids)
        found = {d["_id"]: d for d in docs if d}
        return [
            DuplicateGroup(
                reason=DuplicateReason(g["reason"]),
                key=g["key"],
                strategy=g.get("strategy"),
                contacts=[Contact.from_doc(found[i]) for i in g["ids"] if i in found],
            )
            for g in groups
        ]

    @strawberry.field(description="Recent merges of a contact (as survivor), newest first.")
    async def contact_merges(
        self,
        info: Info,
        contact: Annotated[
            relay.GlobalID,
            strawberry.argument(description="The contact: survivor or merged away."),
        ],
        first: Annotated[int, strawberry.argument(description="At most this many merges.")] = 20,
    ) -> list[ContactMerge]:
        oid = object_id(contact, "Contact", "contact")
        docs = await info.context.services.merging.of_survivor(oid, max(1, min(first, 100)))
        return [ContactMerge.from_doc(d) for d in docs]
