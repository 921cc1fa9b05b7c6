"""Who is asking, for the records that say so: the request's origin and the consent actor
of its API key."""

from __future__ import annotations

from strawberry.types import Info

from ..services.consent import Actor

MAX_USER_AGENT = 300


def origin_of(info: Info) -> dict[str, str | None]:
    """Where a request comes from: the client's IP address and user agent (None unknown)."""
    request = info.context.request
    if request is None:
        return {"ip": None, "userAgent": None}
    client = getattr(request, "client", None)
    agent = request.headers.get("user-agent")
    return {
        "ip": client.host if client else None,
        "userAgent": agent[:MAX_USER_AGENT] if agent else None,
    }


def owner_of(info: Info) -> str | None:
    """Whose idempotency keys a request's are: its API key's id (its name without one)."""
    principal = info.context.principal
    if principal is None:
        return None
    return principal.key_id or principal.name


def api_actor(info: Info) -> Actor:
    """A consent change made by the API key of this request."""
    principal = info.context.principal
    where = origin_of(info)
    return Actor(
        via="api",
        by=principal.name if principal else None,
        source="api",
        ip=where["ip"],
        user_agent=where["userAgent"],
    )
