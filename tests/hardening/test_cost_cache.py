"""The cost of a request is kept per document, operation and variables (web/cost.CostCache):
a repeated request is priced once, and every limit still holds for it -- page sizes, the
budget and the cache's own bound.  (The rate limit is charged per request from the kept cost:
tests/hardening/test_cost.py's 429 test sends one page twice.)"""

from __future__ import annotations

from typing import Any

PAGE = "query($n: Int) { contacts(first: $n) { edges { node { id } } } }"
COSTLY = """{ contacts(first: 100) { edges { node {
  leads(first: 100) { edges { node { id topic } } }
  interactions(first: 100) { edges { node { type } } } } } } }"""  # 70,401 points


def costs_of(server: Any) -> Any:
    return server.state.leadgraph.schema.costs


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    (error,) = body["errors"]
    return error


async def test_a_repeated_request_is_priced_once_and_costs_the_same(api, server):
    costs = costs_of(server)
    first = (await api.post(PAGE, {"n": 7})).json()
    pricings = costs.pricings
    again = (await api.post(PAGE, {"n": 7})).json()
    assert costs.pricings == pricings  # from the cache
    assert (
        again["extensions"]["cost"]
        == first["extensions"]["cost"]
        == {
            "requested": 1 + 7 * 3,
            "budget": 50_000,
        }
    )
    other = (await api.post(PAGE, {"n": 8})).json()  # other variables: priced anew
    assert costs.pricings == pricings + 1
    assert other["extensions"]["cost"]["requested"] == 1 + 8 * 3


async def test_limits_hold_for_a_request_priced_before(api, server):
    costs = costs_of(server)
    for _ in range(3):  # over the page size: refused every time, never kept
        error = only_error((await api.post(PAGE, {"n": 101})).json())
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
    for _ in range(3):  # over the budget: refused every time, the first pricing kept
        error = only_error((await api.post(COSTLY)).json())
        assert error["extensions"] == {
            "code": "COST_LIMIT_EXCEEDED",
            "cost": 70_401,
            "budget": 50_000,
        }
    pricings = costs.pricings
    only_error((await api.post(COSTLY)).json())
    assert costs.pricings == pricings


async def test_the_cache_stays_within_its_bound(api, server, monkeypatch):
    costs = costs_of(server)
    monkeypatch.setattr(costs, "maxsize", 3)
    monkeypatch.setattr(costs, "_kept", type(costs._kept)())
    for n in range(1, 9):
        body = (await api.post(PAGE, {"n": n})).json()
        assert body["extensions"]["cost"]["requested"] == 1 + n * 3
        assert len(costs) <= 3
    # variables too long to keep as a key are priced every time and take no room
    pricings = costs.pricings
    for _ in range(2):
        body = (await api.post(PAGE, {"n": 2, "note": "x" * 5000})).json()
        assert body["extensions"]["cost"]["requested"] == 7
    assert costs.pricings == pricings + 2 and len(costs) == 3
