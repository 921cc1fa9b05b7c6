"""Read rule files: YAML with positions, pydantic validation, errors at file:line:column.

Every mapping and sequence parsed here remembers where each of its keys and items starts, so
a pydantic error's location (``("scoring", 0, "rules", 2, "points")``) is turned back into the
line and column of the offending text.
"""

from __future__ import annotations

import os
import re
import stat
import types
import typing
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from .limits import DEFAULT_LIMITS, RuleLimits
from .models import RuleFile


@dataclass(frozen=True, order=True)
class RuleError:
    """One problem in the rule files, where it is and what was expected."""

    file: str
    line: int
    column: int
    message: str
    #: Where in the checked document (pydantic-style location), for errors about API input.
    loc: tuple[Any, ...] = field(default=(), compare=False)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class RulesInvalid(Exception):
    """The rule files have errors; nothing of them was loaded."""

    def __init__(self, errors: list[RuleError]) -> None:
        self.errors = sorted(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


Mark = tuple[int, int]  # 1-based line and column


class PosDict(dict):
    """A YAML mapping that knows where it, its keys and its values start."""

    mark: Mark = (1, 1)
    key_marks: dict[Any, Mark]
    value_marks: dict[Any, Mark]


class PosList(list):
    mark: Mark = (1, 1)
    item_marks: list[Mark]


def _mark(node: yaml.Node) -> Mark:
    return node.start_mark.line + 1, node.start_mark.column + 1


class LimitExceeded(yaml.MarkedYAMLError):
    """A rule file crossed one of its :class:`~leadgraph.rules.limits.RuleLimits`."""


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader that counts what it composes and stops at the limits.

    ``total`` is the number of nodes composed so far with every alias expanded: an alias adds
    the size of the node it repeats (remembered when that anchored node was composed).  The
    node graph itself stays as small as the text, so the check runs before anything is
    constructed or validated.
    """

    def __init__(self, stream: Any, limits: RuleLimits = DEFAULT_LIMITS) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[Mark, str]] = []
        self.limits = limits
        self.total = 0
        self.aliases = 0
        self.depth = 0
        self.deepest = 0
        self.sizes: dict[str, tuple[int, int]] = {}  # anchor -> (expanded size, height)
        self.constructing: Any = None

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        self.constructing = node.start_mark  # where a value that cannot be built is
        return super().construct_object(node, deep)

    def _fail(self, message: str, mark: Any) -> typing.NoReturn:
        raise LimitExceeded(problem=message, problem_mark=mark)

    def _count(self, nodes: int, mark: Any) -> None:
        self.total += nodes
        if self.total > self.limits.max_nodes:
            self._fail(
                f"the file expands to more than {self.limits.max_nodes} YAML nodes "
                "(aliases count the size of what they repeat, every time they are used)",
                mark,
            )

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            node = super().compose_node(parent, index)
            self.aliases += 1
            if self.aliases > self.limits.max_aliases:
                self._fail(
                    f"more than {self.limits.max_aliases} aliases in one file", event.start_mark
                )
            if event.anchor not in self.sizes:
                self._fail(f"alias *{event.anchor} is used inside its own anchor", event.start_mark)
            size, height = self.sizes[event.anchor]
            if self.depth + height > self.limits.max_depth:
                self._fail(
                    f"alias *{event.anchor} nests deeper than {self.limits.max_depth} levels",
                    event.start_mark,
                )
            self.deepest = max(self.deepest, self.depth + height)
            self._count(size, event.start_mark)
            return node
        self.depth += 1
        if self.depth > self.limits.max_depth:
            self._fail(f"nested deeper than {self.limits.max_depth} levels", event.start_mark)
        start, outer_deepest = self.total, self.deepest
        self.deepest = self.depth
        self._count(1, event.start_mark)
        node = super().compose_node(parent, index)
        if event.anchor is not None:
            self.sizes[event.anchor] = (self.total - start, self.deepest - self.depth + 1)
        self.deepest = max(outer_deepest, self.deepest)
        self.depth -= 1
        return node


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> Any:
    data = PosDict()
    data.mark = _mark(node)
    data.key_marks = {}
    data.value_marks = {}
    yield data
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, Hashable):
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                "found an unhashable key",
                key_node.start_mark,
            )
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


_TAGS = frozenset(("all", "any", "not", "event", "fact"))


def locate(data: Any, loc: tuple[Any, ...], *, key: bool = False) -> Mark:
    """The position of the node at pydantic location ``loc`` (the nearest existing parent)."""
    mark: Mark = getattr(data, "mark", (1, 1))
    node = data
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, PosDict) and not last and loc[i + 1] in node and part in _TAGS:
            continue  # a condition's union tag (`fact` of {fact, op, value}), not its key
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


def _line_col(text: str, index: int) -> Mark:
    before = text[: max(index, 0)]
    return before.count("\n") + 1, index - (before.rfind("\n") + 1) + 1


def _yaml_error(name: str, text: str, exc: yaml.YAMLError) -> RuleError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        if isinstance(exc, LimitExceeded):
            return RuleError(name, line, col, f"limit exceeded: {exc.problem}")
        return RuleError(name, line, col, f"invalid YAML: {exc.problem or exc.context}")
    if isinstance(exc, yaml.reader.ReaderError):  # a NUL byte, a control character
        line, col = _line_col(text, exc.position)
        char = f"#x{exc.character:04x}" if isinstance(exc.character, int) else repr(exc.character)
        return RuleError(name, line, col, f"invalid YAML: control character {char} is not allowed")
    return RuleError(name, 1, 1, f"invalid YAML: {exc}")


def parse_text(
    text: str, name: str, limits: RuleLimits = DEFAULT_LIMITS
) -> tuple[RuleFile | None, Any, list[RuleError]]:
    """``(model, raw data with positions, errors)`` of one rule file's text.

    Never raises for anything the text holds: every failure is a :class:`RuleError`.
    """
    try:
        loader = _Loader(text, limits)  # the reader refuses control characters here
    except yaml.YAMLError as exc:
        return None, None, [_yaml_error(name, text, exc)]
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        return None, None, [_yaml_error(name, text, exc)]
    except RecursionError:
        return None, None, [RuleError(name, 1, 1, "limit exceeded: nested too deeply")]
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. an integer of 5,000 digits
        mark = loader.constructing
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return None, None, [RuleError(name, line, col, f"invalid value: {exc}")]
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
    except RecursionError:
        return None, data, [RuleError(name, 1, 1, "limit exceeded: nested too deeply")]
    return (None if errors else model), data, errors


def parse_bytes(
    data: bytes, name: str, limits: RuleLimits = DEFAULT_LIMITS
) -> tuple[RuleFile | None, Any, list[RuleError]]:
    """Decode (UTF-8) and parse one rule file's content."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start].decode("utf-8", "replace")
        line, col = _line_col(before, len(before))
        return None, None, [RuleError(name, line, col, "not UTF-8 text: cannot read the file")]
    return parse_text(text, name, limits)


def read_file(
    path: Path, root: Path, limits: RuleLimits = DEFAULT_LIMITS
) -> tuple[bytes | None, RuleError | None]:
    """The bytes of one rule file, or why it is not read.

    Only regular files under ``root`` are read (a symlink may point to one); a FIFO, a device,
    a directory, a symlink leading out of ``root`` or a file over ``limits.max_file_bytes`` is
    an error, never opened for reading (a FIFO would block the reader).
    """
    name = path.name

    def error(message: str) -> tuple[None, RuleError]:
        return None, RuleError(name, 1, 1, message)

    try:
        real = path.resolve(strict=True)
        if not real.is_relative_to(root.resolve(strict=True)):
            return error("not read: a symlink to a file outside the rules directory")
        info = os.stat(real)
        if not stat.S_ISREG(info.st_mode):
            return error("not read: not a regular file (only regular files are rule files)")
        if info.st_size > limits.max_file_bytes:
            return error(
                f"rule file too large: {info.st_size} bytes (at most {limits.max_file_bytes})"
            )
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced since the check
                return error("not read: not a regular file (only regular files are rule files)")
            with os.fdopen(fd, "rb", closefd=False) as stream:
                data = stream.read(limits.max_file_bytes + 1)
        finally:
            os.close(fd)
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return error(f"cannot read the file: {reason}")
    if len(data) > limits.max_file_bytes:
        return error(f"rule file too large: more than {limits.max_file_bytes} bytes")
    return data, None


def rule_files(directory: Path) -> list[Path]:
    """The rule files of a directory: every ``*.yaml`` and ``*.yml`` entry, sorted by name.

    Names starting with a dot (editor lock and backup files) are ignored.  Entries that are not
    regular files are listed too: :func:`read_file` reports them instead of skipping them.
    """
    return sorted(
        p
        for p in directory.iterdir()
        if p.suffix in (".yaml", ".yml") and not p.name.startswith(".")
    )
