"""Issue 9 point 8: imports that survive what a file can hold and fail cleanly when they stop.

- A 140,000-character CSV field used to abort the import after the first batch (the csv
  module's field limit), leave it ``running`` and fail every rerun the same way: the row is
  rejected with its line number and the rest imported, over HTTP and through the CLI.
- An import's identity used to ignore its format: the same text sent as JSON lines (every row
  rejected) and then as CSV answered ``alreadyDone``.  Kind, format and form are part of it.
- An import that stops (here: the database refuses a write of the second batch) used to stay
  ``running`` with keys claimed for rows it never wrote: it says ``failed`` with the error,
  keeps only keys of records that exist, and running it again finishes the job exactly once.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

IMPORT = """
mutation($input: ImportInput!) {
  importRecords(input: $input) {
    __typename
    ... on ImportSummary {
      importId created updated rejected resumedFromLine alreadyDone
      rejectedRows { line reason }
    }
    ... on ImportFailedError { message code importId committedLine }
    ... on ValidationError { message }
  }
}
"""

STATUS = """
query($id: String!) {
  importStatus(importId: $id) { status error committedLine summary { created rejected } }
}
"""

COUNT = "query($f: ContactFilter) { contacts(filter: $f) { totalCount } }"

ROWS = 3011
HUGE_LINE = 2502  # in the second batch of 2,000 rows (the header is line 1)


def contacts_csv(rows: int, huge_line: int | None = None, prefix: str = "user") -> str:
    """``rows`` contacts, one per line; the row on ``huge_line`` has a 140,000-character
    last name."""
    lines = ["email,firstName,lastName"]
    for i in range(rows):
        last = "X" * 140_000 if i + 2 == huge_line else f"L{i}"
        lines.append(f"{prefix}{i}@example.com,U{i},{last}")
    return "\n".join(lines) + "\n"


async def run(api: Any, data: str, fmt: str = "CSV", **extra: Any) -> dict[str, Any]:
    variables = {"input": {"kind": "CONTACTS", "data": data, "format": fmt, **extra}}
    return (await api.gql(IMPORT, variables))["importRecords"]


async def contact_count(api: Any, **filter: Any) -> int:
    return (await api.gql(COUNT, {"f": filter or None}))["contacts"]["totalCount"]


async def status(api: Any, import_id: str) -> dict[str, Any]:
    return (await api.gql(STATUS, {"id": import_id}))["importStatus"]


async def test_a_huge_csv_field_rejects_its_row_and_the_rest_is_imported(api):
    out = await run(api, contacts_csv(ROWS, HUGE_LINE))
    assert out["__typename"] == "ImportSummary", out
    assert out["rejectedRows"] == [{"line": HUGE_LINE, "reason": "longer than 65536 characters"}]
    assert (out["created"], out["rejected"]) == (ROWS - 1, 1)
    assert await contact_count(api) == ROWS - 1
    assert await contact_count(api, email=f"user{HUGE_LINE - 2}@example.com") == 0
    assert await status(api, out["importId"]) == {
        "status": "done",
        "error": None,
        "committedLine": ROWS + 1,
        "summary": {"created": ROWS - 1, "rejected": 1},
    }
    again = await run(api, contacts_csv(ROWS, HUGE_LINE))
    assert again["alreadyDone"] and again["importId"] == out["importId"]
    assert await contact_count(api) == ROWS - 1


def cli(args: list[str], mongo_uri: str, db_name: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MONGODB_URI": mongo_uri, "LEADGRAPH_DB_NAME": db_name}
    return subprocess.run(
        [str(Path(sys.executable).parent / "leadgraph"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


async def test_a_huge_csv_field_through_the_cli(api, mongo_uri, tmp_path):
    path = tmp_path / "contacts.csv"
    path.write_text(contacts_csv(301, 252))  # in the third batch of 100
    args = ["import", "contacts", str(path), "--batch-size", "100"]
    done = cli(args, mongo_uri, api.db.name)
    assert done.returncode == 0, done.stderr
    assert "rejected line 252: longer than 65536 characters" in done.stderr
    assert "created 300, updated 0, skipped 0, rejected 1" in done.stdout
    assert await contact_count(api) == 300
    again = cli(args, mongo_uri, api.db.name)
    assert again.returncode == 0 and "was already imported" in again.stderr


async def test_a_deeply_nested_json_line_is_rejected_not_fatal(api):
    data = '{"email": "a@example.com", "lastName": "A"}\n' + "[" * 50_000 + "\n"
    data += '{"email": "b@example.com", "lastName": "B"}\n'
    out = await run(api, data, fmt="JSONL")
    assert out["__typename"] == "ImportSummary", out
    assert [r["line"] for r in out["rejectedRows"]] == [2]
    assert out["created"] == 2


async def test_an_imports_identity_covers_its_format_and_form(api):
    data = contacts_csv(3)
    as_jsonl = await run(api, data, fmt="JSONL")
    assert as_jsonl["__typename"] == "ImportSummary", as_jsonl
    assert (as_jsonl["created"], as_jsonl["rejected"]) == (0, 4)  # CSV lines are not JSON

    as_csv = await run(api, data)
    assert as_csv["importId"] != as_jsonl["importId"]
    assert not as_csv["alreadyDone"] and as_csv["created"] == 3
    assert await contact_count(api) == 3

    for_form = await run(api, data, formId="webinar-signup")
    assert for_form["importId"] not in (as_csv["importId"], as_jsonl["importId"])
    assert not for_form["alreadyDone"] and for_form["updated"] == 3  # matched, not doubled

    assert (await run(api, data))["alreadyDone"]
    assert (await run(api, data, fmt="JSONL"))["alreadyDone"]
    assert await contact_count(api) == 3


async def test_a_failed_import_says_so_keeps_only_true_keys_and_resumes(api):
    # A contact entered by hand (no match key yet): the import's backfill claims its key.
    await api.gql('mutation { createContact(input: {email: "user5@example.com"}) { __typename } }')
    # The database refuses the second batch: two rows share a phone a unique index guards.
    await api.db.contacts.create_index(
        "phone", unique=True, name="phone_unique", partialFilterExpression={"phone": "+1 555"}
    )
    lines = ["email,firstName,lastName,phone"]
    lines += [f"user{i}@example.com,U{i},L{i}," for i in range(2500)]
    lines[2300] = "user2299@example.com,U2299,L2299,+1 555"
    lines[2301] = "user2300@example.com,U2300,L2300,+1 555"
    data = "\n".join(lines) + "\n"

    failed = await run(api, data)
    assert failed["__typename"] == "ImportFailedError", failed
    assert failed["code"] == "IMPORT_FAILED" and failed["committedLine"] == 2001
    assert "duplicate key" in failed["message"]
    state = await status(api, failed["importId"])
    assert state["status"] == "failed" and "duplicate key" in state["error"]
    assert state["committedLine"] == 2001

    # Every key left behind points at a contact that exists (the backfilled one included).
    keys = await api.db.match_keys.find({"collection": "contacts"}).to_list()
    existing = await api.db.contacts.find({}, {"_id": 1}).to_list()
    assert {k["recordId"] for k in keys} == {d["_id"] for d in existing}
    assert len(keys) == len(existing) == 2499  # one row of the batch was not written

    await api.db.contacts.drop_index("phone_unique")
    resumed = await run(api, data)
    assert resumed["__typename"] == "ImportSummary", resumed
    assert resumed["resumedFromLine"] == 2001 and not resumed["alreadyDone"]
    assert (resumed["created"], resumed["updated"]) == (2499, 1)  # user5 was there already
    assert await contact_count(api) == 2500
    assert await contact_count(api, email="user5@example.com") == 1
    state = await status(api, failed["importId"])
    assert (state["status"], state["error"], state["committedLine"]) == ("done", None, 2501)
