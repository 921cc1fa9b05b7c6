"""A capture's transaction sends its writes at once (:mod:`leadgraph.store.writes`): one
client-level ``bulkWrite`` on a server that has it (MongoDB 8.0+, and the embedded one), one
write per collection on an older one; the records stored are the same either way, and a
submission refused in the transaction leaves nothing (issue 21 point 2)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from conftest import listening
from leadgraph.store import writes
from pymongo import monitoring

SUBMIT = """mutation($input: SubmitFormInput!) { submitForm(input: $input) {
  __typename ... on CapturePayload { contactCreated leadCreated
    lead { id stage scores { model score } } }
  ... on Error { message } } }"""

WRITES = {"insert", "update", "delete", "findAndModify", "bulkWrite"}
STORED = ("contacts", "leads", "interactions", "interaction_days", "match_keys", "events")


class Writes(monitoring.CommandListener):
    """The write commands sent to one database (a ``bulkWrite`` by the namespaces it names)."""

    def __init__(self, db_name: str) -> None:
        self.db_name = db_name
        self.sent: list[tuple[str, set[str]]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name not in WRITES:
            return
        if event.command_name == "bulkWrite":
            spaces = {str(n["ns"]) for n in event.command.get("nsInfo", [])}
            mine = {s.split(".", 1)[1] for s in spaces if s.startswith(f"{self.db_name}.")}
        elif event.database_name == self.db_name:
            mine = {str(event.command.get(event.command_name))}
        else:
            return
        self.sent.append((event.command_name, mine))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def _submit(api: Any, email: str, **more: Any) -> dict[str, Any]:
    sent = {"formId": "webinar", "fields": {"email": email, "jobTitle": "Director of IT"}}
    out = (await api.gql(SUBMIT, {"input": {**sent, **more}}))["submitForm"]
    return dict(out)


async def _stored(api: Any, email: str) -> dict[str, Any]:
    """What one person's capture left, without ids and times."""
    db = api.db
    contact = await db.contacts.find_one({"emailNormalized": email})
    assert contact is not None
    lead = await db.leads.find_one({"parentContactId": contact["_id"]})
    assert lead is not None
    days = await db.interaction_days.find({"contactId": contact["_id"]}).to_list()
    types = [e["type"] for e in await db.events.find({"contactId": contact["_id"]}).to_list()]
    lead_types = [e["type"] for e in await db.events.find({"leadId": lead["_id"]}).to_list()]
    return {
        "insights": contact["insights"]["total"],
        "scores": [(s["model"], s["score"]) for s in lead.get("scores", [])],
        "stage": lead["stage"],
        "history": await db.lead_history.count_documents({"leadId": lead["_id"]}),
        "days": sorted(sum(d["n"].values()) for d in days),
        "keys": await db.match_keys.count_documents({"recordId": {"$in": [contact["_id"]]}}),
        "events": sorted(Counter(types + lead_types)),
    }


async def test_a_new_persons_writes_are_one_command(api, server, mongo_uri):
    await api.key("admin")
    async with listening(server, api, mongo_uri, Writes(api.db.name)) as seen:
        out = await _submit(api, "one@example.com")
    assert out["__typename"] == "CapturePayload" and out["contactCreated"], out
    assert out["lead"]["scores"], out  # scored in the transaction
    # the delivery after the commit may mark events heard (an update of events): not the capture's
    written = set(STORED) | {"lead_history"}
    mine = [(n, c) for n, c in seen.sent if c & written and (n != "update" or c != {"events"})]
    assert [name for name, _ in mine] == ["bulkWrite"], seen.sent
    assert set(STORED) | {"lead_history"} <= mine[0][1]
    stored = await _stored(api, "one@example.com")
    assert stored["history"] >= 1 and stored["days"] == [1, 1] and stored["keys"] >= 1


async def test_without_the_client_bulk_command_the_same_records_are_stored(api, monkeypatch):
    await _submit(api, "bulk@example.com")
    monkeypatch.setattr(writes, "client_bulk", lambda db: False)  # a MongoDB 7 server
    await _submit(api, "plain@example.com")
    assert await _stored(api, "plain@example.com") == await _stored(api, "bulk@example.com")


@pytest.mark.parametrize("bulk", [True, False])
async def test_a_write_refused_at_the_end_leaves_nothing(api, monkeypatch, bulk):
    """The database refuses the transaction's last write (a duplicate ``_id``, added after
    every write of the capture was gathered): nothing of the capture is stored, on either
    road."""
    if not bulk:
        monkeypatch.setattr(writes, "client_bulk", lambda db: False)
    taken = {"_id": "taken", "recordId": None}
    await api.db.match_keys.insert_one(taken)
    counts = {c: await api.db[c].count_documents({}) for c in (*STORED, "lead_history")}
    flush = writes.Writes.flush

    async def refused_at_the_end(self: writes.Writes, session: Any) -> None:
        self.insert("match_keys", [taken])
        await flush(self, session)

    monkeypatch.setattr(writes.Writes, "flush", refused_at_the_end)
    out = await api.post(SUBMIT, {"input": {"formId": "webinar", "fields": {"email": "no@x.io"}}})
    assert out.status_code == 200 and out.json()["errors"], out.text
    assert {c: await api.db[c].count_documents({}) for c in counts} == counts
