"""What every layer knows of the stored records the API lists: their collections' names, the
defaults a stored document may lack, and the names of the fields and indexes derived per
scoring model.  Plain constants (no imports): store/ writes by them, api/ reads by them.
"""

from __future__ import annotations

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
