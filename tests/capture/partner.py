"""A partner's matching kinds, registered in a real plugin manager, and a server running the
shipped rules with a ``matching:`` section that uses them.

- ``sounds-like``: a kind that gives database keys (the Soundex code of each field), so
  "Ann Meyer" and "Anne Maier" are one person;
- ``surname``: a fuzzy kind with no key that decides with ``find`` (the first contact with the
  same last name, whatever its email);
- ``fragile``: an email kind that raises for emails starting with "boom".
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Api, serving
from leadgraph import hookimpl
from leadgraph.plugin_manager import get_plugin_manager
from pymongo import AsyncMongoClient
from shipped import SHIPPED

MATCHING = """\
matching:
  strategies:
    - {name: contact-email, entity: contact, kind: exact, fields: [email]}
    - name: contact-sounds-like
      entity: contact
      kind: sounds-like
      fields: [firstName, lastName]
    - {name: contact-surname, entity: contact, kind: surname, fields: [lastName]}
    - {name: contact-fragile, entity: contact, kind: fragile, fields: [email]}
    - {name: lead-email-form, entity: lead, kind: exact, fields: [email, formId]}
    - {name: lead-external-id, entity: lead, kind: exact, fields: [externalId]}
  defaults: {contact: contact-email, lead: lead-email-form}
  # these tests link orphan leads themselves (linkOrphanLeads): new ones stay orphans
  link_orphan_leads: false
  forms:
    - {form: fair, contact: contact-sounds-like}
    - {form: booth, contact: contact-surname}
    - {form: crm-sync, lead: lead-external-id}
    - {form: fragile-form, contact: contact-fragile}

tests:
  - name: Meyer and Maier sound alike
    entity: contact
    form: fair
    given:
      contact: {firstName: Ann, lastName: Meyer}
    candidate: {firstName: Anne, lastName: Maier}
    expect:
      matches: true
  - name: external ids are compared as written, trimmed
    entity: lead
    form: crm-sync
    given:
      lead: {externalId: " AB-12 "}
    candidate: {externalId: AB-12}
    expect:
      matches: true
  - name: external ids keep their case
    entity: lead
    form: crm-sync
    given:
      lead: {externalId: AB-12}
    candidate: {externalId: ab-12}
    expect:
      matches: false
"""

GROUPS = ["", "bfpv", "cgjkqsxz", "dt", "l", "mn", "r"]
CODES = {c: str(digit) for digit, letters in enumerate(GROUPS) for c in letters}


def soundex(word: str) -> str:
    """The American Soundex code of ``word`` (letter + three digits)."""
    letters = [c for c in word.lower() if c.isalpha()]
    if not letters:
        return ""
    out, last = letters[0].upper(), CODES.get(letters[0], "")
    for c in letters[1:]:
        code = CODES.get(c, "")
        if code and code != last:
            out += code
        if c not in "hw":
            last = code
    return (out + "000")[:4]


class SoundsLike:
    """Records match when each field sounds the same."""

    def key(self, record: dict[str, Any], strategy: Any) -> dict[str, str] | None:
        out = {f: soundex(str(record.get(f) or "")) for f in strategy.fields}
        return out if all(out.values()) else None


class SameSurname:
    """The first contact with the same last name, whatever the email (a deliberately loose
    fuzzy kind: no key, ``find`` decides)."""

    def key(self, record: dict[str, Any], strategy: Any) -> dict[str, str] | None:
        return None

    async def find(self, collection: Any, record: dict[str, Any], strategy: Any) -> Any:
        if not record.get("lastName"):
            return None
        name = str(record["lastName"]).strip()
        return await collection.find_one(
            {"lastName": {"$regex": f"^{name}$", "$options": "i"}}, sort=[("_id", 1)]
        )


class Fragile:
    """Exact emails, except that it raises for emails starting with "boom"."""

    def key(self, record: dict[str, Any], strategy: Any) -> dict[str, str] | None:
        email = str(record.get("email") or "").strip().lower()
        if email.startswith("boom"):
            raise RuntimeError(f"cannot key {email}")
        return {"email": email} if email else None


class Partner:
    @hookimpl
    def leadgraph_matching_kinds(self) -> dict[str, Any]:
        return {"sounds-like": SoundsLike(), "surname": SameSurname(), "fragile": Fragile()}


def rules_dir(tmp: Path) -> Path:
    """The shipped rules with the partner's ``matching:`` section."""
    directory = tmp / "rules"
    shutil.copytree(SHIPPED, directory)
    (directory / "matching.yaml").write_text(MATCHING)
    return directory


@pytest.fixture
async def partner(
    tmp_path: Path, mongo_client: AsyncMongoClient, mongo_uri: str
) -> AsyncIterator[Api]:
    """A server whose plugin manager has the partner registered, on a fresh database."""
    tmp = tmp_path
    pm = get_plugin_manager()
    pm.register(Partner(), name="acme-matching")
    name = f"t_{uuid.uuid4().hex[:12]}"
    async with serving(mongo_client, mongo_uri, name, rules_dir(tmp), pm=pm) as app:
        rules = app.state.leadgraph.rules
        assert rules.current is not None, rules.errors
        assert rules.current.registry.matching_kinds["sounds-like"].plugin == "acme-matching"
        async with httpx.AsyncClient(timeout=60) as http:
            api = Api(base_url=app.base_url, http=http, db=mongo_client[name])
            api.app = app  # type: ignore[attr-defined]
            yield api
    await mongo_client.drop_database(name)
