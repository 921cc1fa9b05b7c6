"""Imports through GraphQL and the CLI: matching, merging, bad rows, kill and resume."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from .helpers import submit

IMPORT = """
mutation($input: ImportInput!) {
  importRecords(input: $input) {
    __typename
    ... on ImportSummary {
      importId created updated skipped rejected contactsCreated accountsCreated
      resumedFromLine alreadyDone rejectedRows { line reason }
    }
    ... on ValidationError { message }
    ... on ForbiddenError { message }
  }
}
"""

CONTACTS_CSV = """email,First Name,last_name,company,website,allowBulkEmail
ana@example.com,Ana,Lee,Contoso,https://www.Contoso.com/about,yes
ANA@example.com ,Ana,Lee-Smith,,,
not-an-email,Bad,Row,,,
bo@example.com,Bo,Chen,Contoso Ltd,contoso.com,no
,,NoEmail,,,
,First,,,,
cy@example.com,Cy,Diaz,Fabrikam,,maybe
dee@example.com,Dee,Ek,fabrikam,,
x@example.com,too,many,columns,a,b,c
"""


async def run(api, kind, data, fmt="CSV", role="admin", **extra):
    out = await api.gql(
        IMPORT, {"input": {"kind": kind, "data": data, "format": fmt, **extra}}, role=role
    )
    return out["importRecords"]


async def test_contacts_csv_merges_duplicates_links_accounts_and_reports_bad_rows(api):
    existing = await submit(api, "f1", {"email": "dee@example.com", "firstName": "D"})
    out = await run(api, "CONTACTS", CONTACTS_CSV)
    assert out["__typename"] == "ImportSummary", out
    rejected = {r["line"]: r["reason"] for r in out["rejectedRows"]}
    assert sorted(rejected) == [4, 7, 8, 10]
    assert rejected[4].startswith("email:")
    assert "needs an email or a lastName" in rejected[7]
    assert "allowBulkEmail" in rejected[8]
    assert "columns" in rejected[10]
    assert (out["created"], out["updated"], out["rejected"]) == (3, 2, 4)
    assert await api.db.contacts.count_documents({}) == 4  # ana, bo, NoEmail, dee
    ana = await api.db.contacts.find_one({"emailNormalized": "ana@example.com"})
    # the file's own duplicate follows the survivorship rules (lastName: survivor): the
    # earlier row's name stays, the later row only fills what the earlier one left empty
    assert ana["lastName"] == "Lee" and ana["email"] == "ana@example.com"
    assert ana["preferences"]["allowBulkEmail"] is True
    bo = await api.db.contacts.find_one({"emailNormalized": "bo@example.com"})
    assert bo["accountId"] == ana["accountId"]  # contoso.com, scheme/www/case ignored
    dee = await api.db.contacts.find_one({"emailNormalized": "dee@example.com"})
    assert dee["lastName"] == "Ek" and dee["insights"]["total"] == 1  # the submitted contact
    assert await api.db.contacts.count_documents({"emailNormalized": "dee@example.com"}) == 1
    assert await api.db.accounts.count_documents({}) == 2  # Contoso, Fabrikam
    assert out["accountsCreated"] == 2

    assert existing["contactCreated"]
    status = await api.gql(
        "query($id: String!) { importStatus(importId: $id) { status committedLine "
        "summary { created rejected } } }",
        {"id": out["importId"]},
    )
    assert status["importStatus"] == {
        "status": "done",
        "committedLine": 10,
        "summary": {"created": 3, "rejected": 4},
    }
    again = await run(api, "CONTACTS", CONTACTS_CSV)
    assert again["alreadyDone"] and again["created"] == 3


async def test_leads_jsonl_get_parent_contacts_and_merge(api):
    await submit(api, "f1", {"email": "known@example.com"})
    rows = [
        {"email": "known@example.com", "formId": "ebook", "topic": "Ebook"},
        {"email": "new@example.com", "formId": "ebook", "firstName": "Nu", "lastName": "W"},
        {"email": "NEW@example.com", "formId": "ebook", "jobTitle": "CTO"},
        {"lastName": "Orphan", "companyName": "Tailspin", "topic": "Toys"},
        {"topic": "nothing to go on"},
        "not an object",
    ]
    data = "\n".join(json.dumps(r) for r in rows) + "\nnot json\n"
    out = await run(api, "LEADS", data, fmt="JSONL")
    assert out["__typename"] == "ImportSummary", out
    assert [r["line"] for r in out["rejectedRows"]] == [5, 6, 7]
    assert (out["created"], out["updated"]) == (3, 1)
    assert out["contactsCreated"] == 2
    assert await api.db.leads.count_documents({}) == 4  # f1 lead + 3 imported
    known = await api.db.contacts.find_one({"emailNormalized": "known@example.com"})
    assert not known["marketingOnly"]
    lead = await api.db.leads.find_one({"emailNormalized": "known@example.com", "formId": "ebook"})
    assert lead["parentContactId"] == known["_id"]
    (score,) = [s for s in lead["scores"] if s["model"] == "engagement"]
    assert {"rule": "landing page submitted", "points": 15} in score["explanation"]
    new = await api.db.leads.find_one({"emailNormalized": "new@example.com"})
    assert new["jobTitle"] == "CTO"
    parent = await api.db.contacts.find_one({"_id": new["parentContactId"]})
    assert parent["marketingOnly"] and parent["firstName"] == "Nu"
    orphan = await api.db.leads.find_one({"lastName": "Orphan"})
    person = await api.db.contacts.find_one({"_id": orphan["parentContactId"]})
    assert person["marketingOnly"] and person["lastName"] == "Orphan"
    account = await api.db.accounts.find_one({"_id": orphan["parentAccountId"]})
    assert account["name"] == "Tailspin" and person["accountId"] == account["_id"]


async def test_accounts_match_by_normalised_domain_then_name(api):
    data = (
        "name,domain,numberOfEmployees\n"
        "Contoso,https://WWW.contoso.com,100\n"
        "Contoso Inc,contoso.com/,120\n"
        "Fabrikam,,10\n"
        "  fabrikam ,,12\n"
        "Broken,nodots,1\n"
        ",x.com,1\n"
        "Neg,neg.com,-5\n"
    )
    out = await run(api, "ACCOUNTS", data)
    assert (out["created"], out["updated"], out["rejected"]) == (2, 2, 3)
    docs = await api.db.accounts.find({}).sort("nameNormalized", 1).to_list()
    # rows of one file naming one account: the survivorship default (survivor) keeps the first
    assert [(d["name"], d["domain"], d["numberOfEmployees"]) for d in docs] == [
        ("Contoso", "contoso.com", 100),
        ("Fabrikam", None, 10),
    ]


async def test_import_needs_permission(api):
    out = await run(api, "CONTACTS", "email\na@example.com\n", role="sales")
    assert out["__typename"] == "ForbiddenError"


LINK = """
mutation { linkOrphanLeads { __typename ... on LinkOrphansPayload {
  linked contactsCreated contactsMatched leads { email parentContact { id marketingOnly } } } } }
"""


async def test_link_orphan_leads(api, orphans_stay):
    known = await submit(api, "f1", {"email": "known@example.com"})
    for fields in (
        '{topic: "A", email: "KNOWN@example.com"}',
        '{topic: "B", email: "fresh@example.com", firstName: "Fr"}',
        '{topic: "C", lastName: "NoMail"}',
    ):
        await api.gql(f"mutation {{ createLead(input: {fields}) {{ __typename }} }}")
    out = (await api.gql(LINK))["linkOrphanLeads"]
    assert (out["linked"], out["contactsCreated"], out["contactsMatched"]) == (3, 2, 1)
    by_email = {lead["email"]: lead["parentContact"] for lead in out["leads"]}
    assert by_email["KNOWN@example.com"]["id"] == known["contact"]["id"]
    assert not by_email["KNOWN@example.com"]["marketingOnly"]
    assert by_email["fresh@example.com"]["marketingOnly"]
    assert by_email[None]["marketingOnly"]
    again = (await api.gql(LINK))["linkOrphanLeads"]
    assert again["linked"] == 0
    assert await api.db.contacts.count_documents({}) == 3


def _cli(args, mongo_uri, db_name):
    env = {**os.environ, "MONGODB_URI": mongo_uri, "LEADGRAPH_DB_NAME": db_name}
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "leadgraph"), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def test_killed_import_resumes_without_loss_or_duplicates(api, mongo_uri, tmp_path):
    n, unique = 1200, 1000  # 24 batches of 50: the kill lands after the first one
    lines = ["email,firstName,lastName"]
    for i in range(n):
        lines.append(f"user{i % unique}@example.com,U{i},L{i}")  # 200 in-file duplicates
    lines.insert(100, "broken@,x,y")
    path = tmp_path / "contacts.csv"
    path.write_text("\n".join(lines) + "\n")
    args = ["import", "contacts", str(path), "--batch-size", "50"]

    proc = _cli(args, mongo_uri, api.db.name)
    state = None
    for _ in range(3000):
        state = await api.db.imports.find_one({})
        if (state and state["committedLine"] > 0) or proc.poll() is not None:
            break
        await asyncio.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert state is not None and state["status"] == "running", "killed before the end"
    partial = await api.db.contacts.count_documents({})
    assert 0 < partial < unique

    proc = _cli(args, mongo_uri, api.db.name)
    out, errs = proc.communicate(timeout=120)
    assert proc.returncode == 0, errs
    assert "resumed after line" in errs
    assert "rejected line 101: email:" in errs
    assert await api.db.contacts.count_documents({}) == unique
    assert len(await api.db.contacts.distinct("emailNormalized")) == unique
    state = await api.db.imports.find_one({})
    assert state["status"] == "done"
    assert state["counts"]["created"] == unique
    assert state["counts"]["rejected"] == 1
    assert state["counts"]["created"] + state["counts"]["updated"] == n
    assert f"created {unique}, updated {n - unique}, skipped 0, rejected 1" in out


async def test_link_orphans_cli(api, orphans_stay, mongo_uri):
    for fields in ('{topic: "A", email: "o1@example.com"}', '{topic: "B", lastName: "Two"}'):
        await api.gql(f"mutation {{ createLead(input: {fields}) {{ __typename }} }}")
    proc = _cli(["import", "link-orphans"], mongo_uri, api.db.name)
    out, errs = proc.communicate(timeout=60)
    assert proc.returncode == 0, errs
    assert "linked 2 leads: 2 marketingOnly contacts created" in out
    assert await api.db.leads.count_documents({"parentContactId": None}) == 0
    assert await api.db.contacts.count_documents({"marketingOnly": True}) == 2


async def test_find_only_lead_strategy_updates_but_never_creates(api):
    form = "partner-summit-registration"
    await api.gql(
        'mutation { createLead(input: {topic: "Summit", email: "p1@example.com", '
        f'formId: "{form}"}}) {{ __typename }} }}'
    )
    data = f"email,formId,jobTitle\np1@example.com,{form},CEO\np2@example.com,{form},CTO\n"
    out = await run(api, "LEADS", data)
    assert (out["created"], out["updated"], out["skipped"]) == (0, 1, 1), out
    assert await api.db.leads.count_documents({}) == 1
    lead = await api.db.leads.find_one({})
    assert lead["jobTitle"] == "CEO"
