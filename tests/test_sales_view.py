"""Sales views hide marketing-only contacts (issue 20 point 8, DOMAIN "marketingOnly"): for a
sales key ``contacts`` leaves them out unless the filter says ``includeMarketingOnly: true``
(or names ``marketingOnly``); other roles see every contact, and ``contact(id:)`` still
answers for one."""

from __future__ import annotations

from foundation import create_contact

LIST = """query($f: ContactFilter) { contacts(first: 50, filter: $f) {
  totalCount edges { node { id } } } }"""
ONE = "query($id: ID!) { contact(id: $id) { id marketingOnly } }"


async def _ids(api, role, f=None):
    data = (await api.gql(LIST, {"f": f}, role=role))["contacts"]
    ids = {e["node"]["id"] for e in data["edges"]}
    assert data["totalCount"] == len(ids)
    return ids


async def test_sales_contacts_leave_marketing_only_ones_out_unless_asked(api):
    customer = await create_contact(api, email="buyer@x.com", lastName="Buyer")
    ghost = await create_contact(api, email="ghost@x.com", lastName="Ghost", marketingOnly=True)
    assert await _ids(api, "sales") == {customer}
    assert await _ids(api, "sales", {"includeMarketingOnly": True}) == {customer, ghost}
    assert await _ids(api, "sales", {"includeMarketingOnly": False}) == {customer}
    assert await _ids(api, "sales", {"marketingOnly": True}) == {ghost}
    assert await _ids(api, "sales", {"nameContains": "gho"}) == set()
    for role in ("admin", "marketer"):
        assert await _ids(api, role) == {customer, ghost}
    one = (await api.gql(ONE, {"id": ghost}, role="sales"))["contact"]
    assert one == {"id": ghost, "marketingOnly": True}
