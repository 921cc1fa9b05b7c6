"""A funnel event a webhook takes is stored pending, as a capture's are: should the process
die between the commit and the dispatch, the sweep still delivers it (every road that stores
events asks ``dispatch.hearing``)."""

from __future__ import annotations

from typing import Any

from leadgraph.services import dispatch

from .helpers import create, receiving

SUBMIT = """mutation($input: SubmitFormInput!) { submitForm(input: $input) {
  __typename ... on CapturePayload { lead { id } } } }"""


async def _submit(api: Any, title: str) -> None:
    fields = {"email": "hook@example.com", "jobTitle": title}
    out = await api.gql(SUBMIT, {"input": {"formId": "webinar", "fields": fields}})
    assert out["submitForm"]["__typename"] == "CapturePayload", out


async def test_a_rescored_leads_event_waits_for_the_webhook_that_takes_it(api, monkeypatch):
    async with receiving() as rx:
        await create(api, rx.url, ["lead.scored"])
        await _submit(api, "Intern")  # the new lead, scored in the capture's transaction

        async def died_before_the_dispatch(*args: Any, **kwargs: Any) -> list[Any]:
            return []

        monkeypatch.setattr(dispatch, "deliver", died_before_the_dispatch)
        before = await api.db.events.count_documents({"type": "lead.scored"})
        await _submit(api, "Director of IT")  # matched: rescored after the commit (persist)
        scored = await api.db.events.find({"type": "lead.scored"}).sort("_id", 1).to_list()
    assert len(scored) == before + 1, scored
    assert scored[-1].get("pending") is True  # the sweep delivers it
