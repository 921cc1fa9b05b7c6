"""A described schema (issue 19 point 5): every type (unions, Query, Mutation and Subscription
included), field, argument, input field and enum value the server introspects to carries a
description, skipping only GraphQL's own introspection types and built-in scalars.

The count is 0 and stays there: a new field, argument, input field, enum value or type without
a description fails here, named by its path.  Connection arguments are described once for all
connections (leadgraph.api.relay's First/After/Last/Before and each listing's filter, order)."""

from __future__ import annotations

from typing import Any

from graphql import get_introspection_query

BUILT_IN = {"String", "Int", "Float", "Boolean", "ID"}


def missing(schema: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, path) of every element of an introspection result without a description."""
    out: list[tuple[str, str]] = []

    def check(kind: str, path: str, element: dict[str, Any]) -> None:
        if not (element.get("description") or "").strip():
            out.append((kind, path))

    for t in schema["types"]:
        name = t["name"]
        if name.startswith("__") or name in BUILT_IN:
            continue
        check("type", name, t)
        for f in t.get("fields") or []:
            check("field", f"{name}.{f['name']}", f)
            for a in f.get("args") or []:
                check("argument", f"{name}.{f['name']}({a['name']})", a)
        for f in t.get("inputFields") or []:
            check("input field", f"{name}.{f['name']}", f)
        for v in t.get("enumValues") or []:
            check("enum value", f"{name}.{v['name']}", v)
    return out


async def test_every_schema_element_is_described(api):
    data = await api.gql(get_introspection_query(descriptions=True), role="read-only")
    assert missing(data["__schema"]) == []


def test_the_count_sees_what_is_missing() -> None:
    schema = {
        "types": [
            {"name": "__Type", "description": None, "fields": []},
            {"name": "String", "description": None},
            {
                "name": "Query",
                "description": "Reads.",
                "fields": [
                    {"name": "lead", "description": " ", "args": [{"name": "id"}]},
                ],
            },
            {"name": "Grade", "description": "A fit.", "enumValues": [{"name": "A"}]},
            {"name": "LeadInput", "description": None, "inputFields": [{"name": "topic"}]},
        ]
    }
    assert missing(schema) == [
        ("field", "Query.lead"),
        ("argument", "Query.lead(id)"),
        ("enum value", "Grade.A"),
        ("type", "LeadInput"),
        ("input field", "LeadInput.topic"),
    ]
