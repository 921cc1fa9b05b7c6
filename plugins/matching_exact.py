"""Built-in ``exact`` matching kind: every field present and equal after normalisation.

Normalisers by field name: emails are trimmed and lower-cased, phones keep their digits (and a
leading ``+``), domains/websites lose scheme, ``www.``, path and case; ids are trimmed; other
text is compared case- and space-insensitively.  A strategy may name a normaliser per field
with ``options: {normalize: {fieldName: email|phone|domain|id|text}}``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from leadgraph import hookimpl, normalize


def email(value: str) -> str:
    return value.strip().lower()


def phone(value: str) -> str:
    return normalize.phone(value)


def domain(value: str) -> str:
    return normalize.domain(value)


def ident(value: str) -> str:
    return value.strip()


def text(value: str) -> str:
    return normalize.name(value)


NORMALISERS: dict[str, Callable[[str], str]] = {
    "email": email,
    "phone": phone,
    "domain": domain,
    "id": ident,
    "text": text,
}


def normaliser_for(field: str) -> Callable[[str], str]:
    low = field.lower()
    if "email" in low:
        return email
    if "phone" in low:
        return phone
    if low in ("domain", "website", "url"):
        return domain
    if low.endswith("id"):
        return ident
    return text


class ExactMatcher:
    def check(self, strategy: Any) -> None:
        chosen = strategy.options.get("normalize", {})
        unknown = set(strategy.options) - {"normalize"}
        if unknown:
            raise ValueError(f"unknown options {sorted(unknown)}; expected: normalize")
        for field, name in chosen.items():
            if name not in NORMALISERS:
                raise ValueError(
                    f"unknown normaliser {name!r} for {field}; expected one of: "
                    f"{', '.join(NORMALISERS)}"
                )

    def key(self, record: dict[str, Any], strategy: Any) -> dict[str, str] | None:
        chosen = (getattr(strategy, "options", None) or {}).get("normalize", {})
        out: dict[str, str] = {}
        for field in strategy.fields:
            value = record.get(field)
            if isinstance(value, bool) or value is None:
                return None
            fn = NORMALISERS[chosen[field]] if field in chosen else normaliser_for(field)
            normal = fn(str(value))
            if not normal:
                return None
            out[field] = normal
        return out


@hookimpl
def leadgraph_matching_kinds() -> dict[str, Any]:
    return {"exact": ExactMatcher()}
