"""Issue 9, point 6: cursors are opaque and tamper-evident; a bad one is BAD_USER_INPUT."""

from __future__ import annotations

import base64
import json

import pytest
from bson import ObjectId
from leadgraph.config import Settings, server_secret
from test_mutations import make_contact

PAGE = """query($a: String, $b: String, $f: ContactOrderField!) {
  contacts(first: 2, after: $a, before: $b, orderBy: {field: $f}) {
    edges { cursor node { id lastName } } pageInfo { endCursor hasNextPage } } }"""
NESTED = """query($a: String) { contacts(first: 1) { edges { node {
  interactions(first: 1, after: $a) { edges { cursor } } } } } }"""
NAMES = ["Zimmerman", "Abbott", "Moreau", "Okafor", "Lindqvist"]


async def page(api, field="NAME", after=None, before=None):
    return await api.post(PAGE, {"a": after, "b": before, "f": field})


async def walk(api, field):
    names, after = [], None
    while True:
        conn = (await page(api, field, after)).json()["data"]["contacts"]
        names += [e["node"]["lastName"] for e in conn["edges"]]
        if not conn["pageInfo"]["hasNextPage"]:
            return names
        after = conn["pageInfo"]["endCursor"]


def unpadded(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decoded(cursor: str) -> bytes:
    return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))


@pytest.fixture
async def people(api):
    for name in NAMES:
        await make_contact(api, lastName=name, firstName="Sam")
    return api


async def test_cursors_page_through_every_order_without_showing_names(people):
    api = people
    assert await walk(api, "NAME") == sorted(NAMES)
    assert sorted(await walk(api, "CREATED_AT")) == sorted(NAMES)
    conn = (await page(api)).json()["data"]["contacts"]
    for edge in conn["edges"]:
        raw = decoded(edge["cursor"])
        name = edge["node"]["lastName"]
        assert name.encode() not in raw and name.lower().encode() not in raw
        assert b"sortName" not in raw


def bad(response, argument: str) -> None:
    assert response.status_code == 200
    body = response.json()
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert [f["field"] for f in error["extensions"]["fields"]] == [argument]
    assert body["data"] is None


async def test_altered_truncated_forged_and_foreign_cursors_are_bad_user_input(people):
    api = people
    cursor = (await page(api)).json()["data"]["contacts"]["pageInfo"]["endCursor"]
    raw = decoded(cursor)
    flipped = unpadded(raw[:-1] + bytes([raw[-1] ^ 1]))
    forged_plain = json.dumps({"f": "sortName", "v": {"$gt": ""}, "id": {"$oid": str(ObjectId())}})
    candidates = [
        flipped,
        cursor[:-4],
        cursor[:8],
        "",
        "not-a-cursor",
        "é" * 10,
        cursor + "A" * 2000,
        unpadded(forged_plain.encode()),  # the old plaintext format, with an operator
        unpadded(b"\x01" + bytes(16) + b"\x00" * 30),
    ]
    for candidate in candidates:
        bad(await page(api, after=candidate), "after")
        bad(await page(api, before=candidate), "before")
    # a cursor of the NAME order used with CREATED_AT
    bad(await page(api, "CREATED_AT", after=cursor), "after")
    # nested connections (cut in memory) check them the same way
    bad(await api.post(NESTED, {"a": flipped}), "after")
    # and the real cursor still works
    assert (await page(api, after=cursor)).json()["data"]["contacts"]["edges"]


LEADS = """query($a: String) {
  leads(first: 2, after: $a, orderBy: {field: CREATED_AT}) { edges { cursor } } }"""


async def test_a_cursor_is_good_only_for_its_own_connection(people):
    """Issue 16 point 11: a ``contacts`` cursor (same ordering field) is refused by ``leads``,
    a nested ``interactions`` one by ``contacts``; each still works where it was made."""
    api = people
    conn = (await page(api, "CREATED_AT")).json()["data"]["contacts"]
    contact_cursor = conn["pageInfo"]["endCursor"]
    bad(await api.post(LEADS, {"a": contact_cursor}), "after")
    bad(await api.post(NESTED, {"a": contact_cursor}), "after")
    assert "errors" not in (await page(api, "CREATED_AT", after=contact_cursor)).json()


async def test_the_secret_is_kept_in_the_data_dir_so_processes_agree(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    first = server_secret(settings)
    assert len(first) >= 32 and server_secret(settings) == first
    assert (tmp_path / "data" / "secret").stat().st_mode & 0o077 == 0
    assert server_secret(Settings(data_dir=tmp_path / "data", secret="from-env")) == b"from-env"
