"""An account's leads for many accounts at once (``Account.leads`` on a page of accounts).

An account's leads are those whose parent account it is and those whose parent contact works
there, each once (:func:`leadgraph.store.leads.of_account`).  For a page of accounts that is
two commands whatever the number of accounts: the accounts' contacts (ids only, one ``$in``
find), then one aggregation that ``$lookup``s, per account, its own leads by
``parentAccountId`` and its contacts' leads by ``parentContactId`` (a ``localField`` holding
the account's contact ids: an index lookup per id, never a correlated sub-pipeline), each
sorted and limited in the sub-pipeline; the two are merged here.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from . import contacts, leads
from ._base import BATCH_ALL
from .batches import ServerFeatures

LEADS = "leads"


async def members(db: AsyncDatabase, accounts: list[ObjectId]) -> dict[ObjectId, list[ObjectId]]:
    """The contact ids of each account (one find of ids only)."""
    found: dict[ObjectId, list[ObjectId]] = {a: [] for a in accounts}
    for contact, account in (await contacts.accounts_of_members(db, accounts)).items():
        found.setdefault(account, []).append(contact)
    return found


async def page_docs(
    db: AsyncDatabase,
    accounts: list[ObjectId],
    extra: dict[str, Any],
    sort: tuple[tuple[str, int], ...],
    limit: int | None,
) -> dict[ObjectId, list[dict[str, Any]]]:
    """Each account's leads narrowed by ``extra``, with ``limit``: at least its first
    ``limit`` in ``sort`` order (the caller sorts each account's list and cuts it)."""
    by_account = await members(db, accounts)
    inner: list[dict[str, Any]] = [{"$match": extra}] if extra else []
    if limit is not None:
        inner += [{"$sort": dict(sort)}] if sort else []
        inner.append({"$limit": limit})
    if ServerFeatures.documents_stage:
        lookups: list[dict[str, Any]] = [
            {"$lookup": {"from": LEADS, "localField": local, "foreignField": foreign, "as": out}}
            for local, foreign, out in (
                ("a", "parentAccountId", "x"),
                ("m", "parentContactId", "y"),
            )
        ]
        for lookup in lookups:
            if inner:
                lookup["$lookup"]["pipeline"] = inner
        pipeline: list[dict[str, Any]] = [
            {"$documents": [{"a": a, "m": m} for a, m in by_account.items()]},
            *lookups,
        ]
        try:
            rows = await (await db.aggregate(pipeline, batchSize=BATCH_ALL)).to_list()
            return {row["a"]: _theirs(row, by_account[row["a"]]) for row in rows}
        except OperationFailure as exc:
            if exc.code == 40324 or "nrecognized" in str(exc):  # no $documents stage here
                ServerFeatures.documents_stage = False
            else:
                raise
    match: dict[str, Any] = {"$or": [leads.of_account(a, m) for a, m in by_account.items()]}
    query = {"$and": [match, extra]} if extra else match
    docs = await db[LEADS].find(query, batch_size=BATCH_ALL).to_list()
    owner = {c: a for a, ms in by_account.items() for c in ms}
    found: dict[ObjectId, list[dict[str, Any]]] = defaultdict(list)
    for doc in docs:
        for account in {doc.get("parentAccountId"), owner.get(doc.get("parentContactId"))}:
            if account in by_account:
                found[account].append(doc)
    return dict(found)


def _theirs(row: dict[str, Any], member_ids: list[ObjectId]) -> list[dict[str, Any]]:
    """The account's leads of one looked-up row, each once (a lead of the account whose
    parent contact works there too is found twice).  Only leads that are the account's are
    kept, whatever a server makes of an empty ``localField`` array."""
    account, members_of = row["a"], set(member_ids)
    found = {d["_id"]: d for d in row["x"] if d.get("parentAccountId") == account}
    found.update((d["_id"], d) for d in row["y"] if d.get("parentContactId") in members_of)
    return list(found.values())


async def counts(
    db: AsyncDatabase, accounts: list[ObjectId], extra: dict[str, Any]
) -> dict[ObjectId, int]:
    """How many leads each account has (``totalCount``): the accounts' contacts, then one
    ``$group`` of the matching leads by (parent account, parent contact), each lead counted
    once per account it belongs to."""
    by_account = await members(db, accounts)
    owner = {c: a for a, ms in by_account.items() for c in ms}
    match: dict[str, Any] = {
        "$or": [
            {"parentAccountId": {"$in": accounts}},
            {"parentContactId": {"$in": list(owner)}},
        ]
    }
    pipeline: list[dict[str, Any]] = [
        {"$match": {"$and": [match, extra]} if extra else match},
        {
            "$group": {
                "_id": {"a": "$parentAccountId", "c": "$parentContactId"},
                "n": {"$sum": 1},
            }
        },
    ]
    found = dict.fromkeys(accounts, 0)
    async for row in await db[LEADS].aggregate(pipeline, batchSize=BATCH_ALL):
        for account in {row["_id"].get("a"), owner.get(row["_id"].get("c"))}:
            if account in found:
                found[account] += row["n"]
    return found
