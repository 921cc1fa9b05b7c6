"""Read rule files: YAML with positions, pydantic validation, errors at file:line:column.

Every mapping and sequence parsed here remembers where each of its keys and items starts, so
a pydantic error's location (``("scoring", 0, "rules", 2, "points")``) is turned back into the
line and column of the offending text.
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from .models import RuleFile


@dataclass(frozen=True, order=True)
class RuleError:
    """One problem in the rule files, where it is and what was expected."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class RulesInvalid(Exception):
    """The rule files have errors; nothing of them was loaded."""

    def __init__(self, errors: list[RuleError]) -> None:
        self.errors = sorted(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


Mark = tuple[int, int]  # 1-based line and column


class PosDict(dict):  # type: ignore[type-arg]
    """A YAML mapping that knows where it, its keys and its values start."""

    mark: Mark = (1, 1)
    key_marks: dict[Any, Mark]
    value_marks: dict[Any, Mark]


class PosList(list):  # type: ignore[type-arg]
    mark: Mark = (1, 1)
    item_marks: list[Mark]


def _mark(node: yaml.Node) -> Mark:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Loader(yaml.SafeLoader):
    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[Mark, str]] = []


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> Any:
    data = PosDict()
    data.mark = _mark(node)
    data.key_marks = {}
    data.value_marks = {}
    yield data
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in data:
            loader.duplicates.append((_mark(key_node), f"duplicate key {key!r} in this mapping"))
        data[key] = loader.construct_object(value_node, deep=True)
        data.key_marks[key] = _mark(key_node)
        data.value_marks[key] = _mark(value_node)


def _construct_seq(loader: _Loader, node: yaml.SequenceNode) -> Any:
    data = PosList()
    data.mark = _mark(node)
    data.item_marks = [_mark(n) for n in node.value]
    yield data
    data.extend(loader.construct_object(n, deep=True) for n in node.value)


# YAML 1.2 booleans only: ``on:`` (a transition's triggers) and ``no`` stay strings.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


def locate(data: Any, loc: tuple[Any, ...], *, key: bool = False) -> Mark:
    """The position of the node at pydantic location ``loc`` (the nearest existing parent)."""
    mark: Mark = getattr(data, "mark", (1, 1))
    node = data
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, PosDict) and part in node:
            mark = node.key_marks[part] if (key and last) else node.value_marks[part]
            node = node[part]
        elif isinstance(node, PosList) and isinstance(part, int) and 0 <= part < len(node):
            mark = node.item_marks[part]
            node = node[part]
        # anything else (a union tag, a missing key) keeps the parent's position
    return mark


def _strip(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _type_at(root: type[BaseModel], loc: tuple[Any, ...]) -> Any:
    tp: Any = root
    for part in loc:
        tp = _strip(tp)
        origin = typing.get_origin(tp)
        if origin in (typing.Union, types.UnionType):
            members = [typing.get_args(m) for m in typing.get_args(tp)]
            tagged = {
                getattr(meta, "tag", None): args[0] for args in members if args for meta in args[1:]
            }
            if part in tagged:
                tp = tagged[part]
                continue
            options = [m for m in typing.get_args(tp) if m is not type(None)]
            tp = _strip(options[0]) if options else tp
            origin = typing.get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = next((f for n, f in tp.model_fields.items() if (f.alias or n) == part), None)
            if field is None:
                return None
            tp = field.annotation
        elif origin is list and isinstance(part, int):
            tp = typing.get_args(tp)[0]
        elif origin is dict:
            tp = typing.get_args(tp)[1]
        else:
            return None
    return _strip(tp)


def _expected_fields(loc: tuple[Any, ...]) -> list[str]:
    tp = _type_at(RuleFile, loc)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [f.alias or n for n, f in tp.model_fields.items()]
    return []


def _describe(error: Any) -> str:
    loc = tuple(error["loc"])
    field = next((p for p in reversed(loc) if isinstance(p, str) and p.islower()), None)
    kind = error["type"]
    if kind == "extra_forbidden":
        expected = _expected_fields(loc[:-1])
        hint = f"; expected one of: {', '.join(expected)}" if expected else ""
        return f"unknown field {loc[-1]!r}{hint}"
    if kind == "missing":
        return f"missing required field {loc[-1]!r}"
    if loc[-1:] == ("[key]",):  # a mapping key that is not one of the allowed names
        return f"{loc[-2]!r}: {error['msg'][0].lower()}{error['msg'][1:]}"
    where = f"{field}: " if field else ""
    got = error.get("input")
    shown = "" if isinstance(got, dict | list) else f" (got {got!r})"
    return f"{where}{error['msg'][0].lower()}{error['msg'][1:]}{shown}"


def parse_file(path: Path, name: str) -> tuple[RuleFile | None, Any, list[RuleError]]:
    """``(model, raw data with positions, errors)`` of one rule file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, None, [RuleError(name, 1, 1, f"cannot read the file: {exc}")]
    loader = _Loader(text)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return None, None, [RuleError(name, line, col, f"invalid YAML: {exc.problem}")]
    finally:
        loader.dispose()
    errors = [RuleError(name, *mark, msg) for mark, msg in loader.duplicates]
    if data is None:
        data = PosDict()
        data.key_marks, data.value_marks = {}, {}
    if not isinstance(data, dict):
        errors.append(
            RuleError(
                name,
                1,
                1,
                "expected a mapping of sections (matching, "
                "scoring, lifecycle, segments, tests) at the top of the file",
            )
        )
        return None, data, errors
    try:
        model = RuleFile.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            at_key = err["type"] == "extra_forbidden" or loc[-1:] == ("[key]",)
            line, col = locate(data, loc[:-1] if loc[-1:] == ("[key]",) else loc, key=at_key)
            errors.append(RuleError(name, line, col, _describe(err)))
        return None, data, errors
    return (None if errors else model), data, errors


def rule_files(directory: Path) -> list[Path]:
    """The rule files of a directory: ``*.yaml`` and ``*.yml``, sorted by name."""
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml"))


def __getattr__(name: str) -> Any:
    # ``from leadgraph.rules.loader import load_rules`` (the loader reads; ruleset checks).
    if name == "load_rules":
        from .ruleset import load_rules

        return load_rules
    raise AttributeError(name)
