"""``allowEmail: false`` blocks every email, commercial and transactional (seed 000): every
email purpose keeps the contact out with its own reason, counted in ``Segment.exclusions`` and
named in ``segmentMembership``; a purpose that sends no email (profiling) is not affected."""

from __future__ import annotations

from .helpers import contact, create, members, membership

WHERE = {"fact": "contact.lastName", "op": "eq", "value": "Blocked"}


async def test_allow_email_false_blocks_every_email_purpose_with_its_own_reason(api):
    level = {"level": "PROFILING"}
    ok = await contact(api, "ok@example.com", lastName="Blocked", consent=level)
    blocked = await contact(
        api,
        "blocked@example.com",
        lastName="Blocked",
        consent=level,
        preferences={"allowBulkEmail": True, "allowEmail": False},
    )
    for purpose in ("commercial_email", "transactional_email", "profiling"):
        made = await create(api, name=f"blocked-{purpose}", purpose=purpose, where=WHERE)
        assert made["__typename"] == "SegmentPayload", made
    for purpose in ("commercial_email", "transactional_email"):
        name = f"blocked-{purpose}"
        assert await members(api, name) == [ok]
        data = await api.gql(
            "query($n: String!) { segment(name: $n) { exclusions { reason description count } } }",
            {"n": name},
        )
        counts = {e["reason"]: e["count"] for e in data["segment"]["exclusions"]}
        assert counts["email_not_allowed"] == 1 and counts["no_email"] == 0
        assert counts.get("bulk_email_not_allowed", 0) == 0
        why = await membership(api, blocked, name)
        assert why["matched"] is True and why["member"] is False
        assert why["excludedBy"] == ["email_not_allowed"]
        check = next(c for c in why["consent"] if c["reason"] == "email_not_allowed")
        assert check["excludes"] is True and "allowEmail" in check["description"]
        fine = await membership(api, ok, name)
        assert fine["member"] is True and fine["excludedBy"] == []
    # profiling sends nothing: allowEmail does not keep the contact out
    assert set(await members(api, "blocked-profiling")) == {ok, blocked}
    why = await membership(api, blocked, "blocked-profiling")
    assert why["member"] is True
    assert all(c["reason"] != "email_not_allowed" for c in why["consent"])
