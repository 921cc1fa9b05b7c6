"""The ``merges`` collection: the audit record of each contact merge, enough to undo it."""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING, IndexModel

NAME = "merges"
INDEXES = {
    NAME: [
        IndexModel([("survivorId", ASCENDING), ("createdAt", DESCENDING)], name="survivor"),
        IndexModel([("duplicateIds", ASCENDING)], name="duplicates"),
    ]
}
