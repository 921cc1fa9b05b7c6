"""The ``leads`` collection's per-model score data: the indexes of each scoring model's scores
and grades (made when the model's rules go live) and the scores summed up for account rollups."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from ..documents import GRADE_OF, SCORE_OF, grade_index, score_index
from ._base import BATCH_ALL
from .leads import NAME


def model_indexes(models: Iterable[tuple[str, bool]]) -> list[IndexModel]:
    """The indexes of each ``(scoring model, whether it grades)``: leads by the model's score
    (``leads(orderBy: {field: SCORE, model})``, score ranges) and, for a grading model, by grade
    then score (grade filters).  An array of ``{model, score}`` cannot be sorted per model by an
    index, and a wildcard index cannot serve a sort on two fields; so one index per model, made
    when the model's rules go live."""
    out = []
    for model, grades in models:
        score, grade = f"{SCORE_OF}.{model}", f"{GRADE_OF}.{model}"
        out.append(IndexModel([(score, DESCENDING), ("_id", DESCENDING)], name=score_index(model)))
        if grades:
            out.append(
                IndexModel(
                    [(grade, ASCENDING), (score, DESCENDING), ("_id", DESCENDING)],
                    name=grade_index(model),
                )
            )
    return out


async def ensure_model_indexes(db: AsyncDatabase, models: Iterable[tuple[str, bool]]) -> None:
    """Create the :func:`model_indexes` of ``models`` (existing ones are left as they are)."""
    indexes = model_indexes(models)
    if indexes:
        await db[NAME].create_indexes(indexes)


def _partials(models: list[str]) -> list[dict[str, Any]]:
    """The stages after the ``$match`` of a roll-up read: one row per (parent account, parent
    contact, model) with ``max``, ``sum``, ``n`` (leads) and ``grade`` (the best)."""
    return [
        {"$project": {"parentAccountId": 1, "parentContactId": 1, "scores": 1}},
        {"$unwind": "$scores"},
        {"$match": {"scores.model": {"$in": models}}},
        {
            "$group": {
                "_id": {
                    "a": "$parentAccountId",
                    "c": "$parentContactId",
                    "m": "$scores.model",
                },
                "max": {"$max": "$scores.score"},
                "sum": {"$sum": "$scores.score"},
                "n": {"$sum": 1},
                "grade": {"$min": "$scores.grade"},
            }
        },
    ]


async def _grouped(db: AsyncDatabase, pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    cursor = await db[NAME].aggregate(pipeline, batchSize=BATCH_ALL)
    return [{**row.pop("_id"), **row} async for row in cursor]


async def score_partials(
    db: AsyncDatabase,
    account_ids: list[ObjectId],
    contact_ids: list[ObjectId],
    models: list[str],
) -> list[dict[str, Any]]:
    """The scores of ``models`` summed up by the database for the leads of these accounts
    (``parentAccountId``) and contacts (``parentContactId``): one row per (parent account,
    parent contact, model) with ``max``, ``sum``, ``n`` (leads) and ``grade`` (the best: the
    lowest letter), so that the caller can combine rows into any account's totals."""
    tail = _partials(models)
    # Two indexed aggregations (not one ``$or``, nor a ``$unionWith``: some planners answer
    # those by scanning the collection); a lead of both kinds is counted by the first.
    matches = [{"parentAccountId": {"$in": account_ids}}]
    if contact_ids:
        matches.append(
            {"parentContactId": {"$in": contact_ids}, "parentAccountId": {"$nin": account_ids}}
        )
    found = await asyncio.gather(*(_grouped(db, [{"$match": m}, *tail]) for m in matches))
    return [row for rows in found for row in rows]


async def every_score_partial(db: AsyncDatabase, models: list[str]) -> list[dict[str, Any]]:
    """:func:`score_partials` of every lead (a refresh of every account's roll-ups): one pass
    over the collection, where the ``$in`` of every contact of every account would walk the
    ``parentContact`` index key by key."""
    return await _grouped(db, _partials(models))
