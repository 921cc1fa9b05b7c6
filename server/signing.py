"""What the server secret signs besides cursors: subscription-centre tokens and the keyed
hashes of suppressed emails.

Both are derived from the server secret (``LEADGRAPH_SECRET`` or ``<data dir>/secret``,
:func:`leadgraph.config.server_secret`), loaded once per process by :func:`use_secret` (the
app and every command that opens the database call it).  A process that never called it
uses the secret the default settings give, never a random one: a suppression hash must be
the same in every process, or an erased person could come back through a command.

- **Tokens** (itsdangerous ``URLSafeSerializer``, HMAC-SHA256 with a purpose salt) carry a
  contact id and an expiry time; :func:`read_token` refuses a forged, altered or expired one
  with :class:`TokenRefused` saying which.
- **Suppression hashes** are HMAC-SHA256 of the normalised email: the database never holds
  the erased address, and nobody without the secret can test an address against the list.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from itsdangerous import BadSignature, URLSafeSerializer

from .store import clock

_TOKEN_SALT = "leadgraph subscription centre"
_secret: bytes | None = None


_suppression_key: bytes | None = None


def use_secret(secret: bytes, *, replace: bool = True) -> None:
    """Sign with ``secret`` from now on in this process (``replace`` False: only when no
    secret was loaded yet, as a command opening the database does)."""
    global _secret, _suppression_key
    if replace or _secret is None:
        _secret = secret
        _suppression_key = hmac.digest(secret, b"leadgraph suppression", "sha256")


def _current() -> bytes:
    if _secret is None:
        from .config import Settings, server_secret

        use_secret(server_secret(Settings.from_env()))
    assert _secret is not None
    return _secret


# ---------------------------------------------------------------- suppression hashes


def email_hash(email_normalized: str) -> str:
    """The keyed hash a suppression entry is stored under (hex)."""
    _current()
    assert _suppression_key is not None
    return hmac.digest(_suppression_key, email_normalized.encode(), "sha256").hex()


# ---------------------------------------------------------------- subscription-centre tokens


class TokenRefused(Exception):
    """A subscription-centre token that is not honoured; ``reason`` is ``INVALID`` (forged,
    altered, truncated, signed with another secret) or ``EXPIRED``."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


@dataclass(frozen=True)
class Token:
    contact_id: ObjectId
    expires_at: datetime


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(_current(), salt=_TOKEN_SALT)


def issue_token(contact_id: ObjectId, ttl: timedelta) -> tuple[str, datetime]:
    """A token for ``contact_id`` valid for ``ttl``; returns it and its expiry time."""
    expires = clock.now() + ttl
    token = _serializer().dumps({"c": str(contact_id), "e": int(expires.timestamp())})
    return str(token), datetime.fromtimestamp(int(expires.timestamp()), UTC)


def read_token(token: str) -> Token:
    """The contact and expiry a token names.

    :raises TokenRefused: the token was not signed with this secret for this purpose, or it
        has expired.
    """
    if not isinstance(token, str) or len(token) > 512:
        raise TokenRefused("INVALID", "this link is not valid")
    try:
        payload: Any = _serializer().loads(token)
        contact_id = ObjectId(payload["c"])
        expires_at = datetime.fromtimestamp(int(payload["e"]), UTC)
    except (BadSignature, InvalidId, KeyError, TypeError, ValueError, OverflowError):
        raise TokenRefused("INVALID", "this link is not valid") from None
    if expires_at <= clock.now():
        raise TokenRefused("EXPIRED", "this link has expired: ask for a new one")
    return Token(contact_id, expires_at)
