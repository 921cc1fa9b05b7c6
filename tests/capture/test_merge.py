"""mergeContacts / undoMerge / duplicateCandidates through GraphQL over HTTP."""

from __future__ import annotations

from foundation import create_lists

from .helpers import submit

CREATE = """
mutation($input: CreateContactInput!) {
  createContact(input: $input) { ... on ContactPayload { contact { id } } }
}
"""
MERGE = """
mutation($s: ID!, $d: [ID!]!) {
  mergeContacts(survivorId: $s, duplicateIds: $d) {
    __typename
    ... on MergePayload {
      contact { id email phone subscriptions marketingOnly
        insights { total counts { type count } }
        leads { totalCount } interactions { totalCount } }
      merge { id filledFields duplicateIds }
    }
    ... on Error { message }
  }
}
"""
UNDO = """
mutation($m: String!) {
  undoMerge(mergeId: $m) {
    __typename
    ... on UndoMergePayload {
      contact { id phone subscriptions insights { total } leads { totalCount } }
      restored { id email phone insights { total } leads { totalCount }
        interactions { totalCount } }
    }
    ... on Error { message }
  }
}
"""
CANDIDATES = "{ duplicateCandidates { reason key contacts { id } } }"


async def _contact(api, **fields):
    data = await api.gql(CREATE, {"input": fields})
    return data["createContact"]["contact"]["id"]


async def _interaction(api, contact_id, kind="EMAIL_OPENED"):
    await api.gql(
        "mutation($c: ID!, $t: InteractionType!) { recordInteraction(input: "
        "{contact: $c, type: $t}) { __typename } }",
        {"c": contact_id, "t": kind},
    )


async def test_merge_moves_records_fills_fields_and_undo_restores(api):
    await create_lists(api, "s1", "s2")
    first = await submit(
        api, "f1", {"email": "ana@example.com", "firstName": "Ana", "lastName": "Lee"}
    )
    survivor = first["contact"]["id"]
    await api.gql(
        'mutation($c: ID!) { updateContact(input: {id: $c, subscriptions: ["s1"]}) '
        "{ __typename } }",
        {"c": survivor},
    )
    dup1 = await _contact(
        api,
        email="ANA@example.com",
        firstName="Ana",
        lastName="Lee",
        phone="+1 555 0100",
        subscriptions=["s2"],
    )
    dup2 = await _contact(api, firstName="Ana", lastName="Lee", phone="+1 (555) 0100")
    await _interaction(api, dup1)
    await _interaction(api, dup2, "WEBSITE_VISITED")
    await api.gql(
        'mutation($c: ID!) { createLead(input: {topic: "Old", parentContact: $c}) { __typename } }',
        {"c": dup1},
    )

    groups = (await api.gql(CANDIDATES))["duplicateCandidates"]
    by_reason = {g["reason"]: {c["id"] for c in g["contacts"]} for g in groups}
    assert by_reason["MATCHING_STRATEGY"] == {survivor, dup1}
    assert by_reason["NAME_PHONE"] == {dup1, dup2}

    out = (await api.gql(MERGE, {"s": survivor, "d": [dup1, dup2]}))["mergeContacts"]
    assert out["__typename"] == "MergePayload", out
    merged = out["contact"]
    assert merged["phone"] == "+1 (555) 0100"  # phone: newest
    assert merged["subscriptions"] == ["s1", "s2"]  # union
    assert merged["email"] == "ana@example.com"  # survivor keeps its own
    assert merged["leads"]["totalCount"] == 2
    # 3 engagements + the 2 consent_changed records of setting s1 and s2 (not in insights)
    assert merged["interactions"]["totalCount"] == 5
    assert merged["insights"]["total"] == 3
    assert set(out["merge"]["filledFields"]) == {"phone", "subscriptions"}
    assert await api.db.contacts.count_documents({}) == 1
    assert (await api.gql(CANDIDATES))["duplicateCandidates"] == []

    again = await submit(api, "f2", {"email": "ana@example.com"})
    assert again["contact"]["id"] == survivor

    undo = (await api.gql(UNDO, {"m": out["merge"]["id"]}))["undoMerge"]
    assert undo["__typename"] == "UndoMergePayload", undo
    assert undo["contact"]["phone"] is None
    assert undo["contact"]["subscriptions"] == ["s1"]
    assert undo["contact"]["insights"]["total"] == 2  # f1 + f2 submissions
    assert undo["contact"]["leads"]["totalCount"] == 2  # f1 and f2 leads
    restored = {c["id"]: c for c in undo["restored"]}
    assert set(restored) == {dup1, dup2}
    assert restored[dup1]["leads"]["totalCount"] == 1
    assert restored[dup1]["interactions"]["totalCount"] == 2  # + its consent_changed (s2)
    assert restored[dup1]["insights"]["total"] == 1
    assert restored[dup2]["interactions"]["totalCount"] == 1

    twice = (await api.gql(UNDO, {"m": out["merge"]["id"]}))["undoMerge"]
    assert twice["__typename"] == "ConflictError"


async def test_merge_errors(api):
    a = await _contact(api, email="a@example.com")
    out = (await api.gql(MERGE, {"s": a, "d": [a]}))["mergeContacts"]
    assert out["__typename"] == "ValidationError"
    missing = "Q29udGFjdDo2NTAwMDAwMDAwMDAwMDAwMDAwMDAwMDA="  # Contact:6500...
    out = (await api.gql(MERGE, {"s": a, "d": [missing]}))["mergeContacts"]
    assert out["__typename"] in ("NotFoundError", "ValidationError")
    b = await _contact(api, email="b@example.com")
    out = (await api.gql(MERGE, {"s": a, "d": [b]}, role="sales"))["mergeContacts"]
    assert out["__typename"] == "ForbiddenError"
