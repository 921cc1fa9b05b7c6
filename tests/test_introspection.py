"""Introspection works and yields a schema clients can build."""

from __future__ import annotations

from graphql import build_client_schema, get_introspection_query, print_schema
from leadgraph.web.schema import schema


async def test_standard_introspection_builds_a_client_schema(api):
    data = await api.gql(
        get_introspection_query(descriptions=True, specified_by_url=True), role="read-only"
    )
    client = build_client_schema(data)
    query = client.query_type
    assert query is not None
    for field in ("contacts", "accounts", "leads", "contact", "account", "lead", "node", "nodes"):
        assert field in query.fields
    assert {"createContact", "linkLead", "recordInteraction"} <= set(client.mutation_type.fields)
    assert "interactionRecorded" in client.subscription_type.fields
    contact = client.get_type("Contact")
    assert {"account", "leads", "interactions", "preferences", "consent", "marketingOnly"} <= set(
        contact.fields
    )
    assert "Node" in [i.name for i in contact.interfaces]
    # the schema seen over HTTP is the server's schema
    assert print_schema(client) == print_schema(schema._schema)
