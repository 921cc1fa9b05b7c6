"""Introspection works and yields a schema clients can build."""

from __future__ import annotations

from graphql import (
    GraphQLObjectType,
    build_client_schema,
    get_introspection_query,
    print_schema,
)
from leadgraph.web.schema import schema


async def test_standard_introspection_builds_a_client_schema(api):
    data = await api.gql(
        get_introspection_query(descriptions=True, specified_by_url=True), role="read-only"
    )
    client = build_client_schema(data)
    query, mutation, subscription = (
        client.query_type,
        client.mutation_type,
        client.subscription_type,
    )
    assert query is not None and mutation is not None and subscription is not None
    for field in ("contacts", "accounts", "leads", "contact", "account", "lead", "node", "nodes"):
        assert field in query.fields
    assert {"createContact", "linkLead", "recordInteraction"} <= set(mutation.fields)
    assert "interactionRecorded" in subscription.fields
    contact = client.get_type("Contact")
    assert isinstance(contact, GraphQLObjectType)
    assert {"account", "leads", "interactions", "preferences", "consent", "marketingOnly"} <= set(
        contact.fields
    )
    assert "Node" in [i.name for i in contact.interfaces]
    # the schema seen over HTTP is the server's schema
    assert print_schema(client) == print_schema(schema._schema)
