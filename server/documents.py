"""What every layer knows of the stored records the API lists: their collections' names, the
defaults a stored document may lack, the names of the fields and indexes derived per scoring
model, and the one builder of a lead's stage-history entries.  Constants and pure functions
(of leadgraph, only its types): store/ and services/ write by them, rules/ and api/ read by them.
"""

from __future__ import annotations

from datetime import datetime

from .types import StageEntry

CONTACTS = "contacts"
ACCOUNTS = "accounts"
LEADS = "leads"
INTERACTIONS = "interactions"
OPPORTUNITIES = "opportunities"
IMPORTS = "imports"

#: A contact's preferences when it has none of its own (new contacts start with these).
DEFAULT_PREFERENCES = {
    "allowBulkEmail": False,
    "allowEmail": True,
    "allowPrefill": False,
    "trackEmail": True,
}

#: The stage of a lead created while no lifecycle is loaded (the shipped lifecycle's initial).
DEFAULT_STAGE = "inquiry"

#: Where an opportunity stands.
OPPORTUNITY_STAGES = ("open", "won", "lost")

SCORE_OF = "scoreOf"  # lead field {model: score}: every model's score by name (rules/scoring.py)
GRADE_OF = "gradeOf"  # lead field {model: grade}


def score_index(model: str) -> str:
    """The name of the index that orders leads by ``model``'s score."""
    return f"{SCORE_OF}_{model}"


def grade_index(model: str) -> str:
    """The name of the index that finds leads by ``model``'s grade (then score)."""
    return f"{GRADE_OF}_{model}"


def stage_entry(
    stage: str | None,
    at: datetime,
    *,
    reason: str | None,
    rules_version: str | None,
    by: str | None = None,
    transition: str | None = None,
    owner: str | None = None,
    status: str | None = None,
) -> StageEntry:
    """One entry of a lead's ``stageHistory``, the only place one is made: the stage entered
    (closing a lead: the stage it closed at), when, why, by whom (None: the rules), through
    which transition, under which rules version; a sales acceptance adds its ``owner``, a
    close its ``status``."""
    entry = StageEntry(
        stage=stage,
        enteredAt=at,
        reason=reason,
        by=by,
        transition=transition,
        rulesVersion=rules_version,
    )
    if owner is not None:
        entry["owner"] = owner
    if status is not None:
        entry["status"] = status
    return entry
