"""Issue 11 point 1: every change of a lead's scores, sales-ready flag or stage is recorded
(time, rules version, cause, explanation delta), compactly, and paged by
``Lead.scoreHistory``."""

from __future__ import annotations

from datetime import UTC, datetime

from bson import ObjectId
from foundation import create_contact, create_lead, gid, oid_of

CHANGE = """at model rulesVersion fields score scoreBefore grade gradeBefore
    salesReady salesReadyBefore
    stage stageBefore transitions
    cause { kind by reason interaction { id type } }
    explanation { rule before after }"""

HISTORY = f"""query($id: ID!, $model: String, $n: Int, $c: String) {{ lead(id: $id) {{
    scoreHistory(model: $model, first: $n, after: $c) {{
      totalCount pageInfo {{ hasNextPage endCursor }} nodes {{ {CHANGE} }} }} }} }}"""

RECORD = """mutation($i: RecordInteractionInput!) { recordInteraction(input: $i) {
    ... on InteractionPayload { interaction { id } created } } }"""


async def history(api, lead: str, model: str | None = None) -> list[dict]:
    data = await api.gql(HISTORY, {"id": lead, "model": model, "n": 100})
    return data["lead"]["scoreHistory"]["nodes"]


async def engaged_lead(api) -> tuple[str, str]:
    """A decision maker's lead (20 + 10 + 10 - 10 points from who they are: 30), no
    interactions."""
    account = await api.db["accounts"].insert_one(
        {"name": "Contoso", "numberOfEmployees": 1200, "createdAt": datetime.now(UTC)}
    )
    contact = await create_contact(
        api,
        lastName="Moreau",
        email=f"{ObjectId()}@contoso.com",
        role="DECISION_MAKER",
        jobTitle="Director of IT",
        account=gid("Account", account.inserted_id),
    )
    lead = await create_lead(api, topic="Contoso Ltd Conference", parentContact=contact)
    return contact, lead["id"]


async def record(api, contact: str, kind: str = "EMAIL_CLICKED") -> str:
    data = await api.gql(RECORD, {"i": {"contact": contact, "type": kind}})
    assert data["recordInteraction"]["created"] is True
    return str(data["recordInteraction"]["interaction"]["id"])


async def test_an_interaction_a_rescore_and_a_hand_edit_are_recorded(api):
    contact, lead = await engaged_lead(api)
    created = await history(api, lead)
    # created: scored 30 (four rules), and moved from inquiry to automated qualification
    assert [(c["model"], c["cause"]["kind"]) for c in created] == [
        ("engagement", "CREATED"),
        (None, "CREATED"),
    ]
    # the shipped model grades too: a decision maker at a company of 1,200 is an A
    assert created[0]["fields"] == ["score", "salesReady", "grade", "gradeReason"]
    assert (created[0]["scoreBefore"], created[0]["score"]) == (None, 30)
    assert (created[0]["gradeBefore"], created[0]["grade"]) == (None, "A")
    assert {d["rule"]: (d["before"], d["after"]) for d in created[0]["explanation"]} == {
        "decision maker": (None, 20),
        "senior job title": (None, 10),
        "company of 250 or more": (None, 10),
        "no bulk email allowed": (None, -10),
    }
    assert created[1]["stageBefore"] == "inquiry"
    assert created[1]["stage"] == "automated_marketing_qualification"
    assert created[1]["transitions"] == ["scored"]
    version = (await api.gql("{ rulesStatus { version } }"))["rulesStatus"]["version"]
    assert {c["rulesVersion"] for c in created} == {version}

    # an interaction: the entry names it, and only the rule whose points changed
    clicked = await record(api, contact)
    after_click = await history(api, lead)
    assert len(after_click) == 3
    change = after_click[-1]
    assert change["model"] == "engagement"
    assert change["cause"]["kind"] == "INTERACTION"
    assert change["cause"]["interaction"] == {"id": clicked, "type": "EMAIL_CLICKED"}
    assert (change["scoreBefore"], change["score"]) == (30, 40)
    assert change["fields"] == ["score"]  # still under the threshold: salesReady unchanged
    assert change["explanation"] == [
        {"rule": "email link clicked (10 each, last 30 days)", "before": None, "after": 10}
    ]

    # a rescore that changes nothing, and an interaction worth no points: no entry
    rescored = await api.gql(
        f'mutation {{ rescoreLead(id: "{lead}") {{ ... on LeadPayload {{ lead {{ id }} }} }} }}'
    )
    assert rescored["rescoreLead"]["lead"]["id"] == lead
    await record(api, contact, "WEBSITE_VISITED")
    assert await history(api, lead) == after_click

    # a hand edit: who decided, the flag, and the move it triggers
    marked = await api.gql(
        f'mutation {{ markSalesReady(id: "{lead}") {{ ... on LeadPayload {{ lead {{ stage }} }} '
        "} }"
    )
    assert marked["markSalesReady"]["lead"]["stage"] == "sales_acceptance"
    hand = (await history(api, lead))[-1]
    assert hand["model"] is None
    assert hand["cause"] == {
        "kind": "HAND",
        "by": "test admin",
        "reason": None,
        "interaction": None,
    }
    assert hand["fields"] == ["stage", "salesReady", "salesReadyBy"]
    assert (hand["salesReadyBefore"], hand["salesReady"]) == (False, True)
    assert (hand["stageBefore"], hand["stage"]) == (
        "automated_marketing_qualification",
        "sales_acceptance",
    )
    assert hand["transitions"] == ["sales_ready"]

    moved = await api.gql(
        f'mutation {{ moveLeadStage(id: "{lead}", to: "send_back_to_marketing", '
        f'reason: "no budget yet") {{ ... on LeadPayload {{ lead {{ stage }} }} }} }}'
    )
    assert moved["moveLeadStage"]["lead"]["stage"] == "automated_marketing_qualification"
    back = (await history(api, lead))[-1]
    assert back["cause"] == {
        "kind": "HAND",
        "by": "test admin",
        "reason": "no budget yet",
        "interaction": None,
    }
    assert back["transitions"] == ["send_back_to_marketing"]
    assert (back["salesReadyBefore"], back["salesReady"]) == (True, False)

    # one model's changes only
    only = await history(api, lead, model="engagement")
    assert [c["cause"]["kind"] for c in only] == ["CREATED", "INTERACTION"]
    assert await history(api, lead, model="no such model") == []

    # stored compactly: one document per changed model or lead-level change, no more
    stored = await api.db["lead_history"].count_documents({"leadId": oid_of(lead)})
    assert stored == len(await history(api, lead)) == 5


async def test_the_history_pages_with_cursors(api):
    contact, lead = await engaged_lead(api)
    for kind in ["EMAIL_OPENED"] * 4:
        await record(api, contact, kind)
    everything = await history(api, lead)
    assert len(everything) == 6  # created (model + stage), four opens of 5 points each
    assert [c["score"] for c in everything if c["model"]] == [30, 35, 40, 45, 50]

    seen: list[dict] = []
    cursor = None
    while True:
        data = await api.gql(HISTORY, {"id": lead, "n": 4, "c": cursor})
        page = data["lead"]["scoreHistory"]
        assert page["totalCount"] == 6
        seen += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        cursor = page["pageInfo"]["endCursor"]
    assert seen == everything
    # oldest first
    assert [c["at"] for c in seen] == sorted(c["at"] for c in seen)

    bad = await api.post(HISTORY, {"id": lead, "n": 4, "c": "not-a-cursor"})
    body = bad.json()
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    too_many = await api.post(HISTORY, {"id": lead, "n": 1000})
    assert too_many.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_deleted_lead_takes_its_history_along(api):
    contact, lead = await engaged_lead(api)
    await record(api, contact)
    assert await api.db["lead_history"].count_documents({"leadId": oid_of(lead)}) == 3
    deleted = await api.gql(
        f'mutation {{ deleteLead(id: "{lead}") {{ ... on DeletePayload {{ deletedId }} }} }}'
    )
    assert deleted["deleteLead"]["deletedId"] == lead
    assert await api.db["lead_history"].count_documents({"leadId": oid_of(lead)}) == 0
