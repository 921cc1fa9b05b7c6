"""Helpers for the rules tests: a copy of the shipped rules in a temporary directory (made
from the package's default rules, never from a directory an admin edits: tests/shipped.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

from shipped import SHIPPED

ROOT = Path(__file__).resolve().parents[2]
INVALID = Path(__file__).resolve().parent / "invalid"


def copy_rules(target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for path in SHIPPED.glob("*.yaml"):
        shutil.copy(path, target / path.name)
    return target
