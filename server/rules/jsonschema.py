"""The JSON Schema of a rule file, for editor completion (``rules.schema.json``).

It describes shape only; names that depend on the other files and the installed plugins
(strategy kinds, facts, stages) are checked when the rules load.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .models import RuleFile

SCHEMA_FILE = Path(__file__).resolve().parent.parent.parent / "rules.schema.json"
SCHEMA_ID = "https://leadgraph.dev/rules.schema.json"


def rules_schema() -> dict[str, Any]:
    schema = RuleFile.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "leadgraph rule file",
        **schema,
    }


def schema_text() -> str:
    return json.dumps(rules_schema(), indent=2, sort_keys=True) + "\n"
