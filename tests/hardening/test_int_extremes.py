"""Every Int a client can send reaches no Python code that breaks on it (issue 16 point 8): for
each Query and Mutation field, read from the schema's introspection, each Int argument (and
each Int field of its input objects) is sent the largest and the smallest GraphQL Int.  The
answer is data or a typed error, never an internal error or a 500."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from conftest import Api

EXTREMES = (2_147_483_647, -2_147_483_648)

INTROSPECTION = """
{ __schema {
    queryType { name } mutationType { name }
    types { name kind
      fields { name type { ...T } args { name type { ...T } } }
      inputFields { name type { ...T } }
      enumValues { name } } } }
fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }
"""


def named(t: dict[str, Any]) -> dict[str, Any]:
    while t.get("ofType"):
        t = t["ofType"]
    return t


def required(t: dict[str, Any]) -> bool:
    return t["kind"] == "NON_NULL"


def is_list(t: dict[str, Any]) -> bool:
    while t["kind"] == "NON_NULL":
        t = t["ofType"]
    return t["kind"] == "LIST"


def type_text(t: dict[str, Any]) -> str:
    if t["kind"] == "NON_NULL":
        return type_text(t["ofType"]) + "!"
    if t["kind"] == "LIST":
        return f"[{type_text(t['ofType'])}]"
    return str(t["name"])


class Values:
    """Values for the arguments a probe does not aim at: required ones filled in (ids of
    records that exist, so that the aimed-at Int gets as far as it can)."""

    def __init__(self, types: dict[str, dict[str, Any]], ids: dict[str, str]) -> None:
        self.types, self.ids = types, ids

    def value(self, name: str, t: dict[str, Any], depth: int = 0) -> Any:
        base = named(t)
        kind, type_name = base["kind"], base["name"]
        if kind == "SCALAR":
            one: Any = {
                "ID": self.ids.get(name, self.ids["contact"]),
                "String": "x",
                "Boolean": False,
                "Int": 1,
                "Float": 1.0,
                "DateTime": "2026-01-01T00:00:00Z",
                "JSON": {},
            }.get(type_name, "x")
        elif kind == "ENUM":
            one = self.types[type_name]["enumValues"][0]["name"]
        else:
            one = self.input_object(type_name, depth)
        return [one] if is_list(t) else one

    def input_object(self, type_name: str, depth: int, aim: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in self.types[type_name]["inputFields"]:
            if f["name"] == aim:
                continue
            if required(f["type"]) and depth < 4:
                out[f["name"]] = self.value(f["name"], f["type"], depth + 1)
        return out


def int_paths(
    types: dict[str, dict[str, Any]], type_name: str, depth: int = 0
) -> Iterator[list[str]]:
    """Paths to the Int fields of an input object (nested input objects included)."""
    for f in types[type_name]["inputFields"]:
        base = named(f["type"])
        if base["name"] == "Int":
            yield [f["name"]]
        elif base["kind"] == "INPUT_OBJECT" and depth < 3:
            for rest in int_paths(types, base["name"], depth + 1):
                yield [f["name"], *rest]


def document(op: str, field: dict[str, Any], names: set[str]) -> str:
    """``op`` calling ``field`` with the arguments ``names``, each a variable of its type."""
    args = [a for a in field["args"] if a["name"] in names]
    declared = ", ".join(f"${a['name']}: {type_text(a['type'])}" for a in args)
    passed = ", ".join(f"{a['name']}: ${a['name']}" for a in args)
    base = named(field["type"])
    selection = " { __typename }" if base["kind"] in ("OBJECT", "UNION", "INTERFACE") else ""
    return f"{op}({declared}) {{ {field['name']}({passed}){selection} }}"


Probe = tuple[str, str, dict[str, Any], dict[str, Any], list[str]]


def probes(types: dict[str, dict[str, Any]], root: str, op: str, values: Values) -> Iterator[Probe]:
    """``(label, document, other variables, aimed argument, path in it)`` for every Int
    reachable from an argument of a ``root`` field (path ``[]``: the argument is the Int)."""
    for field in types[root]["fields"]:
        for arg in field["args"]:
            others = {
                a["name"]: values.value(a["name"], a["type"])
                for a in field["args"]
                if a is not arg and required(a["type"])
            }
            doc = document(op, field, {*others, arg["name"]})
            arg_base = named(arg["type"])
            if arg_base["name"] == "Int":
                yield f"{field['name']}({arg['name']})", doc, others, arg, []
            elif arg_base["kind"] == "INPUT_OBJECT":
                for path in int_paths(types, arg_base["name"]):
                    label = f"{field['name']}({arg['name']}.{'.'.join(path)})"
                    yield label, doc, others, arg, path


def place(value: Any, path: list[str], extreme: int) -> Any:
    """``value`` (an input object, or a list of one) with ``extreme`` at ``path``."""
    if isinstance(value, list):
        return [place(value[0] if value else {}, path, extreme)]
    out = dict(value)
    if len(path) == 1:
        out[path[0]] = extreme
    else:
        out[path[0]] = place(out.get(path[0], {}), path[1:], extreme)
    return out


async def setup_ids(api: Api) -> dict[str, str]:
    contact = await api.gql(
        'mutation { createContact(input: {lastName: "Extreme", email: "x@example.com"}) '
        "{ ... on ContactPayload { contact { id } } } }"
    )
    cid = contact["createContact"]["contact"]["id"]
    return {"contact": cid, "record": cid, "id": cid}


async def test_the_largest_and_smallest_int_never_reach_an_internal_error(api: Api) -> None:
    schema = (await api.gql(INTROSPECTION))["__schema"]
    types: dict[str, dict[str, Any]] = {t["name"]: t for t in schema["types"]}
    values = Values(types, await setup_ids(api))
    sent, failures = 0, []
    roots = [(schema["queryType"]["name"], "query"), (schema["mutationType"]["name"], "mutation")]
    for root, op in roots:
        for label, doc, others, arg, path in probes(types, root, op, values):
            aim = arg["name"]
            for extreme in EXTREMES:
                given = dict(others)
                given[aim] = (
                    place(values.value(aim, arg["type"]), path, extreme) if path else extreme
                )
                answer = await api.post(doc, given)
                sent += 1
                body = answer.json() if answer.status_code != 500 else {}
                codes = {(e.get("extensions") or {}).get("code") for e in body.get("errors") or []}
                if answer.status_code >= 500 or "INTERNAL_SERVER_ERROR" in codes:
                    failures.append(f"{label} = {extreme}: {answer.text[:300]}")
    assert sent >= 30  # the sweep found the arguments (13 root fields take an Int today)
    assert not failures, "\n".join(failures)


async def test_a_records_connections_refuse_the_extremes_by_name(api: Api) -> None:
    ids = await setup_ids(api)
    query = """query($id: ID!, $n: Int) { node(id: $id) { ... on Contact {
        leads(first: $n) { totalCount } interactions(last: $n) { totalCount }
        opportunities(first: $n) { totalCount } } } }"""
    for extreme in EXTREMES:
        answer = await api.post(query, {"id": ids["contact"], "n": extreme})
        assert answer.status_code == 200, answer.text
        errors = answer.json()["errors"]
        assert {e["extensions"]["code"] for e in errors} == {"BAD_USER_INPUT"}, errors
        assert {e["message"].split(":")[0] for e in errors} <= {"first", "last"}
