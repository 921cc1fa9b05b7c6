"""Helpers shared by the foundation tests (connections, nodes, mutations)."""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from strawberry.relay import GlobalID


def gid(type_name: str, oid: ObjectId | str) -> str:
    return str(GlobalID(type_name, str(oid)))


def oid_of(global_id: str) -> ObjectId:
    return ObjectId(GlobalID.from_id(global_id).node_id)


async def walk(
    api: Any,
    root: str,
    args: str = "",
    *,
    page: int = 7,
    backward: bool = False,
    fields: str = "id",
) -> list[dict[str, Any]]:
    """Every node of a root connection, page by page, forward (first/after) or backward."""
    direction = ("last", "before") if backward else ("first", "after")
    query = f"""
    query($n: Int!, $c: String) {{
      {root}({direction[0]}: $n, {direction[1]}: $c{", " + args if args else ""}) {{
        totalCount
        pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
        edges {{ cursor node {{ {fields} }} }}
      }}
    }}"""
    nodes: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(1000):
        conn = (await api.gql(query, {"n": page, "c": cursor}))[root]
        edges = conn["edges"]
        info = conn["pageInfo"]
        if edges:
            assert info["startCursor"] == edges[0]["cursor"]
            assert info["endCursor"] == edges[-1]["cursor"]
        else:
            assert info["startCursor"] is None and info["endCursor"] is None
        if backward:
            nodes[:0] = [e["node"] for e in edges]
            assert info["hasNextPage"] == (cursor is not None)
            if not info["hasPreviousPage"]:
                assert len(nodes) == conn["totalCount"]
                return nodes
            cursor = info["startCursor"]
        else:
            nodes.extend(e["node"] for e in edges)
            assert info["hasPreviousPage"] == (cursor is not None)
            if not info["hasNextPage"]:
                assert len(nodes) == conn["totalCount"]
                return nodes
            cursor = info["endCursor"]
        assert len(edges) == page
    raise AssertionError("pagination never ended")


async def create_contact(api: Any, **fields: Any) -> str:
    """``createContact`` over HTTP; returns the new contact's id."""
    data = await api.gql(
        """mutation($i: CreateContactInput!) { createContact(input: $i) {
           ... on ContactPayload { contact { id } } } }""",
        {"i": fields},
    )
    return str(data["createContact"]["contact"]["id"])


async def create_lead(api: Any, select: str = "id", **fields: Any) -> dict[str, Any]:
    """``createLead`` over HTTP; returns the new lead with the fields of ``select``."""
    data = await api.gql(
        f"""mutation($i: CreateLeadInput!) {{ createLead(input: $i) {{
            ... on LeadPayload {{ lead {{ {select} }} }} }} }}""",
        {"i": fields},
    )
    return dict(data["createLead"]["lead"])


async def create_lists(api: Any, *names: str) -> list[str]:
    """``createSubscriptionList`` over HTTP for each name; returns the lists' ids."""
    ids = []
    for name in names:
        data = await api.gql(
            """mutation($n: String!) { createSubscriptionList(name: $n) {
               __typename ... on SubscriptionListPayload { list { id } } } }""",
            {"n": name},
        )
        assert data["createSubscriptionList"]["__typename"] == "SubscriptionListPayload", data
        ids.append(str(data["createSubscriptionList"]["list"]["id"]))
    return ids
