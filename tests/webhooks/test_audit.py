"""The audit log through GraphQL: every write with its actor and changes, filtered by record
and actor, admin only; an erasure leaves the entries without their values."""

from __future__ import annotations

AUDIT = """query($record: ID, $actor: String, $actions: [String!], $after: String) {
  auditLog(record: $record, actor: $actor, actions: $actions, first: 2, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { id at action record recordType actor { name role via }
            changes { field old new } redacted } } }"""

CREATE = """mutation { createContact(input: {email: "ada@example.com", firstName: "Ada",
  jobTitle: "Intern"}) { ... on ContactPayload { contact { id } } } }"""
UPDATE = """mutation($id: ID!) { updateContact(input: {id: $id, jobTitle: "Director of IT"})
  { __typename } }"""


async def _contact(api) -> str:
    out = await api.gql(CREATE)
    return out["createContact"]["contact"]["id"]


async def test_every_write_is_in_the_audit_log_with_its_actor_and_changes(api):
    contact = await _contact(api)
    await api.gql(UPDATE, {"id": contact}, role="marketer")
    log = (await api.gql(AUDIT, {"record": contact, "actions": ["contact.*"]}))["auditLog"]
    assert log["totalCount"] == 2
    newest, created = log["nodes"]
    assert (newest["action"], newest["record"], newest["recordType"]) == (
        "contact.updated",
        contact,
        "contact",
    )
    assert newest["actor"] == {"name": "test marketer", "role": "marketer", "via": "api"}
    assert {"field": "jobTitle", "old": "Intern", "new": "Director of IT"} in newest["changes"]
    assert created["action"] == "contact.created"
    assert created["actor"] == {"name": "test admin", "role": "admin", "via": "api"}
    mine = (await api.gql(AUDIT, {"actor": "test marketer"}))["auditLog"]
    assert {n["action"] for n in mine["nodes"]} >= {"contact.updated"}
    assert all(n["actor"]["name"] == "test marketer" for n in mine["nodes"])


async def test_the_audit_log_pages(api):
    contact = await _contact(api)
    for title in ("A", "B", "C"):
        await api.gql(
            "mutation($id: ID!, $t: String!) { updateContact(input: {id: $id, jobTitle: $t}) "
            "{ __typename } }",
            {"id": contact, "t": title},
        )
    seen: list[str] = []
    after = None
    while True:
        log = (
            await api.gql(
                AUDIT, {"record": contact, "actions": ["contact.updated"], "after": after}
            )
        )["auditLog"]
        seen += [n["id"] for n in log["nodes"]]
        if not log["pageInfo"]["hasNextPage"]:
            break
        after = log["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == 3


async def test_an_erasure_leaves_the_entries_without_values(api):
    contact = await _contact(api)
    await api.gql(UPDATE, {"id": contact})
    erased = await api.gql(
        "mutation($id: ID!) { eraseContact(id: $id) { __typename } }", {"id": contact}
    )
    assert erased["eraseContact"]["__typename"] == "ErasePayload"
    log = (await api.gql(AUDIT, {"record": contact, "actions": ["contact.updated"]}))["auditLog"]
    [entry] = log["nodes"]
    assert entry["redacted"] is True
    assert entry["changes"] and all((c["old"], c["new"]) == (None, None) for c in entry["changes"])
    assert "jobTitle" in {c["field"] for c in entry["changes"]}


async def test_only_admins_read_the_audit_log(api):
    for role in ("marketer", "sales", "read-only"):
        body = (await api.post(AUDIT, {}, role=role)).json()
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_bad_filters_are_refused(api):
    body = (await api.post(AUDIT, {"actions": ["contact.exploded"]})).json()
    assert body["errors"][0]["extensions"]["fields"][0]["field"] == "actions.0"
    body = (await api.post(AUDIT, {"record": "U2VnbWVudExpc3Q6eA=="})).json()
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_the_subscription_centre_is_the_actor_of_its_changes(api):
    contact = await _contact(api)
    issued = await api.gql(
        "mutation($c: ID!) { issueSubscriptionToken(contact: $c) "
        "{ ... on SubscriptionTokenPayload { token } } }",
        {"c": contact},
    )
    token = issued["issueSubscriptionToken"]["token"]
    answer = await api.post(
        "mutation($t: String!) { updateSubscriptions(token: $t, input: {allowBulkEmail: true}) "
        "{ __typename } }",
        {"t": token},
        role=None,
    )
    assert answer.json()["data"]["updateSubscriptions"]["__typename"] == "SubscriptionCentre"
    log = (await api.gql(AUDIT, {"record": contact, "actions": ["consent.*"]}))["auditLog"]
    assert log["nodes"], "the centre's change is in the audit log"
    assert log["nodes"][0]["actor"] == {
        "name": "subscription centre",
        "role": None,
        "via": "centre",
    }


async def test_a_command_line_import_is_the_actor_of_its_rows(api, mongo_uri, tmp_path):
    import asyncio
    import os
    import sys
    from pathlib import Path

    path = tmp_path / "contacts.csv"
    path.write_text("email,firstName\ncli@example.com,Cli\n")
    env = {**os.environ, "MONGODB_URI": mongo_uri, "LEADGRAPH_DB_NAME": api.db.name}
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "leadgraph"),
        "import",
        "contacts",
        str(path),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, errs = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, errs.decode()
    log = (await api.gql(AUDIT, {"actions": ["contact.created"]}))["auditLog"]
    [entry] = log["nodes"]
    assert entry["actor"]["via"] == "import"
    assert entry["actor"]["name"]  # the user who ran the command
