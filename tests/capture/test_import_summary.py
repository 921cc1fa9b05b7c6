"""What an import says of a real export (issue 19 point 11): the columns it did not import,
each once; empty rows skipped and listed; the file's own duplicates filled by the
survivorship rules, not by whichever row came last. Through GraphQL and the CLI (whose
progress bar still runs). And one find-or-create (issue 18): a matching rule changed on a
live server moves capture and import alike."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import Api
from foundation import oid_of

from .helpers import submit
from .test_import import run

# A HubSpot contacts export: "Record ID" and "Lifecycle Stage" are columns no field takes.
HUBSPOT = (
    "Record ID,First Name,Last Name,Email,Phone Number,Lifecycle Stage,Job Title\n"
    "101,Ana,López,ana.lopez@acme.com,+1 555 0100,lead,Head of Marketing\n"
    ",,,,,,\n"
    "102,Bo,Chen,bo@acme.com,,customer,\n"
    "\n"
    "103,ana,lopez,ANA.LOPEZ@acme.com,+1 555 0199,subscriber,\n"
)

SUMMARY = """
mutation($input: ImportInput!) {
  importRecords(input: $input) {
    __typename
    ... on ImportSummary {
      importId created updated skipped rejected unmappedColumns skippedRows { line reason }
    }
  }
}
"""


async def test_unmapped_columns_empty_rows_and_in_file_duplicates(api: Api) -> None:
    out = (await api.gql(SUMMARY, {"input": {"kind": "CONTACTS", "data": HUBSPOT}}, role="admin"))[
        "importRecords"
    ]
    assert out["__typename"] == "ImportSummary", out
    assert out["unmappedColumns"] == ["Record ID", "Lifecycle Stage"]
    assert (out["created"], out["updated"], out["skipped"], out["rejected"]) == (2, 1, 2, 0)
    assert out["skippedRows"] == [
        {"line": 3, "reason": "empty row"},
        {"line": 5, "reason": "empty row"},
    ]
    assert await api.db.contacts.count_documents({}) == 2
    ana = await api.db.contacts.find_one({"emailNormalized": "ana.lopez@acme.com"})
    assert ana is not None
    # the shipped survivorship rules: names and email keep the first row's (survivor),
    # phone and job title take the newest row that has one (newest)
    assert (ana["firstName"], ana["lastName"], ana["email"]) == (
        "Ana",
        "López",
        "ana.lopez@acme.com",
    )
    assert (ana["phone"], ana["jobTitle"]) == ("+1 555 0199", "Head of Marketing")

    status = await api.gql(
        "query($id: String!) { importStatus(importId: $id) { summary { skipped "
        "unmappedColumns skippedRows { line } } } }",
        {"id": out["importId"]},
        role="admin",
    )
    assert status["importStatus"]["summary"] == {
        "skipped": 2,
        "unmappedColumns": ["Record ID", "Lifecycle Stage"],
        "skippedRows": [{"line": 3}, {"line": 5}],
    }


async def test_a_column_a_matching_strategy_reads_is_not_unmapped(partner: Api) -> None:
    data = "email,externalId,topic,Lead Status\nh@x.com,AB-12,renewal,open\n\n"
    out = await run(partner, "LEADS", data, formId="crm-sync")
    assert out["created"] == 1 and out["skipped"] == 1, out
    again = (
        await partner.gql(SUMMARY, {"input": {"kind": "LEADS", "data": data, "formId": "crm-sync"}})
    )["importRecords"]
    assert again["unmappedColumns"] == ["Lead Status"]  # externalId: lead-external-id reads it


async def test_the_cli_reports_them_and_keeps_its_progress_bar(
    api: Api, mongo_uri: str, tmp_path: Path
) -> None:
    path = tmp_path / "hubspot.csv"
    path.write_text(HUBSPOT)
    env = {**os.environ, "MONGODB_URI": mongo_uri, "LEADGRAPH_DB_NAME": api.db.name}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "leadgraph"), "import", "contacts", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "created 2, updated 1, skipped 2, rejected 0" in done.stdout
    assert "unmapped columns, not imported: 'Record ID', 'Lifecycle Stage'" in done.stdout
    assert done.stdout.count("Lifecycle Stage") == 1
    assert "skipped line 3: empty row" in done.stderr
    assert "skipped line 5: empty row" in done.stderr
    assert "contacts" in done.stderr and "5/5" in done.stderr  # the bar, at its end
    ana = await api.db.contacts.find_one({"emailNormalized": "ana.lopez@acme.com"})
    assert ana is not None
    assert ana["lastName"] == "López"


EXPO = "    - {form: expo, contact: contact-sounds-like}\n"


async def test_a_matching_rule_change_moves_capture_and_import_alike(partner: Api) -> None:
    first = await submit(
        partner, "expo", {"email": "ann@x.com", "firstName": "Ann", "lastName": "Meyer"}
    )
    assert first["contactCreated"] and first["contactMatch"]["strategy"] == "contact-email"
    out = await run(
        partner, "CONTACTS", "email,firstName,lastName\nanne@y.com,Anne,Maier\n", formId="expo"
    )
    assert (out["created"], out["updated"]) == (1, 0), out  # by email: another person

    manager = partner.app.state.leadgraph.rules  # type: ignore[attr-defined]
    matching = manager.directory / "matching.yaml"
    text = matching.read_text()
    matching.write_text(text.replace("  forms:\n", "  forms:\n" + EXPO, 1))
    reloaded = await partner.gql("mutation { reloadRules { version errors { message } } }")
    assert reloaded["reloadRules"]["errors"] == [], reloaded

    second = await submit(
        partner, "expo", {"email": "anna@z.com", "firstName": "Anna", "lastName": "Meier"}
    )
    assert second["contactMatch"]["strategy"] == "contact-sounds-like"
    assert second["contactMatch"]["matched"] and second["contact"]["id"] == first["contact"]["id"]
    out = await run(
        partner, "CONTACTS", "email,firstName,lastName\nannie@w.com,Ann,Mayer\n", formId="expo"
    )
    assert (out["created"], out["updated"]) == (0, 1), out  # the same rule, the same person
    assert await partner.db.contacts.count_documents({}) == 2
    ann = await partner.db.contacts.find_one({"email": "annie@w.com"})
    assert ann is not None and ann["_id"] == oid_of(first["contact"]["id"])
