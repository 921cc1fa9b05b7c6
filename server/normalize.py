"""Normalisation of the values records are matched on (email, domain, phone, names)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email


class InvalidValue(ValueError):
    """A value that cannot be normalised; the message says why."""


def email(value: str) -> str:
    """Validate an email address and return its normalised form (trimmed, lower-case)."""
    text = value.strip()
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidValue(str(exc)) from exc
    return result.normalized.lower()


def domain(value: str) -> str:
    """``https://WWW.Contoso.com/about`` -> ``contoso.com``: scheme, ``www.``, path and case go."""
    text = value.strip().lower()
    if not text:
        return ""
    if "://" not in text:
        text = "//" + text
    host = urlsplit(text).hostname or ""
    return host.removeprefix("www.").rstrip(".")


def phone(value: str) -> str:
    """Digits only, keeping a leading ``+``."""
    text = value.strip()
    digits = re.sub(r"\D", "", text)
    return ("+" + digits) if text.startswith("+") else digits


def name(value: str) -> str:
    """Case- and space-insensitive form of a person's or company's name."""
    return " ".join(value.split()).casefold()


def sort_name(first: str | None, last: str | None) -> str:
    return name(f"{last or ''} {first or ''}")
