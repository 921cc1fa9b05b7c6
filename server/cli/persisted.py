"""``leadgraph persisted add FILE... | list``: the allow-list of persisted queries."""

from __future__ import annotations

from pathlib import Path

import click

from ..db import Connection
from ..store import persisted_queries as store
from ..web.persisted import read_queries
from .common import with_database


@click.group()
def persisted() -> None:
    """Persisted queries: register a front end's queries at deploy (the allow-list that
    LEADGRAPH_PERSISTED_ONLY=1 enforces), list them."""


@persisted.command("add")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@with_database
async def persisted_add(conn: Connection, files: tuple[Path, ...]) -> None:
    """Register the queries of FILES (.graphql documents, an Apollo persisted query manifest
    or a JSON map of hash to query).  Every query is checked against the schema (and its hash)
    first: one bad query registers nothing.  Prints each hash."""
    queries = []
    for path in files:
        try:
            queries.extend(read_queries(path))
        except (ValueError, OSError) as exc:
            raise click.ClickException(str(exc)) from None
    added = 0
    for query, name in queries:
        new = await store.add(conn.db, query, "cli", name)
        added += new
        click.echo(f"{store.query_hash(query)}\t{'added' if new else 'known'}\t{name or '-'}")
    click.echo(f"{added} added, {len(queries) - added} already registered", err=True)


@persisted.command("list")
@with_database
async def persisted_list(conn: Connection) -> None:
    """List registered queries: hash, source (cli or client), operation names, registered at."""
    for doc in await store.list_all(conn.db):
        click.echo(
            f"{doc['_id']}\t{doc.get('source', '-')}\t{doc.get('name') or '-'}\t"
            f"{doc['createdAt'].isoformat()}"
        )
