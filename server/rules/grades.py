"""Grades: the fit a scoring model gives a lead (A best to F) besides its score.

A model's ``grades:`` list is read top to bottom; the first entry whose ``when`` holds (an
entry without ``when`` always holds) gives the grade, and the explanation says which entry
that was: its ``name``, or its condition written out.  No entry holds: no grade.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .conditions import Compiler, describe
from .models import GRADES, ScoringModel


def grade_lead(
    model: ScoringModel, compiler: Compiler, facts: Mapping[str, Any], now: datetime
) -> tuple[str | None, str | None]:
    """``(grade, why)`` of the lead of ``facts`` under ``model``; ``(None, None)`` when the model
    gives no grade or none of its entries holds."""
    for entry in model.grades:
        if compiler.predicate(entry.when)(facts, now):
            return entry.grade, entry.name or describe(entry.when)
    return None, None


def best(grades: list[str]) -> str | None:
    """The best of some grades (A before F); None for none."""
    known = [g for g in grades if g in GRADES]
    return min(known, key=GRADES.index) if known else None
