"""GraphQL snippets and helpers of the segment tests."""

from __future__ import annotations

from typing import Any

from foundation import create_contact, create_lead

ERRORS = """... on ValidationError { code message field fields { field message } }
  ... on NotFoundError { code message }
  ... on ForbiddenError { code message permission }
  ... on ConflictError { code message }"""
SEGMENT = """name kind status source purpose subscriptionList
  definition { where include exclude }"""
CREATE = f"""mutation($i: SegmentInput!) {{ createSegment(input: $i) {{ __typename
  ... on SegmentPayload {{ segment {{ {SEGMENT} }} }}
  ... on SegmentCycleError {{ code message cycle }}
  {ERRORS} }} }}"""
UPDATE = f"""mutation($n: String!, $i: SegmentChanges!) {{ updateSegment(name: $n, input: $i) {{
  __typename ... on SegmentPayload {{ segment {{ {SEGMENT} }} }}
  ... on SegmentCycleError {{ code message cycle }}
  {ERRORS} }} }}"""
PUBLISH = f"""mutation($n: String!) {{ publishSegment(name: $n) {{ __typename
  ... on SegmentPayload {{ segment {{ {SEGMENT} publishedAt }} }} {ERRORS} }} }}"""
DELETE = f"""mutation($n: String!) {{ deleteSegment(name: $n) {{ __typename
  ... on SegmentPayload {{ segment {{ name }} }} {ERRORS} }} }}"""
ADD = f"""mutation($s: String!, $c: [ID!], $w: JSON) {{
  addToSegment(segment: $s, contacts: $c, where: $w) {{ __typename
  ... on SegmentListPayload {{ changed segment {{ name }} }} {ERRORS} }} }}"""
REMOVE = f"""mutation($s: String!, $c: [ID!], $w: JSON) {{
  removeFromSegment(segment: $s, contacts: $c, where: $w) {{ __typename
  ... on SegmentListPayload {{ changed segment {{ name }} }} {ERRORS} }} }}"""
MEMBERS = """query($n: String!) { segment(name: $n) {
  memberCount members(first: 100) { totalCount edges { node { id email } } } } }"""
MEMBERSHIP = """query($c: ID!, $s: String!) { segmentMembership(contact: $c, segment: $s) {
  member matched conditions { path condition holds }
  consent { reason description excludes } excludedBy lead } }"""
EVALUATE = """mutation($s: String!) { evaluateSegment(segment: $s) { __typename
  ... on SegmentEvaluation { segment at count added removed reason } } }"""
RECORD = """mutation($i: RecordInteractionInput!) { recordInteraction(input: $i) {
  __typename } }"""

CONTOSO = "Contoso Ltd Conference"
EXAMPLE_WHERE = {
    "all": [
        {"fact": "lead.topic", "op": "eq", "value": CONTOSO},
        {"fact": "contact.role", "op": "eq", "value": "decisionMaker"},
    ]
}
REACHABLE = {
    "preferences": {"allowBulkEmail": True},
    "consent": {"level": "MARKETING"},
}


async def contact(api: Any, email: str | None, **fields: Any) -> str:
    """A new contact (reachable for commercial email unless ``fields`` say otherwise)."""
    values = {**REACHABLE, "lastName": "Lee", **fields}
    if email is not None:
        values["email"] = email
    return await create_contact(api, **values)


async def lead(api: Any, contact_id: str, topic: str) -> str:
    return str((await create_lead(api, topic=topic, parentContact=contact_id))["id"])


async def create(api: Any, role: str = "admin", **fields: Any) -> dict[str, Any]:
    return dict((await api.gql(CREATE, {"i": fields}, role=role))["createSegment"])


async def members(api: Any, name: str) -> list[str]:
    segment = (await api.gql(MEMBERS, {"n": name}))["segment"]
    conn = segment["members"]
    assert segment["memberCount"] == conn["totalCount"] == len(conn["edges"])
    return [e["node"]["id"] for e in conn["edges"]]


async def membership(api: Any, contact_id: str, segment: str) -> dict[str, Any]:
    return dict((await api.gql(MEMBERSHIP, {"c": contact_id, "s": segment}))["segmentMembership"])


async def open_email(api: Any, contact_id: str, key: str, occurred_at: str | None = None) -> None:
    fields: dict[str, Any] = {"contact": contact_id, "type": "EMAIL_OPENED", "idempotencyKey": key}
    if occurred_at:
        fields["occurredAt"] = occurred_at
    out = await api.gql(RECORD, {"i": fields})
    assert out["recordInteraction"]["__typename"] == "InteractionPayload", out
