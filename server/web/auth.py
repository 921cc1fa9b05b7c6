"""Roles, permissions and the caller of a request."""

from __future__ import annotations

from dataclasses import dataclass

ROLES: dict[str, frozenset[str]] = {
    "read-only": frozenset(),
    "sales": frozenset(
        {
            "contacts:write",
            "leads:write",
            "leads:stage",
            "interactions:write",
            "opportunities:write",
        }
    ),
    "marketer": frozenset(
        {
            "contacts:write",
            "accounts:write",
            "leads:write",
            "leads:stage",
            "interactions:write",
            "capture:submit",
            "data:import",
            "contacts:merge",
            "segments:write",
            "lists:write",
        }
    ),
}
ROLES["admin"] = frozenset(
    set().union(*ROLES.values())
    | {
        "contacts:delete",
        "accounts:delete",
        "leads:delete",
        "leads:override",
        "rules:admin",
        "keys:admin",
        "privacy:admin",  # export and erase a person, issue subscription-centre links
        "webhooks:admin",  # register webhooks, see their secrets and deliveries
        "audit:read",  # the audit log: every caller's writes with the values they changed
    }
)
#: The role of a caller without an API key: it may run the subscription centre's two
#: operations (``subscriptionCentre``, ``updateSubscriptions``), which check their token,
#: and nothing else (leadgraph.web.view lets no other operation through without a key).
PUBLIC_ROLE = "public"
PUBLIC_FIELDS = frozenset({"subscriptionCentre", "updateSubscriptions", "__typename"})


@dataclass(frozen=True)
class Principal:
    """Who is calling: the API key's name, its role and its id (None for a caller without one)."""

    name: str
    role: str
    key_id: str | None = None

    def can(self, permission: str) -> bool:
        return permission in ROLES.get(self.role, frozenset())


def bearer_token(header: str | None) -> str | None:
    """The key from an ``Authorization: Bearer KEY`` header (None when absent or malformed)."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
