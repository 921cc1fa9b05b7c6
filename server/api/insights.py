"""Marketing insights in GraphQL: KPIs over interactions.  Interactions belong to contacts; a
lead's and an account's insights are their linked contacts' (services/people.py), shown by the
same type."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry


@strawberry.type(description="Count of one interaction type.")
class InteractionCount:
    type: str = strawberry.field(
        description="The interaction type (`email_opened`, `form_submitted`, ... or a custom type "
        "the rules declare).",
    )
    count: int = strawberry.field(description="How many interactions of that type there are.")


@strawberry.type(
    description="Marketing insights: KPIs over the interactions of a contact (or of the "
    "contacts linked to a lead or an account)."
)
class MarketingInsights:
    total: int = strawberry.field(
        description="How many interactions there are, all types together (kept current as "
        "they are recorded).",
    )
    last_activity_at: datetime | None = strawberry.field(
        description="When the latest interaction occurred; null when there is none.",
    )
    _counts: strawberry.Private[dict[str, int]]

    @classmethod
    def of(cls, insights: dict[str, Any] | None) -> MarketingInsights:
        """From stored (or added-up) ``insights``: ``{total, counts, lastActivityAt}``."""
        insights = insights or {}
        return cls(
            total=int(insights.get("total") or 0),
            last_activity_at=insights.get("lastActivityAt"),
            _counts=insights.get("counts") or {},
        )

    @strawberry.field(description="Interactions by type, in type order.")
    def counts(self) -> list[InteractionCount]:
        # built when asked: most pages never list them, and a page builds one per contact
        return [InteractionCount(type=k, count=v) for k, v in sorted(self._counts.items())]
