"""The survivorship rules applied (pure): which value a field keeps when records become one.

Two roads use them, with the policies of the ``survivorship:`` section
(:class:`~leadgraph.rules.models.Survivorship`): a merge of duplicate contacts
(:func:`leadgraph.services.merging.survive`) and the rows of one import file that match the
same record (:func:`survive_rows`, through the matching service's batched find-or-create).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .models import Policy, Survivorship


def empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def pick(
    policy: Policy,
    mine: Any,
    *,
    others_newest: Sequence[Any],
    newest: Sequence[Any],
    oldest: Sequence[Any],
    everyone: Sequence[Any],
) -> Any:
    """One field's value under ``policy``: ``mine`` is the survivor's; ``others_newest`` the
    other records' values, most recently updated first; ``newest`` / ``oldest`` every record's
    (survivor included), most recently updated / earliest created first; ``everyone`` every
    record's, the survivor's first."""
    if policy == "keep":
        return mine
    if policy == "survivor":
        if not empty(mine):
            return mine
        return next((v for v in others_newest if not empty(v)), mine)
    if policy == "newest":
        return next((v for v in newest if not empty(v)), mine)
    if policy == "oldest":
        return next((v for v in oldest if not empty(v)), mine)
    if policy == "union":
        return list(dict.fromkeys(i for v in everyone if isinstance(v, list) for i in v))
    if policy == "any":
        return any(bool(v) for v in everyone)
    return all(bool(v) for v in everyone)  # all


def _paths(row: dict[str, Any]) -> list[str]:
    """A row's field paths: a field holding an object is one path per member."""
    out = []
    for name, value in row.items():
        if isinstance(value, dict):
            out += [f"{name}.{sub}" for sub in value]
        else:
            out.append(name)
    return out


def _get(row: dict[str, Any], path: str) -> tuple[bool, Any]:
    value: Any = row
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return False, None
        value = value[part]
    return True, value


def survive_rows(rules: Survivorship, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The fields of one record given by several rows of a file, in file order: the first
    row is the survivor, each later row a newer duplicate (a row says nothing of the fields it
    has no column for).  A later ``ana,lopez,ANA.LOPEZ@...`` does not overwrite an earlier
    ``Ana,López,ana.lopez@...`` unless the rules say that field takes the newest value."""
    if len(rows) == 1:
        return dict(rows[0])
    out: dict[str, Any] = {}
    for path in dict.fromkeys(p for row in rows for p in _paths(row)):
        given = [value for has, value in (_get(row, path) for row in rows) if has]
        has_mine, mine = _get(rows[0], path)
        others = given[1:] if has_mine else given
        value = pick(
            rules.policy(path),
            mine,
            others_newest=others[::-1],
            newest=given[::-1],
            oldest=given,
            everyone=given,
        )
        if empty(value) and not has_mine:
            continue
        name, _, sub = path.partition(".")
        if sub:
            out.setdefault(name, {})[sub] = value
        else:
            out[name] = value
    return out
