"""issueSubscriptionToken's expiresInDays is bounded (1..365 days) before any date arithmetic:
the largest GraphQL Int is a ValidationError naming the argument, never an OverflowError."""

from __future__ import annotations

from foundation import create_contact

from .helpers import TOKEN


async def test_expires_in_days_out_of_bounds_is_a_validation_error(api):
    cid = await create_contact(api, lastName="Lee", email="lee@example.com")
    for days in (2147483647, -2147483648, 0, 366):
        out = (await api.gql(TOKEN, {"c": cid, "d": days}))["issueSubscriptionToken"]
        assert out["__typename"] == "ValidationError", (days, out)
        assert "expiresInDays" in out["message"] and "365" in out["message"]
    for days in (1, 365):
        out = (await api.gql(TOKEN, {"c": cid, "d": days}))["issueSubscriptionToken"]
        assert out["__typename"] == "SubscriptionTokenPayload", (days, out)
