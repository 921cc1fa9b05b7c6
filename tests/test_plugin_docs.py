"""docs/plugins.md shows what a scoring function receives (issue 19 point 13): the ``facts``
example there is produced here, by the funnel's own assembly (services/facts.assemble_facts)
of stored documents, with the counts keyed as the shipped rules count them, so the page
cannot drift from the code; and the page links the event catalogue."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bson import ObjectId
from leadgraph.rules.conditions import spec_key
from leadgraph.rules.reads import ruleset_reads
from leadgraph.rules.ruleset import load_rules
from leadgraph.services.facts import assemble_facts
from shipped import SHIPPED

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "plugins.md"
AT = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)


def _shown(value: Any) -> Any:
    if isinstance(value, ObjectId):
        return f"ObjectId('{value}')"
    if isinstance(value, datetime):
        return f"datetime('{value.isoformat()}')"
    raise TypeError(type(value))


def facts_example() -> str:
    """The facts of one lead of the shipped rules, as the JSON block of docs/plugins.md."""
    account: dict[str, Any] = {
        "_id": ObjectId("665f1c2a9b1e8a0001a00001"),
        "name": "Contoso Ltd",
        "domain": "contoso.com",
        "industry": "software",
        "numberOfEmployees": 250,
        "createdAt": AT,
    }
    contact: dict[str, Any] = {
        "_id": ObjectId("665f1c2a9b1e8a0001c00001"),
        "firstName": "Ana",
        "lastName": "Lopez",
        "email": "ana.lopez@contoso.com",
        "jobTitle": "IT director",
        "role": "decisionMaker",
        "accountId": account["_id"],
        "preferences": {"allowBulkEmail": True, "allowEmail": True, "trackEmail": True},
        "consent": {"level": "marketing", "isChild": False},
        "subscriptions": ["Newsletter"],
        "insights": {"total": 3, "counts": {"email_opened": 2, "form_submitted": 1}},
        "createdAt": AT,
    }
    lead = {
        "_id": ObjectId("665f1c2a9b1e8a0001d00001"),
        "topic": "Contoso Ltd Conference",
        "marketingContext": {"kind": "event", "name": "Contoso Ltd Conference"},
        "formId": "conference-2026",
        "parentContactId": contact["_id"],
        "stage": "automated_marketing_qualification",
        "status": "open",
        "salesReady": False,
        "createdAt": AT,
    }
    keys = [spec_key(s) for s in ruleset_reads(load_rules(SHIPPED)).counts]
    counts = {contact["_id"]: {"email_opened|30d|": 2, "form_submitted|90d|": 1}}
    people = {contact["_id"]: contact}
    facts = assemble_facts(
        [lead], people, {account["_id"]: account}, {}, {}, counts=(keys, counts)
    )[lead["_id"]]
    return json.dumps(facts, indent=2, default=_shown)


def test_the_page_shows_the_facts_a_scorer_receives() -> None:
    text = PAGE.read_text()
    example = facts_example()
    assert f"```json\n{example}\n```" in text, f"docs/plugins.md should show:\n{example}"


def test_the_page_links_the_event_catalogue() -> None:
    assert "[docs/events.md](events.md)" in PAGE.read_text()
