"""The record of what changed: every change appends its typed event in its transaction, and
plugins hear it through pluggy's own hook calls (order, wrappers, isolation), at least once
even when the process died between the commit and the dispatch."""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId
from foundation import oid_of
from leadgraph import hookimpl
from leadgraph.events import CATALOGUE, ContactCreated, ContactUpdated, Event, from_doc
from leadgraph.services import dispatch
from leadgraph.store import events as store

CREATE = """mutation($i: CreateContactInput!) { createContact(input: $i) {
  ... on ContactPayload { contact { id email } pluginErrors { plugin hook message code } } } }"""
UPDATE = """mutation($i: UpdateContactInput!) { updateContact(input: $i) {
  __typename ... on ContactPayload { contact { id jobTitle } pluginErrors { plugin hook } } } }"""
ERASE = """mutation($id: ID!) { eraseContact(id: $id) { __typename } }"""


class Ordered:
    """Three handlers and two wrappers of one hook, each noting when it ran."""

    def __init__(self, heard: list[str]) -> None:
        self.heard = heard

    @hookimpl(tryfirst=True)
    def leadgraph_contact_created(self, event: ContactCreated, event_id: str) -> None:
        assert event_id == str(event.id)
        self.heard.append("first")


class Middle:
    def __init__(self, heard: list[str]) -> None:
        self.heard = heard

    @hookimpl
    async def leadgraph_contact_created(self, event: ContactCreated) -> None:
        self.heard.append("middle (async)")


class Last:
    def __init__(self, heard: list[str]) -> None:
        self.heard = heard

    @hookimpl(trylast=True)
    def leadgraph_contact_created(self, event: ContactCreated) -> None:
        self.heard.append(f"last {event.email}")


class Wrapper:
    def __init__(self, heard: list[str]) -> None:
        self.heard = heard

    @hookimpl(wrapper=True)
    def leadgraph_contact_created(
        self, event: ContactCreated
    ) -> Generator[None, list[Any], list[Any]]:
        self.heard.append("wrapper before")
        results = yield
        self.heard.append(f"wrapper after {len(results)} results")
        return results


class Failing:
    @hookimpl
    def leadgraph_contact_created(self) -> None:
        raise RuntimeError("CRM sync is down")


class Counting:
    """Counts the events it hears by id (a handler that deduplicates would key on it)."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    @hookimpl
    def leadgraph_event(self, event: Event, event_id: str) -> None:
        self.seen[event_id] = self.seen.get(event_id, 0) + 1


@pytest.fixture
def registered(server: Any) -> Iterator[Any]:
    """Register plugins on the running server for one test."""
    pm = server.state.leadgraph.pm
    plugins: list[Any] = []

    def register(plugin: Any, name: str) -> Any:
        pm.register(plugin, name=name)
        plugins.append(plugin)
        return plugin

    try:
        yield register
    finally:
        for plugin in plugins:
            pm.unregister(plugin)


async def test_handlers_run_in_pluggys_order_inside_wrappers(api, registered):
    heard: list[str] = []
    registered(Last(heard), "acme-last")
    registered(Ordered(heard), "acme-first")
    registered(Middle(heard), "acme-middle")
    registered(Wrapper(heard), "acme-wrapper")
    out = (await api.gql(CREATE, {"i": {"email": "ana@example.com"}}))["createContact"]
    assert out["pluginErrors"] == []
    assert heard == [
        "wrapper before",
        "first",
        "last ana@example.com",
        "wrapper after 1 results",  # the async handler's coroutine, awaited after the call
        "middle (async)",
    ]


async def test_a_failing_handler_is_isolated_recorded_and_named(api, registered):
    heard: list[str] = []
    registered(Failing(), "acme-failing")
    registered(Last(heard), "acme-last")
    out = (await api.gql(CREATE, {"i": {"email": "bo@example.com"}}))["createContact"]
    assert out["contact"]["email"] == "bo@example.com"
    assert [(e["plugin"], e["hook"], e["code"]) for e in out["pluginErrors"]] == [
        ("acme-failing", "leadgraph_contact_created", "PLUGIN_ERROR")
    ]
    assert heard == ["last bo@example.com"]  # the other handler ran
    (doc,) = await store.of_subject(api.db, oid_of(out["contact"]["id"]))
    assert "pending" not in doc
    assert doc["failures"] == [
        {
            "plugin": "acme-failing",
            "hook": "leadgraph_contact_created",
            "error": "RuntimeError: CRM sync is down",
        }
    ]


async def test_an_update_records_old_and_new_values_and_who(api):
    made = await api.gql(CREATE, {"i": {"email": "cy@example.com", "jobTitle": "Intern"}})
    cid = made["createContact"]["contact"]["id"]
    changed = {"id": cid, "jobTitle": "Director of IT"}
    assert (await api.gql(UPDATE, {"i": changed}))["updateContact"]["__typename"] == (
        "ContactPayload"
    )
    created, updated = await store.of_subject(api.db, oid_of(cid))
    assert created["type"] == "contact.created" and created["data"]["source"] == "api"
    assert updated["type"] == "contact.updated" and updated["v"] == 1
    assert updated["record"] == {"type": "contact", "id": oid_of(cid)}
    assert updated["changes"] == [{"field": "jobTitle", "old": "Intern", "new": "Director of IT"}]
    assert updated["actor"] == {"name": "test admin", "role": "admin", "via": "api"}
    assert updated["_id"] > created["_id"]  # ordered by creation
    event = from_doc(updated)
    assert isinstance(event, ContactUpdated) and event.contact_id == oid_of(cid)
    assert "pending" not in updated  # no plugin handles it: stored already dispatched


async def test_an_unchanged_update_records_nothing(api):
    made = await api.gql(CREATE, {"i": {"email": "di@example.com", "jobTitle": "CTO"}})
    cid = made["createContact"]["contact"]["id"]
    await api.gql(UPDATE, {"i": {"id": cid, "jobTitle": "CTO"}})
    assert [d["type"] for d in await store.of_subject(api.db, oid_of(cid))] == ["contact.created"]


async def test_erasure_keeps_the_entries_without_the_values(api):
    made = await api.gql(CREATE, {"i": {"email": "ed@example.com", "jobTitle": "Intern"}})
    cid = made["createContact"]["contact"]["id"]
    await api.gql(UPDATE, {"i": {"id": cid, "jobTitle": "Head of IT"}})
    assert (await api.gql(ERASE, {"id": cid}))["eraseContact"]["__typename"] == "ErasePayload"
    docs = await store.of_subject(api.db, oid_of(cid))
    assert [d["type"] for d in docs] == ["contact.created", "contact.updated", "contact.erased"]
    created, updated, _ = docs
    assert created["data"] == {} and created["redacted"] is True
    assert updated["changes"] == [{"field": "jobTitle", "old": None, "new": None}]
    assert "ed@example.com" not in repr(docs) and "Intern" not in repr(docs)


def _written_long_ago(minutes: int) -> ObjectId:
    """An event id as a process would have made ``minutes`` ago."""
    t = int((datetime.now(UTC) - timedelta(minutes=minutes)).timestamp())
    return ObjectId(t.to_bytes(4, "big") + os.urandom(8))


async def test_the_sweep_delivers_what_a_killed_process_left_pending_once(api, server, registered):
    pm = server.state.leadgraph.pm
    counting = registered(Counting(), "acme-counting")
    # a process committed these and died before handing them to plugins
    crashed = [
        ContactCreated(id=_written_long_ago(5), contact_id=ObjectId(), source="api"),
        ContactUpdated(id=_written_long_ago(4), contact_id=ObjectId()),
    ]
    await store.append(api.db, crashed, pending=True)
    # one written just now may still be delivered by its own process: not swept yet
    fresh = ContactCreated(contact_id=ObjectId(), source="api")
    await store.append(api.db, [fresh], pending=True)
    assert await dispatch.sweep(api.db, pm, older_than=60) == 2
    assert await dispatch.sweep(api.db, pm, older_than=60) == 0
    assert counting.seen == {str(e.id): 1 for e in crashed}
    left = await store.pending(api.db, datetime.now(UTC) + timedelta(minutes=1), 10)
    assert [d["_id"] for d in left] == [fresh.id]


async def test_events_expire_after_the_retention_setting(api):
    ttl = (await api.db["events"].index_information())[store.TTL_INDEX]
    assert ttl["expireAfterSeconds"] == 30 * 86400  # LEADGRAPH_EVENT_RETENTION_DAYS default
    await store.ensure_retention(api.db, 7)  # the setting changed: the index follows
    ttl = (await api.db["events"].index_information())[store.TTL_INDEX]
    assert ttl["expireAfterSeconds"] == 7 * 86400


def test_every_event_type_has_its_hook_and_round_trips() -> None:
    from leadgraph import hookspecs

    for name, cls in CATALOGUE.items():
        hook = getattr(hookspecs, "leadgraph_" + name.replace(".", "_"))
        assert cls.type in (hook.__doc__ or "")
        assert not any("dict[str, Any]" in str(f.type) for f in cls.data_fields()), name


def test_the_catalogue_in_docs_is_the_one_in_the_code() -> None:
    from conftest import ROOT
    from leadgraph.events import catalogue_markdown

    text = (ROOT / "docs" / "events.md").read_text()
    start, end = "<!-- catalogue:start -->\n", "<!-- catalogue:end -->"
    documented = text[text.index(start) + len(start) : text.index(end)]
    assert documented == catalogue_markdown(), "regenerate docs/events.md's catalogue"


async def test_one_process_sweeps_at_a_time(api, server, registered):
    from leadgraph.store import leases
    from leadgraph.web.runtime import SWEEP_LEASE, sweep_round

    state = server.state.leadgraph
    counting = registered(Counting(), "acme-counting")
    crashed = ContactCreated(id=_written_long_ago(5), contact_id=ObjectId(), source="api")
    await store.append(api.db, [crashed], pending=True)
    assert await leases.acquire(api.db, SWEEP_LEASE, "another-process", 60)
    assert await sweep_round(state, "this-process") is None  # the other one sweeps
    assert counting.seen == {}
    await leases.release(api.db, SWEEP_LEASE, "another-process")  # it stopped
    assert await sweep_round(state, "this-process") == 1
    assert counting.seen == {str(crashed.id): 1}


ROWS = """email,firstName
ana@example.com,Ana
ANA@example.com ,Ana
bo@example.com,Bo
"""
IMPORT = """mutation($input: ImportInput!) { importRecords(input: $input) {
  __typename ... on ImportSummary { created updated } } }"""


async def test_every_imported_row_is_recorded_with_its_checkpoint(api):
    data = {"kind": "CONTACTS", "data": ROWS, "format": "CSV"}
    out = (await api.gql(IMPORT, {"input": data}))["importRecords"]
    assert (out["__typename"], out["created"], out["updated"]) == ("ImportSummary", 2, 1)
    rows = await api.db["events"].find({"type": "import.row"}).sort("data.line", 1).to_list()
    assert [(d["data"]["line"], d["data"]["created"]) for d in rows] == [
        (2, True),
        (3, False),
        (4, True),
    ]
    ana = rows[0]["record"]["id"]
    assert rows[1]["record"] == {"type": "contact", "id": ana} and rows[0]["subject"] == ana
    assert rows[0]["actor"]["via"] == "import"
    created = await api.db["events"].count_documents({"type": "contact.created"})
    assert created == 2
