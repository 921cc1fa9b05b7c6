"""A submission that creates its contact scores the new lead from the documents in hand (the
contact, the lead and the one interaction), reading nothing back: what it stores must be what
a rescore from the database gives, windows included (issue 21 point 2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

SUBMIT = """mutation($input: SubmitFormInput!) { submitForm(input: $input) {
  __typename ... on CapturePayload { contactCreated leadCreated
    lead { id stage salesReady scores { model score salesReady grade
      explanation { rule points } } } } } }"""

RESCORE = """mutation($id: ID!) { rescoreLead(id: $id) { __typename
  ... on LeadPayload { lead { id stage salesReady scores { model score salesReady grade
      explanation { rule points } } } } } }"""


async def _submit(api: Any, fields: dict[str, Any], occurred: datetime | None) -> dict[str, Any]:
    sent: dict[str, Any] = {"formId": "webinar", "fields": fields}
    if occurred is not None:
        sent["occurredAt"] = occurred.isoformat()
    out = (await api.gql(SUBMIT, {"input": sent}))["submitForm"]
    assert out["__typename"] == "CapturePayload" and out["contactCreated"], out
    return dict(out["lead"])


@pytest.mark.parametrize("days_ago", [None, 30, 200])  # now, inside and outside the 90d window
async def test_a_new_persons_lead_is_scored_as_a_rescore_would(api, days_ago):
    occurred = datetime.now(UTC) - timedelta(days=days_ago) if days_ago is not None else None
    fields = {"email": f"first{days_ago}@example.com", "jobTitle": "Director of IT"}
    lead = await _submit(api, fields, occurred)
    assert lead["scores"], lead  # scored at once
    again = (await api.gql(RESCORE, {"id": lead["id"]}))["rescoreLead"]
    assert again["__typename"] == "LeadPayload", again
    assert again["lead"] == lead  # the database's facts give the same scores and stage
    stored = await api.db.lead_history.count_documents({})
    assert stored >= 1  # the capture's score is in the lead's history
    points = {e["rule"] for s in lead["scores"] for e in s["explanation"]}
    assert ("landing page submitted" in points) == (days_ago != 200)
