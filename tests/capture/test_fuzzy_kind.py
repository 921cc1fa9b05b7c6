"""A partner's fuzzy matching kind (``find``) assigned to a form is what capture uses."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from leadgraph import capture
from leadgraph.store import leads
from leadgraph.strategies import DEFAULT_LEAD


class SameSurname:
    """Matches a contact with the same last name, whatever the email (a deliberately loose
    partner kind)."""

    def key(self, record: dict[str, Any], strategy: Any) -> dict[str, str] | None:
        return None  # no database-enforced key: found by ``find`` only

    async def find(self, collection: Any, record: dict[str, Any], strategy: Any) -> Any:
        if not record.get("lastName"):
            return None
        return await collection.find_one({"lastName": record["lastName"].strip().title()})


def _new_lead(fields: dict[str, Any]) -> dict[str, Any]:
    return leads.new_document(fields, stage="inquiry")


def _rules() -> Any:
    fuzzy = SimpleNamespace(name="surname", kind="surname", fields=["lastName"], create=True)
    matching = SimpleNamespace(
        contact_strategy_for=lambda form: fuzzy if form == "fair" else None,
        lead_strategy_for=lambda form: DEFAULT_LEAD,
    )
    registry = SimpleNamespace(matching_kinds={"surname": SimpleNamespace(value=SameSurname())})
    return SimpleNamespace(current=SimpleNamespace(matching=matching, registry=registry))


async def test_partner_kind_finds_the_contact(db):
    rules = _rules()
    first = await capture.capture(
        db,
        rules=rules,
        pm=None,
        form_id="fair",
        fields={"email": "a@x.com", "lastName": "Berg"},
        make_lead=_new_lead,
    )
    second = await capture.capture(
        db,
        rules=rules,
        pm=None,
        form_id="fair",
        fields={"email": "b@y.com", "lastName": "berg"},
        make_lead=_new_lead,
    )
    assert first.contact_match.created and second.contact_match.matched
    assert second.contact_match.strategy == "surname"
    assert second.contact["_id"] == first.contact["_id"]
    assert second.contact["email"] == "b@y.com"
    assert await db.contacts.count_documents({}) == 1
