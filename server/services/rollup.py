"""Account roll-ups: an account's score per scoring model, from its leads and its contacts' leads.

A model with ``account_rollup: max | sum | average`` in the rules is rolled up: the account's
entry ``{model, score, grade, leadCount, method}`` (``Account.scores``) takes the max, sum or
average of the model's scores over every lead whose parent account is the account or whose
parent contact works there (each lead once), the best grade among them, and how many leads
that is.

The funnel runner keeps roll-ups current: after it stored leads whose scores changed, it
refreshes the accounts those leads count for (:meth:`Rollups.refresh`).  The database sums the
scores up (one aggregation per refresh, grouped by parent account, parent contact and model);
the rows are combined here into each account's totals.

Two refreshes of one account racing (two servers scoring two of its leads) cannot leave the
older answer stored: each claims a new ``rollupRev`` before reading the leads and stores its
answer only if no later refresh was claimed meanwhile — the later one read at least as much.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from ..documents import GRADE_OF, SCORE_OF
from ..rules.grades import best
from ..rules.ruleset import RuleSet
from ..store import accounts, contacts, lead_scores

CHUNK = 500  # accounts refreshed per aggregation


@dataclass
class _Total:
    max: float | None = None
    sum: float = 0.0
    n: int = 0
    grades: list[str] = field(default_factory=list)

    def add(self, row: dict[str, Any]) -> None:
        self.max = row["max"] if self.max is None else max(self.max, row["max"])
        self.sum += row["sum"]
        self.n += row["n"]
        if row.get("grade"):
            self.grades.append(row["grade"])

    def entry(self, model: str, method: str) -> dict[str, Any]:
        score = {"max": self.max, "sum": self.sum, "average": self.sum / self.n}[method]
        return {
            "model": model,
            "score": round(score or 0.0, 6),
            "grade": best(self.grades),
            "leadCount": self.n,
            "method": method,
        }


def accounts_of(lead: dict[str, Any], contact: dict[str, Any] | None) -> set[ObjectId]:
    """The accounts a lead's scores count for: its parent account and its contact's account."""
    found = {lead.get("parentAccountId"), (contact or {}).get("accountId")}
    return {a for a in found if isinstance(a, ObjectId)}


def scores_changed(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Whether a write changed what roll-ups read of a lead (its scores or grades by model)."""
    return any(before.get(k) != after.get(k) for k in (SCORE_OF, GRADE_OF))


class Rollups:
    """The roll-ups of one rule set's models over one database."""

    def __init__(self, db: AsyncDatabase, ruleset: RuleSet | None) -> None:
        self.db = db
        self.ruleset = ruleset
        models = ruleset.scoring_models if ruleset is not None else ()
        self.methods = {m.name: m.account_rollup for m in models if m.account_rollup}

    async def accounts_of_leads(self, docs: Iterable[Mapping[str, Any] | None]) -> set[ObjectId]:
        """The accounts stored leads count for (their contacts read in one find)."""
        stored = [d for d in docs if d]
        ids = [d["parentContactId"] for d in stored if d.get("parentContactId")]
        people = await contacts.by_ids(self.db, ids)
        found: set[ObjectId] = set()
        for doc in stored:
            found |= accounts_of(doc, people.get(doc.get("parentContactId")))  # type: ignore[arg-type]
        return found

    async def refresh(self, account_ids: Iterable[ObjectId]) -> None:
        """Recompute and store the roll-ups of these accounts (nothing when no model rolls up)."""
        ids = list(dict.fromkeys(account_ids))
        if not self.methods or not ids or self.ruleset is None:
            return
        for start in range(0, len(ids), CHUNK):
            await self._refresh(ids[start : start + CHUNK], self.ruleset.version)

    async def _refresh(self, ids: list[ObjectId], version: str) -> None:
        # claimed before the leads are read (see the module); the members meanwhile
        revs, members = await asyncio.gather(
            accounts.claim_rollups(self.db, ids), contacts.accounts_of_members(self.db, ids)
        )
        if not revs:
            return
        rows = await lead_scores.score_partials(
            self.db, list(revs), list(members), list(self.methods)
        )
        await self._store(revs, members, rows, version)

    async def _store(
        self,
        revs: dict[ObjectId, int],
        members: Mapping[ObjectId, ObjectId],
        rows: list[dict[str, Any]],
        version: str,
    ) -> None:
        """Combine the partial ``rows`` into the roll-ups of the accounts claimed (``revs``)
        and store them."""
        wanted = set(revs)
        totals: dict[tuple[ObjectId, str], _Total] = {}
        for row in rows:
            targets = {row["a"], members.get(row["c"])} & wanted
            for account in targets:
                totals.setdefault((account, row["m"]), _Total()).add(row)
        await accounts.set_rollups(
            self.db,
            [
                (
                    oid,
                    rev,
                    [
                        totals[(oid, model)].entry(model, method)
                        for model, method in self.methods.items()
                        if (oid, model) in totals
                    ],
                )
                for oid, rev in revs.items()
            ],
            version,
        )

    async def refresh_all(self) -> int:
        """Recompute every account's roll-ups (a full rescore: the rules may roll models up
        differently, or not at all any more; contacts may have moved); returns how many
        accounts there are.  Every account is claimed first (``CHUNK`` at a time), then the
        leads are read in one pass (not one ``$in`` of every contact per chunk) and the
        roll-ups stored ``CHUNK`` at a time."""
        if self.ruleset is None:
            return 0
        claimed: list[dict[ObjectId, int]] = []
        done = 0
        async for chunk in accounts.id_batches(self.db, CHUNK):
            claimed.append(await accounts.claim_rollups(self.db, chunk))
            done += len(chunk)
        members: dict[ObjectId, ObjectId] = {}
        rows: list[dict[str, Any]] = []
        if self.methods and done:  # no model rolls up: every account's roll-ups emptied
            members, rows = await asyncio.gather(
                contacts.every_membership(self.db),
                lead_scores.every_score_partial(self.db, list(self.methods)),
            )
        for revs in claimed:
            await self._store(revs, members, rows, self.ruleset.version)
        return done
