"""docs/operations.md's security model names only settings that exist: each
``LEADGRAPH_<NAME>`` it mentions is a field of Settings (or the rule files' size limit), read
from the environment under that name."""

from __future__ import annotations

import re
from dataclasses import fields

from conftest import ROOT
from leadgraph.config import Settings
from leadgraph.rules.limits import RuleLimits

ELSEWHERE = {"RULES_MAX_FILE_BYTES"}  # RuleLimits.from_env reads it


def section() -> str:
    text = (ROOT / "docs" / "operations.md").read_text()
    start = text.index("## Security model")
    return text[start : text.index("\n## ", start + 1)]


def test_every_setting_the_security_model_names_exists() -> None:
    names = set(re.findall(r"LEADGRAPH_([A-Z_]+)", section()))
    assert len(names) >= 25  # the section lists the limits
    known = {f.name.upper() for f in fields(Settings)}
    missing = sorted(names - known - ELSEWHERE)
    assert not missing, f"not settings: {missing}"


def test_each_named_setting_is_read_from_the_environment() -> None:
    for name in sorted(set(re.findall(r"LEADGRAPH_([A-Z_]+)", section())) - ELSEWHERE):
        field = next(f for f in fields(Settings) if f.name.upper() == name)
        if str(field.type) not in ("int", "float"):  # flags and lists: read by their name
            assert f'"LEADGRAPH_{name}"' in (ROOT / "server" / "config.py").read_text(), name
            continue
        default = getattr(Settings(), field.name)
        changed = Settings.from_env({f"LEADGRAPH_{name}": str(default + 1)})
        assert getattr(changed, field.name) == default + 1, name
    assert RuleLimits.from_env({"LEADGRAPH_RULES_MAX_FILE_BYTES": "1234"}).max_file_bytes == 1234
