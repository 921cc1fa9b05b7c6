"""Single records by global id: contact/account/lead/node/nodes, wrong-type and garbage ids."""

from __future__ import annotations

import base64

import pytest
from bson import ObjectId
from foundation import gid
from leadgraph.services.seed import seed_demo


@pytest.fixture
async def demo(api):
    await seed_demo(api.db, n_contacts=10, interactions_per_contact=2)
    return api


async def test_each_root_field_and_node_return_the_record(demo):
    db = demo.db
    contact = await db.contacts.find_one({"accountId": {"$ne": None}})
    account = await db.accounts.find_one({"_id": contact["accountId"]})
    lead = await db.leads.find_one({})
    interaction = await db.interactions.find_one({})
    q = """query($c: ID!, $a: ID!, $l: ID!, $i: ID!) {
      contact(id: $c) { id email firstName lastName }
      account(id: $a) { id name domain }
      lead(id: $l) { id topic stage }
      c: node(id: $c) { __typename id ... on Contact { email } }
      a: node(id: $a) { __typename ... on Account { name } }
      l: node(id: $l) { __typename ... on Lead { topic } }
      i: node(id: $i) { __typename ... on Interaction { type contact { id } } }
      nodes(ids: [$l, $c]) { __typename id }
    }"""
    ids = {
        "c": gid("Contact", contact["_id"]),
        "a": gid("Account", account["_id"]),
        "l": gid("Lead", lead["_id"]),
        "i": gid("Interaction", interaction["_id"]),
    }
    data = await demo.gql(q, ids)
    assert data["contact"] == {
        "id": ids["c"],
        "email": contact["email"],
        "firstName": contact["firstName"],
        "lastName": contact["lastName"],
    }
    assert data["account"] == {"id": ids["a"], "name": account["name"], "domain": account["domain"]}
    assert data["lead"] == {"id": ids["l"], "topic": lead["topic"], "stage": "inquiry"}
    assert data["c"] == {"__typename": "Contact", "id": ids["c"], "email": contact["email"]}
    assert data["a"] == {"__typename": "Account", "name": account["name"]}
    assert data["l"] == {"__typename": "Lead", "topic": lead["topic"]}
    assert data["i"]["__typename"] == "Interaction"
    assert data["i"]["type"] == interaction["type"].upper()
    assert data["i"]["contact"]["id"] == gid("Contact", interaction["contactId"])
    assert data["nodes"] == [
        {"__typename": "Lead", "id": ids["l"]},
        {"__typename": "Contact", "id": ids["c"]},
    ]


async def test_unknown_ids_are_null(demo):
    missing = ObjectId()
    q = """query($c: ID!, $a: ID!, $l: ID!) {
      contact(id: $c) { id } account(id: $a) { id } lead(id: $l) { id } node(id: $c) { id }
      nodes(ids: [$c, $a]) { id } }"""
    data = await demo.gql(
        q, {"c": gid("Contact", missing), "a": gid("Account", missing), "l": gid("Lead", missing)}
    )
    assert data == {
        "contact": None,
        "account": None,
        "lead": None,
        "node": None,
        "nodes": [None, None],
    }


@pytest.mark.parametrize("field", ["contact", "account", "lead"])
async def test_wrong_type_id_is_a_clear_error(demo, field):
    other = "Lead" if field != "lead" else "Contact"
    response = await demo.post(
        f"query($id: ID!) {{ {field}(id: $id) {{ id }} }}", {"id": gid(other, ObjectId())}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {field: None}
    (error,) = body["errors"]
    assert error["path"] == [field]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    article = "an" if field == "account" else "a"
    assert error["message"] == f"id: is a {other} id, expected {article} {field.capitalize()} id"


@pytest.mark.parametrize(
    "bad",
    [
        "garbage",
        "",
        base64.b64encode(b"no-colon").decode(),
        base64.b64encode(b"Contact:not-an-object-id").decode(),
        base64.b64encode(b"Nonsense:1").decode(),
    ],
)
@pytest.mark.parametrize("field", ["contact", "node"])
async def test_garbage_ids_are_clear_errors_never_500(demo, field, bad):
    response = await demo.post(f"query($id: ID!) {{ {field}(id: $id) {{ id }} }}", {"id": bad})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"] == {field: None}
    if field == "node" and bad.startswith(base64.b64encode(b"Contact:")[:6].decode()):
        # well-formed global id of a real type whose record cannot exist
        assert "errors" not in body
        return
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert error["message"] != "Internal server error"
