"""Acknowledged means durable (issue 16 point 6): every client leadgraph makes writes with
``w: majority, j: true`` (transactions' commits included) unless ``MONGODB_URI`` names its own,
and the embedded database accepts it.  bench/durability.py kills the database under writers
and counts acknowledged writes lost (0 with this concern; some with ``w=1&journal=false``)."""

from __future__ import annotations

from typing import Any

from conftest import Api
from leadgraph.db import make_client


async def test_the_servers_client_writes_with_majority_and_journal(server: Any, api: Api) -> None:
    client = server.state.leadgraph.connection.client
    assert client.write_concern.document == {"w": "majority", "j": True}
    # the embedded single node accepts it, inside a transaction and out of one
    created = await api.gql(
        'mutation { createContact(input: {lastName: "Durable"}) { __typename } }'
    )
    assert created["createContact"]["__typename"] == "ContactPayload"
    assert await api.db.contacts.count_documents({"lastName": "Durable"}) == 1


async def test_a_uri_that_names_a_write_concern_keeps_it(mongo_uri: str) -> None:
    sep = "&" if "?" in mongo_uri else "/?"
    cases = {
        "w=1": {"w": 1, "j": True},
        "journal=false": {"w": "majority", "j": False},
        "w=1&journal=false": {"w": 1, "j": False},
        "W=2&Journal=true": {"w": 2, "j": True},
    }
    for options, expected in cases.items():
        client = make_client(mongo_uri + sep + options)
        try:
            assert client.write_concern.document == expected, options
        finally:
            await client.close()
