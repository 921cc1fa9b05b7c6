"""How big a rule file may be: the bounds the loader enforces before it builds anything.

A rule file is text an administrator (or anyone who can write to the rules directory) controls;
YAML aliases let a 1 KB file describe billions of nodes.  The loader counts while it composes
the YAML (an alias costs the size of what it repeats, every time it is used) and stops with a
``file:line:column`` error as soon as a bound is crossed, so a hostile file costs at most the
bound, never the expansion.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class RuleLimits:
    """Bounds on one rule file (every field is per file, except ``max_condition_depth``)."""

    #: Bytes of one file; larger files are not read (``LEADGRAPH_RULES_MAX_FILE_BYTES``).
    max_file_bytes: int = 1 << 20
    #: YAML nodes of one file with every alias expanded (an alias costs what it repeats).
    max_nodes: int = 100_000
    #: Uses of aliases (``*name``) in one file.
    max_aliases: int = 256
    #: Nesting of YAML mappings and sequences.
    max_depth: int = 100
    #: Nesting of conditions (``all`` / ``any`` / ``not`` / ``event.where``) in one rule.
    max_condition_depth: int = 32

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RuleLimits:
        """The defaults, with ``LEADGRAPH_RULES_MAX_FILE_BYTES`` applied when set."""
        env = os.environ if env is None else env
        raw = env.get("LEADGRAPH_RULES_MAX_FILE_BYTES")
        if not raw:
            return cls()
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(
                f"LEADGRAPH_RULES_MAX_FILE_BYTES must be a number, got {raw!r}"
            ) from None
        if value <= 0:
            raise ValueError("LEADGRAPH_RULES_MAX_FILE_BYTES must be positive")
        return cls(max_file_bytes=value)


DEFAULT_LIMITS = RuleLimits()
