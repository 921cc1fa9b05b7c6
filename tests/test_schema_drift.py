"""schema.graphql at the repository root is the exported schema: regenerate it on change with
``strawberry export-schema leadgraph.web.schema:schema --output schema.graphql``."""

from __future__ import annotations

from pathlib import Path

from leadgraph.web.schema import schema

ROOT = Path(__file__).resolve().parent.parent


def test_schema_graphql_is_up_to_date():
    committed = (ROOT / "schema.graphql").read_text()
    current = schema.as_str() + "\n"
    assert committed == current, (
        "schema.graphql is out of date: run "
        "`strawberry export-schema leadgraph.web.schema:schema --output schema.graphql`"
    )
