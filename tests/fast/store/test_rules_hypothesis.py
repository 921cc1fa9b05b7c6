"""Property: for any contact documents and any condition on contact fields, the MongoDB filter
the condition compiles to finds exactly the documents its Python predicate accepts
(hypothesis shrinks a disagreement to the smallest documents and condition)."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from leadgraph.rules.models import Segment
from leadgraph.rules.ruleset import load_rules
from leadgraph.store.condition_filters import compiler_of
from pymongo import MongoClient
from rules.gen import CONTACT_FIELDS, CONTAINS, NOW
from rules.helpers import SHIPPED

RULES = load_rules(SHIPPED)
SKIP = object()


def _document() -> st.SearchStrategy[dict[str, Any]]:
    fields = {path: st.sampled_from([*pool, SKIP]) for path, pool in CONTACT_FIELDS.items()}

    def build(values: dict[str, Any]) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        for path, value in values.items():
            if value is SKIP:
                continue
            *parents, last = path.split(".")
            target = doc
            for part in parents:
                target = target.setdefault(part, {})
            target[last] = value
        return doc

    return st.fixed_dictionaries(fields).map(build)


def _compare() -> st.SearchStrategy[dict[str, Any]]:
    def for_field(path: str) -> st.SearchStrategy[dict[str, Any]]:
        pool = CONTACT_FIELDS[path]
        scalars = [v for v in pool if v is not None and not isinstance(v, bool | list)]
        fact = f"contact.{path}"
        options = [
            st.fixed_dictionaries(
                {
                    "fact": st.just(fact),
                    "op": st.sampled_from(["eq", "ne"]),
                    "value": st.sampled_from(pool),
                }
            ),
            st.fixed_dictionaries(
                {
                    "fact": st.just(fact),
                    "op": st.sampled_from(["in", "not_in"]),
                    "value": st.lists(st.sampled_from(pool), min_size=1, max_size=3),
                }
            ),
            st.fixed_dictionaries(
                {"fact": st.just(fact), "op": st.just("exists"), "value": st.booleans()}
            ),
            st.fixed_dictionaries(
                {
                    "fact": st.just(fact),
                    "op": st.just("contains"),
                    "value": st.sampled_from(CONTAINS),
                }
            ),
        ]
        if scalars:
            options.append(
                st.fixed_dictionaries(
                    {
                        "fact": st.just(fact),
                        "op": st.sampled_from(["gt", "gte", "lt", "lte"]),
                        "value": st.sampled_from(scalars),
                    }
                )
            )
        return st.one_of(options)

    return st.sampled_from(sorted(CONTACT_FIELDS)).flatmap(for_field)


CONDITIONS = st.recursive(
    _compare(),
    lambda inner: st.one_of(
        st.fixed_dictionaries({"all": st.lists(inner, min_size=1, max_size=3)}),
        st.fixed_dictionaries({"any": st.lists(inner, min_size=1, max_size=3)}),
        st.fixed_dictionaries({"not": inner}),
    ),
    max_leaves=6,
)


def test_filter_and_predicate_agree(mongo_uri: str) -> None:
    client: MongoClient = MongoClient(mongo_uri, tz_aware=True)
    collection = client[f"h_{uuid.uuid4().hex[:12]}"]["contacts"]

    @settings(
        database=None,
        max_examples=150,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(docs=st.lists(_document(), min_size=1, max_size=8), raw=CONDITIONS)
    def check(docs: list[dict[str, Any]], raw: dict[str, Any]) -> None:
        collection.delete_many({})
        collection.insert_many([dict(d) for d in docs])
        stored = list(collection.find())
        cond = Segment.model_validate({"name": "h", "where": raw}).where
        assert cond is not None
        test = RULES.compiler.predicate(cond)
        expected = {d["_id"] for d in stored if test({"contact": d}, NOW)}
        found = collection.find(compiler_of(RULES).filter(cond, "contact"), {"_id": 1})
        assert {d["_id"] for d in found} == expected

    try:
        check()
    finally:
        client.drop_database(collection.database.name)
        client.close()
