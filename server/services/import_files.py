"""Reading an import's file: CSV (with a header) or JSON lines, row by row, and each row's
columns mapped to stored fields (``COLUMNS``: HubSpot's and Mautic's export headers among
them) and checked, per kind (:data:`PARSERS`).  A row that cannot be imported raises
:class:`Rejected` with the reason reported with its line.  Pure: no database; the batch engine
(:mod:`.import_batch`) and the run (:mod:`.importing`) take it from here.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Iterator
from typing import Any

from .. import normalize
from ..contracts import CONSENT_LEVELS, CONTACT_ROLES, CONTACT_TYPES
from ..rules.fields import NO_FIELDS, column_field, row_custom

FORMATS = ("csv", "jsonl")

# Column names, compared lower-case without punctuation, to stored field names.
COLUMNS = {
    "email": "email",
    "emailaddress": "email",
    "firstname": "firstName",
    "lastname": "lastName",
    "phone": "phone",
    "phonenumber": "phone",
    "jobtitle": "jobTitle",
    "title": "jobTitle",
    "role": "role",
    "contacttype": "contactType",
    "marketingsource": "marketingSource",
    "company": "companyName",
    "companyname": "companyName",
    "account": "accountName",
    "accountname": "accountName",
    "website": "domain",
    "domain": "domain",
    "topic": "topic",
    "formid": "formId",
    "form": "formId",
    "marketingcontextkind": "contextKind",
    "marketingcontextname": "contextName",
    "name": "name",
    "industry": "industry",
    "country": "country",
    "numberofemployees": "numberOfEmployees",
    "employees": "numberOfEmployees",
    "annualrevenue": "annualRevenue",
    "allowbulkemail": "allowBulkEmail",
    "allowemail": "allowEmail",
    "allowprefill": "allowPrefill",
    "trackemail": "trackEmail",
    "consent": "consent",
    "consentlevel": "consent",
    "subscriptions": "subscriptions",
}
BOOLEANS = {
    "true": True,
    "yes": True,
    "1": True,
    "y": True,
    "false": False,
    "no": False,
    "0": False,
    "n": False,
}
CONTEXT_KINDS = ("product", "offer", "campaign", "event")
MAX_NUMBER = 2**63 - 1  # the largest integer MongoDB stores


class Rejected(ValueError):
    """A row that cannot be imported; the message is the reason reported with its line."""


# ---------------------------------------------------------------- reading


def detect_format(name: str) -> str:
    lower = name.lower()
    if lower.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    return "csv"


EMPTY_ROW = "empty row"
"""The reason :func:`read_rows` gives an empty row: the import counts it as skipped."""

MAX_ROW_CHARS = 65_536
"""The longest row imported (characters, separators included): a record of this domain is a
few hundred; a longer row is rejected with its line number, the rest of the file imported."""

# The csv module refuses a field longer than its process-wide limit (128 KiB by default) by
# raising in the middle of the file; rows are measured against MAX_ROW_CHARS instead, so the
# limit only has to let any field of an accepted upload through.
csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))


def read_rows(text: str, fmt: str) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """``(line, row, error)`` for each record.  A row that cannot be read, or longer than
    :data:`MAX_ROW_CHARS`, comes with its error and no row; an empty one (a blank line, a CSV
    row of empty values) with :data:`EMPTY_ROW` and no row."""
    too_long = f"longer than {MAX_ROW_CHARS} characters"
    if fmt == "jsonl":
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                yield number, None, EMPTY_ROW
                continue
            if len(line) > MAX_ROW_CHARS:
                yield number, None, too_long
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, None, f"not valid JSON: {exc.msg}"
                continue
            except (ValueError, RecursionError):  # e.g. nesting deeper than Python recurses
                yield number, None, "not valid JSON: nested too deeply"
                continue
            if not isinstance(row, dict):
                yield number, None, "not a JSON object"
                continue
            yield number, row, None
        return
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        return
    names = [h.strip() for h in header]
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield reader.line_num, None, f"not valid CSV: {exc}"
            continue
        number = reader.line_num
        if not any(v.strip() for v in values):
            yield number, None, EMPTY_ROW
            continue
        if sum(len(v) + 1 for v in values) > MAX_ROW_CHARS:
            yield number, None, too_long
            continue
        if len(values) > len(names):
            yield number, None, f"{len(values)} values for {len(names)} columns"
            continue
        yield number, dict(zip(names, values, strict=False)), None


def shown(value: Any, limit: int = 40) -> str:
    """A value as a rejection reason quotes it: JSON (what the client sent), cut to
    ``limit`` characters."""
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


#: Columns that take a list (a JSON-lines row may give one); every other column takes a value.
LIST_COLUMNS = frozenset({"subscriptions"})


def _field(name: Any) -> str | None:
    """The stored field a column name maps to (compared lower-case without punctuation)."""
    return COLUMNS.get("".join(ch for ch in str(name).lower() if ch.isalnum()))


LEAD_COLUMNS = (
    "topic",
    "formId",
    "email",
    "firstName",
    "lastName",
    "companyName",
    "jobTitle",
    "marketingSource",  # `sales`: starts at sales acceptance with the shipped rules
)


#: The fields each kind's rows take; a column mapped to none of them is not imported.
KIND_FIELDS: dict[str, frozenset[str]] = {
    "contacts": frozenset(
        {
            *("firstName", "lastName", "email", "phone", "jobTitle", "marketingSource", "role"),
            *("allowBulkEmail", "allowEmail", "allowPrefill", "trackEmail", "consent"),
            *("subscriptions", "accountName", "companyName", "domain"),
        }
    ),
    "leads": frozenset(
        {*LEAD_COLUMNS, "contextKind", "contextName", "accountName", "companyName", "domain"}
    ),
    "accounts": frozenset(
        {"name", "accountName", "companyName", "domain", "industry", "country"}
        | {"numberOfEmployees", "annualRevenue"}
    ),
}


#: The record of each import kind (its custom fields are that record type's).
ENTITY = {"contacts": "contact", "leads": "lead", "accounts": "account"}


class Unmapped:
    """The columns of one file that no field of its kind takes and no matching strategy
    reads (HubSpot's "Lifecycle Stage", say): each once, as the file first names it."""

    def __init__(self, kind: str, read_by_matching: set[str], ruleset: Any = None) -> None:
        self.fields = KIND_FIELDS[kind]
        self.read = read_by_matching
        self.custom = getattr(ruleset, "custom_fields", None)  # columns of custom fields
        self.entity = ENTITY[kind]
        self.seen: set[str] = set()
        self.columns: list[str] = []

    def note(self, row: dict[str, Any]) -> None:
        for name in row:
            if name in self.seen:
                continue
            self.seen.add(name)
            label = str(name).strip()
            if not label or _field(name) in self.fields or label in self.read:
                continue
            if self.custom is None or column_field(self.custom, self.entity, str(name)) is None:
                self.columns.append(label)


def _columns(row: dict[str, Any]) -> dict[str, Any]:
    """The row's known columns; an object (or a list, where the column takes one value)
    given for a column is refused, as ``submitForm`` refuses it."""
    out: dict[str, Any] = {}
    for name, value in row.items():
        key = _field(name)
        if key is None:
            continue
        if isinstance(value, dict) or (isinstance(value, list) and key not in LIST_COLUMNS):
            raise Rejected(f"{key}: must be a single value, not {shown(value)}")
        if isinstance(value, str):
            value = value.strip()
            if not value:
                continue
        if value is None:
            continue
        out[key] = value
    return out


def _extra(row: dict[str, Any]) -> dict[str, Any]:
    """The row's other columns (by their own names): seen by the matching strategies (a
    strategy over ``externalId``, say), not stored."""
    out: dict[str, Any] = {}
    for name, value in row.items():
        if _field(name) is not None:
            continue
        if isinstance(value, str):
            value = value.strip()
        if value not in (None, ""):
            out[str(name).strip()] = value
    return out


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    parsed = BOOLEANS.get(str(value).strip().lower())
    if parsed is None:
        raise Rejected(f"{name}: {shown(value)} is not true or false")
    return parsed


def _number(name: str, value: Any, kind: type) -> Any:
    if isinstance(value, bool):
        raise Rejected(f"{name}: {shown(value)} is not a number")
    try:
        number = kind(str(value).replace(",", "")) if not isinstance(value, int | float) else value
        number = kind(number)
    except (ValueError, OverflowError):
        raise Rejected(f"{name}: {shown(value)} is not a number") from None
    if not math.isfinite(number):
        raise Rejected(f"{name}: {shown(value)} is not a number")
    if abs(number) > MAX_NUMBER:
        raise Rejected(f"{name}: must be at most {MAX_NUMBER}")
    if number < 0:
        raise Rejected(f"{name}: must not be negative")
    return number


def _email(cols: dict[str, Any]) -> None:
    if "email" in cols:
        try:
            normalize.email(str(cols["email"]))
        except normalize.InvalidValue as exc:
            raise Rejected(f"email: {exc}") from None
        cols["email"] = str(cols["email"])


def contact_row(row: dict[str, Any]) -> dict[str, Any]:
    cols = _columns(row)
    _email(cols)
    if not (cols.get("email") or cols.get("lastName")):
        raise Rejected("a contact needs an email or a lastName")
    fields: dict[str, Any] = {}
    for name in ("firstName", "lastName", "email", "phone", "jobTitle", "marketingSource"):
        if name in cols:
            fields[name] = str(cols[name])
    if "role" in cols:
        if cols["role"] not in CONTACT_ROLES:
            raise Rejected(f"role: must be one of {', '.join(CONTACT_ROLES)}")
        fields["role"] = cols["role"]
    if cols.get("contactType") not in (None, ""):
        fields["contactType"] = str(cols["contactType"]).strip()
    prefs = {
        name: _bool(name, cols[name])
        for name in ("allowBulkEmail", "allowEmail", "allowPrefill", "trackEmail")
        if name in cols
    }
    if prefs:
        fields["preferences"] = prefs
    if "consent" in cols:
        if cols["consent"] not in CONSENT_LEVELS:
            raise Rejected(f"consent: must be one of {', '.join(CONSENT_LEVELS)}")
        fields["consent"] = {"level": cols["consent"]}
    if "subscriptions" in cols:
        subs = cols["subscriptions"]
        items = subs if isinstance(subs, list) else str(subs).replace(";", ",").split(",")
        fields["subscriptions"] = [str(s).strip() for s in items if str(s).strip()]
    return {"contact": fields, "account": _account_ref(cols), "extra": _extra(row)}


def _account_ref(cols: dict[str, Any]) -> dict[str, Any] | None:
    name = cols.get("accountName") or cols.get("companyName")
    domain = cols.get("domain")
    if domain is not None:
        domain = normalize.domain(str(domain))
        if "." not in domain:
            raise Rejected(f"domain: {shown(cols['domain'])} is not a domain name")
    if not (name or domain):
        return None
    return {"name": str(name) if name else (domain or ""), "domain": domain}


def lead_row(row: dict[str, Any]) -> dict[str, Any]:
    cols = _columns(row)
    _email(cols)
    fields: dict[str, Any] = {}
    for name in LEAD_COLUMNS:
        if name in cols:
            fields[name] = str(cols[name])
    if "contextKind" in cols or "contextName" in cols:
        kind = str(cols.get("contextKind", "campaign")).lower()
        if kind not in CONTEXT_KINDS:
            raise Rejected(f"marketingContextKind: must be one of {', '.join(CONTEXT_KINDS)}")
        if not cols.get("contextName"):
            raise Rejected("marketingContextName: is required with marketingContextKind")
        fields["marketingContext"] = {"kind": kind, "name": str(cols["contextName"])}
    if not (fields.get("email") or fields.get("lastName") or fields.get("companyName")):
        raise Rejected("a lead needs an email, a lastName or a companyName")
    if not (fields.get("topic") or fields.get("marketingContext")):
        fields["topic"] = fields.get("formId") or "import"
    return {"lead": fields, "account": _account_ref(cols), "extra": _extra(row)}


def account_row(row: dict[str, Any]) -> dict[str, Any]:
    cols = _columns(row)
    name = cols.get("name") or cols.get("accountName") or cols.get("companyName")
    if not name:
        raise Rejected("an account needs a name")
    ref = _account_ref({**cols, "accountName": name})
    assert ref is not None
    fields: dict[str, Any] = {"name": str(name)}
    if ref["domain"]:
        fields["domain"] = ref["domain"]
    for col in ("industry", "country"):
        if col in cols:
            fields[col] = str(cols[col])
    if "numberOfEmployees" in cols:
        fields["numberOfEmployees"] = _number("numberOfEmployees", cols["numberOfEmployees"], int)
    if "annualRevenue" in cols:
        fields["annualRevenue"] = _number("annualRevenue", cols["annualRevenue"], float)
    return {"account": fields}


def with_custom(
    parse: Callable[[dict[str, Any]], dict[str, Any]], kind: str, ruleset: Any
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """``parse`` that also reads the row's custom field columns (by ``custom.<name>``, name
    or label: :func:`leadgraph.rules.fields.row_custom`) into the record's ``custom``; a
    value that is not one of its field rejects the row.  Those columns are not extras.  A
    contact's ``contactType`` must be one of the rules' contact types."""
    fields = getattr(ruleset, "custom_fields", None) or NO_FIELDS
    types = tuple(getattr(ruleset, "contact_types", None) or CONTACT_TYPES)
    entity = ENTITY[kind]

    def parse_row(row: dict[str, Any]) -> dict[str, Any]:
        try:
            values, used = row_custom(fields, entity, row)
        except ValueError as exc:
            raise Rejected(str(exc)) from None
        parsed = parse({k: v for k, v in row.items() if str(k) not in used})
        kind_of = parsed[entity].get("contactType") if entity == "contact" else None
        if kind_of is not None and kind_of not in types:
            raise Rejected(f"contactType: {kind_of!r} is not one of {', '.join(types)}"[:200])
        if values:
            parsed[entity] = {**parsed[entity], "custom": values}
        return parsed

    return parse_row


PARSERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "contacts": contact_row,
    "leads": lead_row,
    "accounts": account_row,
}


def count_rows(data: bytes, fmt: str) -> int:
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    return max(0, lines - (1 if fmt == "csv" else 0))
