"""Layering: only ``server/store/`` talks to MongoDB (``server/db.py`` opens the connection,
runs transactions and creates indexes).  An AST scan of ``server/`` finds every collection
method called, and every database subscripted (``db["leads"]``), anywhere else."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

SERVER = ROOT / "server"
ALLOWED = {"server/db.py"}

# pymongo collection (and database) methods that send a command to the server
COLLECTION_METHODS = {
    "aggregate",
    "aggregate_raw_batches",
    "bulk_write",
    "count_documents",
    "create_index",
    "create_indexes",
    "create_search_index",
    "delete_many",
    "delete_one",
    "distinct",
    "drop",
    "drop_index",
    "drop_indexes",
    "estimated_document_count",
    "find",
    "find_one",
    "find_one_and_delete",
    "find_one_and_replace",
    "find_one_and_update",
    "find_raw_batches",
    "get_collection",
    "index_information",
    "insert_many",
    "insert_one",
    "list_indexes",
    "rename",
    "replace_one",
    "update_many",
    "update_one",
    "watch",
}

# Accesses that look like the database's but are not, or that a contract requires.
NOT_COLLECTIONS = {
    ("server/web/runtime.py", "rules.watch"),  # the rules manager's file watcher
    ("server/services/matching.py", "self.find"),  # the matching service's fuzzy find
    ("server/services/importing.py", "matching.find"),  # the same, asked by the importer
    # a fuzzy matching kind's ``find`` is handed the collection (contracts.FuzzyMatchingKind)
    ("server/services/matching.py", "self.db[collection]"),
}

# Files other lanes of the layering work (issue 8) are still moving into store/: each entry
# goes when its file is clean (test_pending_files_still_need_their_exemption says when).
PENDING: dict[str, str] = {}


def _store_modules(tree: ast.Module) -> set[str]:
    """Names a module binds to ``leadgraph.store`` modules (their functions are the store's)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[-1] == "store":
            names.update(alias.asname or alias.name for alias in node.names)
    return names


def _is_database(node: ast.expr) -> bool:
    """``db``, ``self.db``, ``info.context.db``, ``conn.db``: a database handle by name."""
    return (isinstance(node, ast.Name) and node.id == "db") or (
        isinstance(node, ast.Attribute) and node.attr == "db"
    )


def offenders(path: Path) -> list[str]:
    """``path:line: code`` of every database access in one module of ``server/``."""
    return scan(path.read_text(), path.relative_to(ROOT).as_posix())


def scan(source: str, rel: str) -> list[str]:
    """``rel:line: code`` of every database access in ``source`` (the module at ``rel``)."""
    tree = ast.parse(source, filename=rel)
    store_modules = _store_modules(tree)
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and _is_database(node.value):
            if (rel, ast.unparse(node)) in NOT_COLLECTIONS:
                continue
            found.append(f"{rel}:{node.lineno}: {ast.unparse(node)}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in COLLECTION_METHODS
        ):
            receiver = node.func.value
            if isinstance(receiver, ast.Name) and receiver.id in store_modules:
                continue
            if (rel, ast.unparse(node.func)) in NOT_COLLECTIONS:
                continue
            found.append(f"{rel}:{node.lineno}: {ast.unparse(node.func)}(...)")
    return found


def _modules() -> list[Path]:
    return sorted(
        p
        for p in SERVER.rglob("*.py")
        if not p.relative_to(ROOT).as_posix().startswith("server/store/")
        and p.relative_to(ROOT).as_posix() not in ALLOWED
    )


def test_only_the_store_talks_to_mongodb() -> None:
    found = [
        line
        for path in _modules()
        if path.relative_to(ROOT).as_posix() not in PENDING
        for line in offenders(path)
    ]
    assert found == [], "database access outside server/store/:\n" + "\n".join(found)


def test_pending_files_still_need_their_exemption() -> None:
    clean = [path for path in PENDING if not offenders(ROOT / path)]
    assert clean == [], f"no database access left in {clean}: remove them from PENDING"


def test_the_scan_sees_what_it_must() -> None:
    """Each kind of access the scan must catch, and a store function it must not."""
    found = scan(
        "from .store import leads\n"
        "async def f(db, info, coll):\n"
        "    await db['leads'].find_one({})\n"
        "    await info.context.db.aggregate([])\n"
        "    await coll.update_many({}, {})\n"
        "    await leads.delete_many(db, [1])\n",
        "server/probe.py",
    )
    assert sorted(line.split(": ", 1)[1] for line in found) == [
        "coll.update_many(...)",
        "db['leads']",
        "db['leads'].find_one(...)",
        "info.context.db.aggregate(...)",
    ]
