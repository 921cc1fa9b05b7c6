"""Issue 20 points 14 and 7, the gaps: required custom fields on forms and imports (new records
only, no partial write) and defaults on every road; custom fields as matching keys; custom
fields in merges; enum values checked in conditions; the removal check at start-up and in
``rules check``; ``contactType`` on forms and imports; rule-file tests expecting an owner."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from leadgraph.cli.main import cli
from leadgraph.cli.rules import rules
from leadgraph.rules.fields import CustomField
from leadgraph.rules.models import MatchingDefaults, Strategy
from pymongo import AsyncMongoClient, MongoClient
from pymongo.asynchronous.database import AsyncDatabase
from rules.helpers import copy_rules
from rules.live import live_server, rules_status

SUBMIT = """mutation($i: SubmitFormInput!) { submitForm(input: $i) { __typename
    ... on CapturePayload { contact { id contactType custom { tier } } lead { id } }
    ... on ValidationError { fields { field message } } } }"""
IMPORT = """mutation($i: ImportInput!) { importRecords(input: $i) { __typename
    ... on ImportSummary { created updated rejected rejectedRows { line reason } } } }"""


@pytest.fixture
def swapped(server: Any, api: Any) -> Iterator[Any]:
    """``swap(**changes)``: the live rules with ``changes`` (custom fields, matching) for the
    test; the shipped ones again after it."""
    manager = server.state.leadgraph.rules
    live = manager.current

    def swap(**changes: Any) -> None:
        manager.current = replace(live, **changes)

    try:
        yield swap
    finally:
        manager.current = live


def with_fields(live: Any, **more: list[CustomField]) -> Any:
    fields = live.custom_fields
    update = {e: [*fields.of(e, retired=True), *extra] for e, extra in more.items()}
    return fields.model_copy(update=update)


async def submit(api: Any, fields: dict[str, Any]) -> dict[str, Any]:
    out = await api.gql(SUBMIT, {"i": {"formId": "f1", "fields": fields}})
    return dict(out["submitForm"])


async def test_required_custom_fields_on_forms_and_imports_and_defaults_everywhere(
    api: Any, server: Any, swapped: Any
) -> None:
    live = server.state.leadgraph.rules.current
    region = CustomField(name="region", label="Region", required=True)
    source = CustomField(name="origin", default="web")
    swapped(custom_fields=with_fields(live, contact=[region], lead=[source]))

    # a new contact without it: refused, nothing written (no contact, key or pending note)
    out = await submit(api, {"email": "new@x.com"})
    assert out == {
        "__typename": "ValidationError",
        "fields": [
            {"field": "input.fields.custom.region", "message": "is required for a new contact"}
        ],
    }
    for name in ("contacts", "leads", "match_keys", "pending_captures"):
        assert await api.db[name].count_documents({}) == 0, name
    assert await api.db.events.count_documents({"type": {"$ne": "rules.version_live"}}) == 0
    made = await submit(api, {"email": "new@x.com", "custom": {"region": "north"}})
    assert made["__typename"] == "CapturePayload", made
    lead = await api.db.leads.find_one({})
    assert lead["custom"] == {"origin": "web"}  # a lead's default, on the form's road
    # the same person again need not resend it: the contact exists
    again = await submit(api, {"email": "new@x.com", "topic": "other"})
    assert again["__typename"] == "CapturePayload", again

    rows = "email,Region\nnew@x.com,\nnobody@x.com,\nok@x.com,south\n"
    summary = (await api.gql(IMPORT, {"i": {"kind": "CONTACTS", "data": rows}}))["importRecords"]
    assert (summary["created"], summary["updated"], summary["rejected"]) == (1, 1, 1), summary
    assert summary["rejectedRows"] == [
        {"line": 3, "reason": "custom.region (Region): required for a new contact"}
    ]
    assert await api.db.contacts.count_documents({"email": "nobody@x.com"}) == 0
    leads = "email,topic\nimported@x.com,demo\n"
    await api.gql(IMPORT, {"i": {"kind": "LEADS", "data": leads}})
    imported = await api.db.leads.find_one({"email": "imported@x.com"})
    assert imported["custom"] == {"origin": "web"}  # the import's road


async def test_a_matching_strategy_compares_a_custom_field(
    api: Any, server: Any, swapped: Any
) -> None:
    live = server.state.leadgraph.rules.current
    crm = CustomField(name="crmId", indexed=True)
    by_crm = Strategy(name="contact-crm", entity="contact", fields=["contact.custom.crmId"])
    matching = live.matching.model_copy(
        update={
            "strategies": [by_crm, *live.matching.strategies],
            "defaults": MatchingDefaults(contact="contact-crm", lead="lead-email-form"),
        }
    )
    swapped(custom_fields=with_fields(live, contact=[crm]), matching=matching)

    first = await submit(api, {"email": "a@x.com", "custom": {"crmId": " AB-12 "}})
    second = await submit(api, {"email": "b@x.com", "custom": {"crmId": "AB-12"}})
    assert first["contact"]["id"] == second["contact"]["id"]  # normalised: trimmed
    missing = await submit(api, {"email": "c@x.com"})
    assert missing["fields"] == [
        {
            "field": "input.fields.custom.crmId",
            "message": "is required by the contact matching strategy contact-crm",
        }
    ]
    rows = "email,crmId\nthird@x.com,AB-12\nfourth@x.com,ZZ-9\n"
    summary = (await api.gql(IMPORT, {"i": {"kind": "CONTACTS", "data": rows}}))["importRecords"]
    assert (summary["created"], summary["updated"]) == (1, 1), summary
    assert await api.db.contacts.count_documents({}) == 2


def write_rules(directory: Path, **files: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / f"{name}.yaml").write_text(text)
    return directory


FIELDS = """fields:
  contact:
    - {name: tier, type: enum, values: [gold, silver], indexed: true}
    - {name: crmId, type: string}
"""
MATCHING = """matching:
  strategies:
    - {name: by-crm, entity: contact, fields: [contact.custom.crmId]}
    - {name: by-tier, entity: contact, fields: [contact.custom.tier]}
    - {name: by-nothing, entity: contact, fields: [contact.custom.nope]}
    - {name: lead-email, entity: lead, fields: [email, contact.custom.tier]}
  defaults: {contact: by-tier, lead: lead-email}
"""
CONDITIONS = """segments:
  - name: gold
    where: {fact: contact.custom.tier, op: in, value: [gold, gld]}
scoring:
  - name: fit
    threshold: 50
    rules:
      - {name: tier, points: 10, when: {fact: contact.custom.tier, op: eq, value: bronze}}
"""


def check(directory: Path, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(
        cli, ["rules", "check", str(directory)], env=env or {"MONGODB_URI": ""}
    )


def test_rules_check_refuses_bad_custom_keys_and_unknown_enum_values(tmp_path: Path) -> None:
    directory = write_rules(
        tmp_path / "rules", fields=FIELDS, matching=MATCHING, conditions=CONDITIONS
    )
    result = check(directory)
    assert result.exit_code == 1, result.output
    out = result.output
    assert (
        "matching.yaml:3:48: custom field 'contact.custom.crmId' is not indexed "
        "(`indexed: true`); indexed: tier"
    ) in out, out
    assert (
        "matching.yaml:5:52: custom field 'contact.custom.nope' is not declared; "
        "indexed contact fields: tier"
    ) in out, out
    assert "matching.yaml:6:56: a lead strategy compares lead fields, not " in out, out
    assert (
        "conditions.yaml:3:62: unknown contact.custom.tier value 'gld'; did you mean 'gold'? "
        "expected one of: gold, silver"
    ) in out, out
    assert "conditions.yaml:8:83: unknown contact.custom.tier value 'bronze'" in out, out
    assert "4 error(s)" not in out and "5 error(s)" in out, out


PREVIEW = """query($d: SegmentInput!) { previewSegment(definition: $d) { count } }"""


async def test_an_unknown_enum_value_in_an_api_segment_is_refused(api: Any) -> None:
    where = {"fact": "contact.custom.tier", "op": "eq", "value": "gld"}
    response = await api.post(PREVIEW, {"d": {"name": "x", "where": where}})
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert "unknown contact.custom.tier value 'gld'; did you mean 'gold'?" in str(error)


CREATE = """mutation($i: CreateContactInput!) { createContact(input: $i) {
    ... on ContactPayload { contact { id } } } }"""
MERGE = """mutation($s: ID!, $d: [ID!]!) { mergeContacts(survivorId: $s, duplicateIds: $d) {
    __typename ... on MergePayload { contact { custom { tier linkedinUrl interests } } } } }"""


async def test_a_merge_keeps_the_survivors_custom_values_and_unites_multi_enums(
    api: Any,
) -> None:
    async def contact(email: str, custom: dict[str, Any]) -> str:
        made = await api.gql(CREATE, {"i": {"email": email, "custom": custom}})
        return str(made["createContact"]["contact"]["id"])

    survivor = await contact("s@x.com", {"tier": "gold", "interests": ["cloud"]})
    dup = await contact(
        "d@x.com", {"tier": "silver", "interests": ["security"], "linkedinUrl": "li/d"}
    )
    out = (await api.gql(MERGE, {"s": survivor, "d": [dup]}))["mergeContacts"]
    assert out["contact"]["custom"] == {
        "tier": "gold",  # the survivor's
        "linkedinUrl": "li/d",  # the survivor had none
        "interests": ["cloud", "security"],  # a multi-enum: both
    }
    event = await api.db.events.find_one({"type": "contact.merged"})
    changed = {c["field"]: (c["old"], c["new"]) for c in event["changes"]}
    assert changed["custom.interests"] == (["cloud"], ["cloud", "security"])
    assert changed["custom.linkedinUrl"] == (None, "li/d")
    assert "custom.tier" not in changed


def test_rules_check_refuses_rules_dropping_a_field_the_database_holds(
    tmp_path: Path, mongo_uri: str
) -> None:
    name = f"cli_{uuid.uuid4().hex[:12]}"
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri, tz_aware=True)
    try:
        client[name].contacts.insert_one({"email": "a@x.com", "custom": {"nickname": "Al"}})
        env = {
            "MONGODB_URI": mongo_uri,
            "LEADGRAPH_DB_NAME": name,
            "LEADGRAPH_DATA_DIR": str(tmp_path / "data"),
        }
        directory = write_rules(tmp_path / "rules", fields=FIELDS)
        result = check(directory, env)
        assert result.exit_code == 1, result.output
        assert (
            "fields.yaml:1:1: custom field contact.nickname is removed but 1 contact(s) hold "
            "a value of it" in result.output
        )
        retired = FIELDS + "    - {name: nickname, retired: true}\n"
        write_rules(directory, fields=retired)
        result = check(directory, env)
        assert result.exit_code == 0, result.output
        assert "and the custom fields its records hold" in result.output
    finally:
        client.drop_database(name)
        client.close()


LIFECYCLE = "lifecycle:\n  name: small\n  initial: inquiry\n  stages:\n    - name: inquiry\n"


async def test_start_up_refuses_rules_dropping_a_field_records_hold(
    tmp_path: Path, db: AsyncDatabase, mongo_client: AsyncMongoClient, mongo_uri: str
) -> None:
    await db.leads.insert_one({"topic": "t", "stage": "inquiry", "custom": {"score2": 3}})
    directory = write_rules(
        tmp_path / "rules",
        lifecycle=LIFECYCLE,
        fields=FIELDS,
    )
    async with live_server(directory, db, mongo_client, mongo_uri) as (api, _state):
        status = await rules_status(api)
        assert status["version"] is None  # nothing was loaded
        assert [(e["file"], e["message"][:54]) for e in status["errors"]] == [
            ("fields.yaml", "custom field lead.score2 is removed but 1 lead(s) hold")
        ]


async def test_contact_type_on_forms_and_imports(api: Any) -> None:
    made = await submit(api, {"email": "p@x.com", "contactType": "partner"})
    assert made["contact"]["contactType"] == "partner"
    bad = await submit(api, {"email": "q@x.com", "contactType": "alien"})
    [error] = bad["fields"]
    assert error["field"] == "input.fields.contactType"
    assert error["message"].startswith("unknown contact type 'alien'; expected one of: customer")
    assert await api.db.contacts.count_documents({"email": "q@x.com"}) == 0
    rows = "email,Contact type\ns@x.com,speaker\nt@x.com,alien\n"
    summary = (await api.gql(IMPORT, {"i": {"kind": "CONTACTS", "data": rows}}))["importRecords"]
    assert (summary["created"], summary["rejected"]) == (1, 1), summary
    assert summary["rejectedRows"][0]["reason"].startswith("contactType: 'alien' is not one of")
    stored = await api.db.contacts.find_one({"email": "s@x.com"})
    assert stored["contactType"] == "speaker"


ASSIGNMENT = """\
  assignment:
    - name: referrals
      when: created
      where: {fact: lead.topic, value: Partner referral}
      owner: Pat
    - name: fairs
      when: created
      where: {fact: lead.topic, value: Trade fair}
      round_robin: [Ann, Bob]
"""
OWNER_TESTS = """tests:
  - name: a referral goes to Pat
    trigger: created
    given: {lead: {topic: Partner referral}}
    expect: {owner: Pat}
  - name: a fair lead goes to the first in turn
    trigger: created
    given: {lead: {topic: Trade fair}}
    expect: {owner: {who}}
  - name: anything else stays unowned
    trigger: created
    given: {lead: {topic: Webinar}}
    expect: {owner: null}
"""


def test_rule_tests_expect_the_owner_assignment_rules_give(tmp_path: Path) -> None:
    directory = copy_rules(tmp_path / "rules")
    lifecycle = directory / "lifecycle.yaml"
    anchor = "  accept_at: sales_acceptance\n"
    lifecycle.write_text(lifecycle.read_text().replace(anchor, anchor + ASSIGNMENT))
    (directory / "owners.yaml").write_text(OWNER_TESTS.replace("{who}", "Ann"))
    result = CliRunner().invoke(rules, ["test", str(directory)])
    assert result.exit_code == 0, result.output
    assert "PASS owners.yaml :: a fair lead goes to the first in turn" in result.output
    (directory / "owners.yaml").write_text(OWNER_TESTS.replace("{who}", "Bob"))
    result = CliRunner().invoke(rules, ["test", str(directory)])
    assert result.exit_code != 0
    assert "owner: expected 'Bob', got 'Ann'" in result.output
