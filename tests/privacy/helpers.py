"""GraphQL documents and helpers shared by the privacy tests."""

from __future__ import annotations

from typing import Any

CONTACT = """
id email firstName subscriptions unsubscribed
preferences { allowBulkEmail } consent { level guardian }
"""

SUBSCRIBE = f"""
mutation($c: [ID!]!, $l: [String!]!, $r: Boolean! = false) {{
  subscribeContacts(contacts: $c, lists: $l, resubscribe: $r) {{
    __typename
    ... on SubscriptionChangePayload {{ contacts {{ {CONTACT} }} keptOut {{ contact lists }} }}
    ... on Error {{ message code }}
    ... on ValidationError {{ fields {{ field message }} }}
  }}
}}
"""

UNSUBSCRIBE = f"""
mutation($c: [ID!]!, $l: [String!]!) {{
  unsubscribeContacts(contacts: $c, lists: $l) {{
    __typename
    ... on SubscriptionChangePayload {{ contacts {{ {CONTACT} }} }}
    ... on Error {{ message code }}
  }}
}}
"""

CONTACT_QUERY = f"query($id: ID!) {{ contact(id: $id) {{ {CONTACT} }} }}"

CONSENT_HISTORY = """
query($id: ID!) { contact(id: $id) {
  insights { total }
  interactions(first: 50, filter: {types: [CONSENT_CHANGED]}) {
    edges { node { type formId occurredAt details } } } } }
"""

TOKEN = """
mutation($c: ID!, $d: Int! = 30) {
  issueSubscriptionToken(contact: $c, expiresInDays: $d) {
    __typename
    ... on SubscriptionTokenPayload { token expiresAt }
    ... on Error { message code }
  }
}
"""

CENTRE = """
query($t: String!) { subscriptionCentre(token: $t) {
  __typename
  ... on SubscriptionCentre { firstName email allowBulkEmail expiresAt lists { name subscribed } }
  ... on InvalidTokenError { message code reason }
} }
"""

UPDATE_CENTRE = """
mutation($t: String!, $i: UpdateSubscriptionsInput!) { updateSubscriptions(token: $t, input: $i) {
  __typename
  ... on SubscriptionCentre { allowBulkEmail lists { name subscribed } }
  ... on InvalidTokenError { message code reason }
  ... on ValidationError { message fields { field message } }
} }
"""

IMPORT = """
mutation($k: ImportKind!, $d: String!) { importRecords(input: {kind: $k, data: $d}) {
  __typename
  ... on ImportSummary { created updated rejected rejectedRows { line reason }
    contactsCreated }
  ... on Error { message }
} }
"""

LINK = """
mutation { linkOrphanLeads {
  ... on LinkOrphansPayload { linked contactsCreated suppressed } } }
"""


async def history(api: Any, contact_id: str) -> list[dict[str, Any]]:
    """The contact's consent_changed interactions, oldest first."""
    data = await api.gql(CONSENT_HISTORY, {"id": contact_id})
    return [e["node"] for e in data["contact"]["interactions"]["edges"]]


async def public(api: Any, query: str, variables: dict[str, Any]) -> Any:
    """A request without any API key (a public page); returns the HTTP response."""
    return await api.post(query, variables, role=None, headers={"User-Agent": "centre-page/1"})


async def import_rows(api: Any, kind: str, data: str) -> dict[str, Any]:
    out = await api.gql(IMPORT, {"k": kind, "d": data})
    return dict(out["importRecords"])
