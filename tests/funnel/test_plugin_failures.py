"""A partner plugin that raises never loses what the caller sent, never leaves derived data
silently stale, and is named to the caller.

The partner package (``fragile_plugin``, a ``fragile`` scoring kind that raises for leads whose
topic contains "explode") is installed in the test as pip would leave it: the package and a
``dist-info`` with its ``leadgraph`` entry point, on ``sys.path``.  A server of its own runs
the shipped rules plus a model of that kind, and lifecycle transitions on the ``created`` and
``interaction`` triggers.
"""

from __future__ import annotations

import asyncio
import importlib
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from bson import ObjectId
from click.testing import CliRunner
from conftest import Api, serving
from foundation import oid_of
from installed import install_like_pip
from leadgraph import hookimpl
from leadgraph.cli.main import cli
from leadgraph.plugin_manager import get_plugin_manager
from leadgraph.rules.manager import RulesManager
from pymongo import AsyncMongoClient
from shipped import SHIPPED

PACKAGE = Path(__file__).parent / "fragile_plugin"

FRAGILE_RULES = """\
scoring:
  - name: fragile-fit
    kind: fragile
    threshold: 100
"""

# The shipped lifecycle plus one transition for each trigger it does not use, guarded so that
# the shipped files' own tests still pass (rules whose tests fail never go live).
EXTRA_TRANSITIONS = """\
    - name: vip
      from: inquiry
      to: sales_acceptance
      on: [created]
      guard: {fact: lead.topic, op: eq, value: VIP}
    - name: clicked
      from: automated_marketing_qualification
      to: teleprospecting_acceptance
      on: [interaction]
      guard:
        all:
          - {event: {type: email_clicked, within: 1d}}
          - {fact: lead.topic, op: eq, value: steady}
"""

LEAD = """id topic stage scores { model score stale staleSince explanation { rule points } }
  scoreError { plugin hook message rulesVersion }
  scoreErrors { model plugin hook message since at rulesVersion }
  stageHistory { stage transition }"""


@pytest.fixture(scope="module")
def rules_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The partner package installed, and a rules directory using its kind."""
    work = tmp_path_factory.mktemp("fragile")
    install_like_pip(PACKAGE, work / "site")
    sys.path.insert(0, str(work / "site"))
    importlib.invalidate_caches()
    directory = work / "rules"
    shutil.copytree(SHIPPED, directory)
    (directory / "fragile.yaml").write_text(FRAGILE_RULES)
    lifecycle = directory / "lifecycle.yaml"
    text = lifecycle.read_text()
    # first in the list: the first transition a trigger takes from a stage wins
    lifecycle.write_text(
        text.replace("  transitions:\n", "  transitions:\n" + EXTRA_TRANSITIONS, 1)
    )
    try:
        yield directory
    finally:
        sys.path.remove(str(work / "site"))
        sys.modules.pop("leadgraph_fragile", None)
        importlib.invalidate_caches()


@pytest.fixture
async def fragile(
    rules_dir: Path, mongo_client: AsyncMongoClient, mongo_uri: str
) -> AsyncIterator[Api]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    async with serving(mongo_client, mongo_uri, name, rules_dir) as app:
        rules = app.state.leadgraph.rules
        assert rules.current is not None, rules.errors
        assert rules.current.registry.scoring_kinds["fragile"].plugin == "fragile"
        async with httpx.AsyncClient(timeout=60) as http:
            yield Api(base_url=app.base_url, http=http, db=mongo_client[name])
    await mongo_client.drop_database(name)


async def _contact(api: Api) -> str:
    data = await api.gql(
        """mutation($i: CreateContactInput!) { createContact(input: $i) {
           ... on ContactPayload { contact { id } } } }""",
        {"i": {"lastName": "Okafor", "email": f"{ObjectId()}@contoso.com"}},
    )
    return data["createContact"]["contact"]["id"]


async def _lead(api: Api, contact: str, topic: str) -> dict[str, Any]:
    data = await api.gql(
        f"""mutation($i: CreateLeadInput!) {{ createLead(input: $i) {{
            ... on LeadPayload {{ lead {{ {LEAD} }} pluginErrors {{ plugin hook }} }} }} }}""",
        {"i": {"topic": topic, "parentContact": contact}},
    )
    return data["createLead"]


RECORD = """mutation($i: RecordInteractionInput!) { recordInteraction(input: $i) {
  __typename
  ... on InteractionPayload { created interaction { id }
    pluginErrors { plugin hook message code } } } }"""


async def test_record_interaction_keeps_the_event_and_names_the_plugin(fragile: Api) -> None:
    contact = await _contact(fragile)
    created = await _lead(fragile, contact, "explode: platform deal")
    assert created["pluginErrors"][0]["plugin"] == "fragile"
    assert created["lead"]["scoreError"]["plugin"] == "fragile"

    payload = (await fragile.gql(RECORD, {"i": {"contact": contact, "type": "EMAIL_OPENED"}}))[
        "recordInteraction"
    ]
    assert payload["__typename"] == "InteractionPayload" and payload["created"] is True
    (error,) = payload["pluginErrors"]
    assert error["plugin"] == "fragile" and error["code"] == "PLUGIN_ERROR"
    assert "fragile" in error["hook"] and "exploded" in error["message"]
    assert await fragile.db["interactions"].count_documents({"contactId": oid_of(contact)}) == 1

    lead = (await fragile.gql(f'{{ lead(id: "{created["lead"]["id"]}") {{ {LEAD} }} }}'))["lead"]
    assert lead["scoreError"]["plugin"] == "fragile"
    assert lead["scoreError"]["rulesVersion"]
    # the failing model never scored it, and is named; the built-in model scored the open
    (failed,) = lead["scoreErrors"]
    assert failed["model"] == "fragile-fit" and failed["plugin"] == "fragile"
    scores = {s["model"]: s for s in lead["scores"]}
    assert "fragile-fit" not in scores
    assert scores["engagement"]["stale"] is False
    assert any("email opened" in e["rule"] for e in scores["engagement"]["explanation"])


async def test_one_failing_model_keeps_its_last_score_stale_and_the_others_go_on(
    fragile: Api,
) -> None:
    contact = await _contact(fragile)
    lead = (await _lead(fragile, contact, "steady deal"))["lead"]
    before = {s["model"]: s for s in lead["scores"]}
    assert before["fragile-fit"]["score"] == 1 and lead["scoreErrors"] == []
    await fragile.db["leads"].update_one(
        {"_id": oid_of(lead["id"])}, {"$set": {"topic": "explode deal"}}
    )
    query = f'{{ lead(id: "{lead["id"]}") {{ {LEAD} }} }}'
    seen = []
    for _ in range(2):  # the second failure keeps the first one's time
        payload = await fragile.gql(RECORD, {"i": {"contact": contact, "type": "EMAIL_OPENED"}})
        (error,) = payload["recordInteraction"]["pluginErrors"]
        assert error["plugin"] == "fragile" and "fragile-fit" in error["hook"]
        seen.append((await fragile.gql(query))["lead"])
    first, got = seen
    scores = {s["model"]: s for s in got["scores"]}
    assert scores["fragile-fit"]["score"] == 1 and scores["fragile-fit"]["stale"] is True
    assert scores["engagement"]["stale"] is False and scores["engagement"]["staleSince"] is None
    assert scores["engagement"]["score"] > before["engagement"]["score"]  # two opens counted
    (failed,) = got["scoreErrors"]
    assert failed["model"] == "fragile-fit" and "exploded" in failed["message"]
    assert failed["since"] == first["scoreErrors"][0]["since"]
    assert scores["fragile-fit"]["staleSince"] == failed["since"]
    assert failed["at"] != failed["since"]

    # the plugin works again for this lead: nothing is stale any more
    await fragile.db["leads"].update_one(
        {"_id": oid_of(lead["id"])}, {"$set": {"topic": "steady again"}}
    )
    rescore = "mutation($id: ID!) { rescoreLead(id: $id) { ... on LeadPayload { lead { %s } } } }"
    rescored = await fragile.gql(rescore % LEAD, {"id": lead["id"]})
    fixed = rescored["rescoreLead"]["lead"]
    assert fixed["scoreError"] is None and fixed["scoreErrors"] == []
    assert all(s["stale"] is False for s in fixed["scores"])


async def test_a_healthy_lead_of_the_same_contact_is_still_scored(fragile: Api) -> None:
    contact = await _contact(fragile)
    healthy = await _lead(fragile, contact, "steady interest")
    assert healthy["pluginErrors"] == [] and healthy["lead"]["scoreError"] is None
    await _lead(fragile, contact, "explode")
    await fragile.gql(RECORD, {"i": {"contact": contact, "type": "EMAIL_OPENED"}})
    lead = (await fragile.gql(f'{{ lead(id: "{healthy["lead"]["id"]}") {{ {LEAD} }} }}'))["lead"]
    assert lead["scoreError"] is None
    assert {s["model"]: s["score"] for s in lead["scores"]}["fragile-fit"] == 1


async def test_submit_form_stores_the_submission_exactly_once(fragile: Api) -> None:
    submit = """mutation($i: SubmitFormInput!) { submitForm(input: $i) { __typename
      ... on CapturePayload { replayed contactCreated lead { id scoreError { plugin } }
        pluginErrors { plugin } } } }"""
    args = {
        "i": {
            "formId": "landing-trial",
            "fields": {"email": "ada@contoso.com", "lastName": "Ng", "topic": "explode"},
            "idempotencyKey": "sub-1",
        }
    }
    first = (await fragile.gql(submit, args))["submitForm"]
    assert first["__typename"] == "CapturePayload" and first["contactCreated"] is True
    assert [e["plugin"] for e in first["pluginErrors"]] == ["fragile"]
    assert first["lead"]["scoreError"] == {"plugin": "fragile"}
    again = (await fragile.gql(submit, args))["submitForm"]
    assert again["replayed"] is True
    assert await fragile.db["interactions"].count_documents({}) == 1
    assert await fragile.db["contacts"].count_documents({}) == 1


async def test_rescore_lead_answers_a_typed_plugin_error(fragile: Api) -> None:
    contact = await _contact(fragile)
    lead = (await _lead(fragile, contact, "explode"))["lead"]["id"]
    data = await fragile.gql(
        f'mutation {{ rescoreLead(id: "{lead}") {{ __typename '
        "... on PluginError { plugin hook message code } } }"
    )
    got = data["rescoreLead"]
    assert got["__typename"] == "PluginError" and got["plugin"] == "fragile"
    assert got["code"] == "PLUGIN_ERROR" and "exploded" in got["message"]


async def test_import_keeps_every_row_and_reports_the_plugin(fragile: Api) -> None:
    csv = "email,lastName,topic\na@x.com,Ames,explode now\nb@x.com,Bode,steady\n"
    data = await fragile.gql(
        """mutation($i: ImportInput!) { importRecords(input: $i) { __typename
           ... on ImportSummary { created rejected pluginErrors { plugin } } } }""",
        {"i": {"kind": "LEADS", "data": csv}},
    )
    summary = data["importRecords"]
    assert summary["created"] == 2 and summary["rejected"] == 0
    assert [e["plugin"] for e in summary["pluginErrors"]] == ["fragile"]
    stale = await fragile.db["leads"].find_one({"topic": "explode now"})
    fine = await fragile.db["leads"].find_one({"topic": "steady"})
    assert stale is not None and fine is not None
    assert stale["scoreError"]["plugin"] == "fragile"
    assert fine["scoreError"] is None and fine["scores"]


async def test_rescore_command_goes_on_summarises_and_fails(
    fragile: Api, rules_dir: Path, mongo_uri: str, tmp_path: Path
) -> None:
    contact = await _contact(fragile)
    bad = (await _lead(fragile, contact, "explode"))["lead"]["id"]
    await _lead(fragile, contact, "steady one")
    await _lead(fragile, contact, "steady two")
    env = {
        "MONGODB_URI": mongo_uri,
        "LEADGRAPH_DB_NAME": fragile.db.name,
        "LEADGRAPH_RULES_DIR": str(rules_dir),
        "LEADGRAPH_DATA_DIR": str(tmp_path / "data"),
    }
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["rescore"], env=env)
    assert result.exit_code != 0
    assert "3 leads" in result.stderr and "1 failed" in result.stderr
    # sentences, not reprs; no progress bar redrawn into a non-terminal's output
    assert "The plugin fragile failed in " in result.stderr and "for 1 lead: " in result.stderr
    assert "plugin 'fragile'" not in result.stderr and "\r" not in result.stderr
    assert "━" not in result.stderr
    assert "rescore --stale" in result.stderr

    await fragile.db["leads"].update_one({"_id": oid_of(bad)}, {"$set": {"topic": "fixed"}})
    rerun = await asyncio.to_thread(CliRunner().invoke, cli, ["rescore", "--stale"], env=env)
    assert rerun.exit_code == 0, rerun.stderr
    assert "rescored 1 lead with" in rerun.stderr and "0 failed" in rerun.stderr
    fixed = await fragile.db["leads"].find_one({"_id": oid_of(bad)})
    assert fixed is not None
    assert fixed["scoreError"] is None and fixed["scores"]


async def test_created_and_interaction_triggers_fire(fragile: Api) -> None:
    contact = await _contact(fragile)
    vip = (await _lead(fragile, contact, "VIP"))["lead"]
    assert vip["stage"] == "sales_acceptance"
    assert vip["stageHistory"][-1]["transition"] == "vip"

    lead = (await _lead(fragile, contact, "steady"))["lead"]
    assert lead["stage"] == "automated_marketing_qualification"
    await fragile.db["interactions"].insert_one(
        {"contactId": oid_of(contact), "type": "email_clicked", "occurredAt": datetime.now(UTC)}
    )
    rescore = 'mutation { rescoreLead(id: "%s") { ... on LeadPayload { lead { stage } } } }'
    rescored = await fragile.gql(rescore % lead["id"])
    assert rescored["rescoreLead"]["lead"]["stage"] == "automated_marketing_qualification"
    await fragile.gql(RECORD, {"i": {"contact": contact, "type": "EMAIL_CLICKED"}})
    got = (await fragile.gql(f'{{ lead(id: "{lead["id"]}") {{ {LEAD} }} }}'))["lead"]
    assert got["stage"] == "teleprospecting_acceptance"
    assert got["stageHistory"][-1]["transition"] == "clicked"


class Misspelled:
    """A partner's plugin with a typo in a hook name."""

    @hookimpl
    def leadgraph_scoring_kind(self) -> dict[str, Any]:
        return {}


def test_a_misspelled_hook_is_an_error_at_load(tmp_path: Path) -> None:
    pm = get_plugin_manager(entry_points=False)
    pm.register(Misspelled(), name="acme-typo")
    manager = RulesManager(SHIPPED, pm)
    assert manager.reload() is False
    (error,) = manager.errors
    assert "plugin 'acme-typo'" in error.message
    assert "unknown hook 'leadgraph_scoring_kind'" in error.message
    assert "did you mean 'leadgraph_scoring_kinds'" in error.message
