"""Where a webhook may send: public http(s) addresses only, checked when the URL is given and
again at every attempt.

A URL whose host is, or resolves to, a loopback, private, link-local, shared (CGNAT),
multicast, reserved or unspecified address is refused, so that a webhook cannot be turned on
the server's own network (metadata services, databases, admin ports).  Every address a name
resolves to is checked (a name with one public and one private address is refused), and the
attempt then connects to the checked address itself (the name still goes in ``Host`` and TLS
SNI, so certificates are verified as usual): a DNS answer that changes between the check and
the connection (rebinding) cannot send it elsewhere.  ``LEADGRAPH_WEBHOOK_ALLOW_PRIVATE=1``
lifts the rule (tests, an on-premises receiver).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL = 2048  # characters


class Refused(Exception):
    """The URL, or an address its host resolves to, may not be sent to."""


@dataclass(frozen=True)
class Target:
    """Where an attempt connects: the URL as given, the host it names, and (when addresses
    are checked) the checked address to connect to instead of resolving again."""

    url: str
    host: str
    address: str | None = None


def shape_problem(url: str) -> str | None:
    """What is wrong with ``url`` as a webhook URL before any lookup (None: nothing)."""
    if len(url) > MAX_URL:
        return f"must be at most {MAX_URL} characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        return f"is not a URL: {exc}"
    if parts.scheme not in ("http", "https"):
        return "must be an http or https URL"
    if not parts.hostname:
        return "must name a host"
    if any(c.isspace() for c in url):
        return "must not contain spaces"
    return None


def refusal(address: str) -> str | None:
    """Why ``address`` (an IP address) may not be sent to, or None when it is public."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return f"{address} is a loopback address"
    if ip.is_unspecified:
        return f"{address} is not a public address"
    if ip.is_link_local:
        return f"{address} is a link-local address"
    if ip.is_private:
        return f"{address} is a private address"
    if ip.is_multicast or ip.is_reserved or ip.is_unspecified or not ip.is_global:
        return f"{address} is not a public address"
    return None


async def resolve(host: str, port: int, timeout: float) -> list[str]:
    """Every address ``host`` resolves to (an IP literal: itself)."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError) as exc:
        raise Refused(f"host {host!r} does not resolve ({exc or 'timed out'})") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def target(url: str, *, allow_private: bool, timeout: float) -> Target:
    """Where to send ``url``: with ``allow_private`` as given; otherwise every address of its
    host checked, the first to be connected to.  Raises :class:`Refused`."""
    problem = shape_problem(url)
    if problem is not None:
        raise Refused(f"the URL {problem}")
    parts = urlsplit(url)
    host = parts.hostname or ""
    if allow_private:
        return Target(url, host)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = await resolve(host, port, timeout)
    for address in addresses:
        reason = refusal(address)
        if reason is not None:
            shown = "" if address == host else f"{host} resolves to "
            raise Refused(f"{shown}{reason}")
    if not addresses:
        raise Refused(f"host {host!r} does not resolve")
    return Target(url, host, addresses[0])
