"""Issue 20 point 14 on a server of its own rules directory: required fields and defaults,
custom fields in scoring and segment conditions, a reload that adds a field (the schema
follows at once), and the refusal to drop a field records hold unless it is retired."""

from __future__ import annotations

from pathlib import Path

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from .live import live_server, reload_rules

FIELDS = """fields:
  contact:
    - name: tier
      type: enum
      values: [gold, silver]
      indexed: true
    - name: region
      type: string
      required: true
      default: emea
    - name: owner
      type: string
      required: true
      label: Account owner
  lead:
    - name: budget
      type: number
"""
TIER = """    - name: tier
      type: enum
      values: [gold, silver]
      indexed: true
"""
NPS = """    - name: nps
      type: number
      label: Net promoter score
"""
SCORING = """scoring:
  - name: fit
    threshold: 50
    rules:
      - {name: big budget, points: 40, when: {fact: lead.custom.budget, op: gte, value: 10000}}
      - {name: gold, points: 30, when: {fact: contact.custom.tier, op: eq, value: gold}}
    grades:
      - {grade: A, when: {fact: contact.custom.tier, op: eq, value: gold}}
      - {grade: C}
segments:
  - name: gold_contacts
    where: {fact: contact.custom.tier, op: eq, value: gold}
"""
ERRORS = "... on ValidationError { fields { field message } }"
CREATE = f"""mutation($i: CreateContactInput!) {{ createContact(input: $i) {{ __typename
    ... on ContactPayload {{ contact {{ id custom {{ tier region owner }} }} }} {ERRORS} }} }}"""
CREATE_LEAD = f"""mutation($i: CreateLeadInput!) {{ createLead(input: $i) {{ __typename
    ... on LeadPayload {{ lead {{ id scores {{ model score grade }} }} }} {ERRORS} }} }}"""
NPS_OF = """query($id: ID!) { node(id: $id) { ... on Contact { custom { nps } } } }"""


#: the scoring without what reads contact.custom.tier (a condition on a field the rules do not
#: declare is an error of its own)
BUDGET_ONLY = """scoring:
  - name: fit
    threshold: 50
    rules:
      - {name: big budget, points: 40, when: {fact: lead.custom.budget, op: gte, value: 10000}}
"""


def write(directory: Path, fields: str, scoring: str = SCORING) -> None:
    (directory / "fields.yaml").write_text(fields)
    (directory / "scoring.yaml").write_text(scoring)
    (directory / "lifecycle.yaml").write_text(
        "lifecycle:\n  name: small\n  initial: inquiry\n  stages:\n    - name: inquiry\n"
    )


async def test_required_default_scoring_segments_reload_and_removal(
    tmp_path: Path, db: AsyncDatabase, mongo_client: AsyncMongoClient, mongo_uri: str
) -> None:
    directory = tmp_path / "rules"
    directory.mkdir()
    write(directory, FIELDS)
    async with live_server(
        directory, db, mongo_client, mongo_uri, rescore_on_rules_change=False
    ) as (api, state):
        # required without a default: refused, nothing written; with one: filled in
        missing = (await api.gql(CREATE, {"i": {"email": "a@x.com"}}))["createContact"]
        assert missing == {
            "__typename": "ValidationError",
            "fields": [{"field": "input.custom.owner", "message": "is required"}],
        }
        assert await db.contacts.count_documents({}) == 0
        made = (
            await api.gql(
                CREATE, {"i": {"email": "a@x.com", "custom": {"owner": "kim", "tier": "gold"}}}
            )
        )["createContact"]
        assert made["contact"]["custom"] == {"tier": "gold", "region": "emea", "owner": "kim"}
        cid = made["contact"]["id"]
        cleared = await api.gql(
            """mutation($i: UpdateContactInput!) { updateContact(input: $i) { __typename
            ... on ValidationError { fields { field message } } } }""",
            {"i": {"id": cid, "custom": {"region": None}}},
        )
        assert cleared["updateContact"]["fields"] == [
            {"field": "input.custom.region", "message": "is required"}
        ]

        # a form's and an import's new contacts get the defaults too
        submit = """mutation($i: SubmitFormInput!) { submitForm(input: $i) { __typename } }"""
        given = {"email": "form@x.com", "custom": {"owner": "kim"}}
        await api.gql(submit, {"i": {"formId": "f", "fields": given}})
        rows = "email,Account owner\nimp@x.com,lou\n"
        await api.gql(
            """mutation($i: ImportInput!) { importRecords(input: $i) { __typename } }""",
            {"i": {"kind": "CONTACTS", "data": rows}},
        )
        for email, custom in (
            ("form@x.com", {"region": "emea", "owner": "kim"}),
            ("imp@x.com", {"region": "emea", "owner": "lou"}),
        ):
            stored = await db.contacts.find_one({"email": email})
            assert stored is not None and stored["custom"] == custom

        # scoring and grades read contact.custom / lead.custom; the segment too
        lead = (
            await api.gql(
                CREATE_LEAD,
                {"i": {"topic": "t", "parentContact": cid, "custom": {"budget": 20000}}},
            )
        )["createLead"]
        assert lead["lead"]["scores"] == [{"model": "fit", "score": 70.0, "grade": "A"}]
        members = await api.gql("""{ segment(name: "gold_contacts") { memberCount } }""")
        assert members["segment"]["memberCount"] == 1

        # a reload adding a field: the typed field is there as soon as the reload answers
        before = await api.post(NPS_OF, {"id": cid})
        assert "Cannot query field 'nps'" in before.text
        old_schema = state.schema
        write(directory, FIELDS.replace("  lead:\n", NPS + "  lead:\n"))
        added = await reload_rules(api)
        assert added["errors"] == []
        assert state.schema is not old_schema
        await api.gql(
            """mutation($i: UpdateContactInput!) { updateContact(input: $i) {
            __typename } }""",
            {"i": {"id": cid, "custom": {"nps": 9}}},
        )
        assert (await api.gql(NPS_OF, {"id": cid}))["node"]["custom"] == {"nps": 9.0}

        # dropping tier, which a contact holds: refused, the rules and schema stay
        with_nps = FIELDS.replace("  lead:\n", NPS + "  lead:\n")
        write(directory, with_nps.replace(TIER, ""), BUDGET_ONLY)
        refused = await reload_rules(api)
        assert refused["version"] == added["version"]
        assert refused["errors"] == [
            {
                "file": "fields.yaml",
                "line": 1,
                "column": 1,
                "message": "custom field contact.tier is removed but 1 contact(s) hold a value "
                "of it; keep it, or retire it (`retired: true` on the field: the values are "
                "kept, the API no longer shows nor writes them)",
            }
        ]
        assert state.schema is not old_schema and "tier" in state.schema.as_str()
        # retired: accepted; the field leaves the schema, the stored value stays
        write(directory, with_nps.replace(TIER, TIER + "      retired: true\n"), BUDGET_ONLY)
        retired = await reload_rules(api)
        assert retired["errors"] == [], retired
        gone = await api.post(
            """query($id: ID!) { node(id: $id) { ... on Contact {
            custom { tier } } } }""",
            {"id": cid},
        )
        assert "Cannot query field 'tier'" in gone.text
        stored = await db.contacts.find_one({})
        assert stored is not None and stored["custom"]["tier"] == "gold"
        listed = await api.gql(
            "{ customFields(entity: CONTACT, includeRetired: true) { name retired } }"
        )
        assert {"name": "tier", "retired": True} in listed["customFields"]
