"""Free-form JSON stored as given (interaction ``details``): what makes a value storable.

MongoDB reads a field name starting with ``$`` as an operator and one holding ``.`` as a path,
so such names would make the stored value unreachable by filters and rules (or be refused by
the server); BSON refuses NUL in names and nesting beyond 100 levels.  Values are checked here
before storage and refused with the path of each offending name.
"""

from __future__ import annotations

import json
from typing import Any

MAX_BYTES = 16_384  # as JSON text
MAX_DEPTH = 16  # objects and arrays within one another


def problems(value: Any, path: str, max_depth: int = MAX_DEPTH) -> list[tuple[str, str]]:
    """``(path, message)`` for every field name or nesting level that cannot be stored."""
    out: list[tuple[str, str]] = []
    stack: list[tuple[Any, str, int]] = [(value, path, 1)]
    while stack:
        item, where, depth = stack.pop()
        if not isinstance(item, dict | list):
            continue
        if depth > max_depth:
            out.append((where, f"must not nest objects and arrays more than {max_depth} deep"))
            continue
        if isinstance(item, list):
            stack.extend((v, f"{where}.{i}", depth + 1) for i, v in enumerate(item))
            continue
        for key, child in item.items():
            name = str(key)
            if name.startswith("$") or "." in name or "\0" in name:
                out.append(
                    (f"{where}.{name}", "field names must not start with '$' or hold '.' or NUL")
                )
                continue
            stack.append((child, f"{where}.{name}", depth + 1))
    return sorted(out)


def too_large(value: Any, limit: int = MAX_BYTES) -> bool:
    """True when ``value`` as JSON text is longer than ``limit`` bytes."""
    return len(json.dumps(value, default=str).encode()) > limit
