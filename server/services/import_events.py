"""The events an import batch appends besides its rows' ``import.row``: ``contact.updated`` /
``lead.updated`` / ``account.updated`` for each existing record whose fields the batch changed
(each field's old and new value, by the edits' own builders:
:func:`leadgraph.services.matching.updated_events`, and for accounts :func:`leadgraph.events.diff`
as ``updateAccount`` uses it) and ``account.created`` for each account it made.  They are stored
with the batch's checkpoint (:func:`leadgraph.services.importing._checkpoint`), in one
transaction."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bson import ObjectId

from ..events import AccountCreated, AccountUpdated, Event, diff
from ..store._base import applied
from .matching import updated_events

#: The collections whose updates an import reports, and their records' entity.
UPDATED: dict[str, str] = {"contacts": "contact", "leads": "lead", "accounts": "account"}


def updated(
    collection: str,
    before: dict[ObjectId, dict[str, Any]],
    updates: Iterable[tuple[ObjectId, dict[str, Any]]],
) -> list[Event]:
    """The update events of a batch's ``updates`` (id, update with ``$set``) of records as
    they were ``before`` it (a record not there before was created: no update event)."""
    out: list[Event] = []
    for rid, update in updates:
        old = before.get(rid)
        if old is None:
            continue
        after = applied(old, update["$set"])
        if collection == "accounts":
            changes = diff(old, after)
            out += [AccountUpdated(account_id=rid, changes=changes)] if changes else []
        else:
            out += updated_events(UPDATED[collection], old, after)
    return out


def accounts_created(items: Iterable[Any]) -> list[Event]:
    """An ``account.created`` for each batch item (``matching_batch.Item``) that made an account."""
    return [
        AccountCreated(
            account_id=item.rid,
            name=item.fields.get("name") or item.insert_only.get("name"),
            source="import",
        )
        for item in items
        if item.created and item.rid is not None
    ]
