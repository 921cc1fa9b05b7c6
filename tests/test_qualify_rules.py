"""Who may qualify a lead, and when (issue 20 point 6, seed 001): by default ``qualifyLead``
only qualifies a lead sales accepted (an owner and "sales accepted"), and only for the sales
and admin roles (the lifecycle's ``qualify_accepted_only`` and ``qualify_roles``); refusals are
typed and write nothing."""

from __future__ import annotations

from test_handoff import call, lead_at_sales_acceptance, stored


async def test_only_an_accepted_lead_and_only_sales_or_admin(api):
    _, _, lead = await lead_at_sales_acceptance(api)  # reached by its score: not accepted
    marketer = await call(api, "qualifyLead(id: $id)", role="marketer", id=lead)
    assert marketer == {
        "__typename": "ForbiddenError",
        "permission": "leads:qualify",
        "role": "marketer",
    }
    unaccepted = await call(api, "qualifyLead(id: $id)", role="sales", id=lead)
    assert unaccepted["__typename"] == "ConflictError"
    assert "sales accepted" in unaccepted["message"]
    assert (await stored(api, lead))["status"] == "open"
    assert await api.db["opportunities"].count_documents({}) == 0

    await call(api, "assignLead(id: $id)", role="sales", id=lead)  # sales accepts it
    again = await call(api, "qualifyLead(id: $id)", role="marketer", id=lead)
    assert again["__typename"] == "ForbiddenError"  # accepted, still not the marketer's call
    got = await call(api, "qualifyLead(id: $id)", role="sales", id=lead)
    assert got["lead"]["status"] == "QUALIFIED"
    assert got["lead"]["opportunity"]["owner"] == "test sales"
    assert await api.db["opportunities"].count_documents({}) == 1
