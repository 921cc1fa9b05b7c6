"""The architecture's rules (docs/architecture.md), checked by parsing the code with ``ast``.

- Only ``server/store/`` talks to MongoDB (``server/db.py`` opens the connection, runs
  transactions and creates indexes): a scan of ``server/`` and ``plugins/`` finds every
  collection method called, and every database subscripted (``db["leads"]``), anywhere else.
- Imports between the layers: api imports no store; rules import no store, services, db or
  pymongo (``bson``, the stored documents' value types, is allowed); store imports no services,
  api, web, cli or strawberry; services import no api, web, cli or strawberry (they raise the
  plain domain exceptions of ``leadgraph.errors``; ``leadgraph.api.errors`` maps them to GraphQL
  types); the core modules (directly in ``server/``, and ``events/``) import no api, web, cli,
  services, strawberry or graphql.  Every import counts here,
  those inside functions and under ``if TYPE_CHECKING:`` included.
- No import cycle among leadgraph modules, imports inside functions included.  Imports under
  ``if TYPE_CHECKING:`` are exempt: they never run, and they are how mutually referring
  GraphQL types name each other (``strawberry.lazy``).
- No module over 500 lines, no function over 80, at most 16 modules directly in ``server/``.

What current code still breaks while other work changes it sits in an explicit PENDING list;
a test fails when an entry is no longer needed, so each list only shrinks."""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from conftest import ROOT

SERVER = ROOT / "server"
PLUGINS = ROOT / "plugins"
ALLOWED = {"server/db.py"}

# pymongo collection (and database) methods that send a command to the server
COLLECTION_METHODS = set(
    [
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
    ]
)

# Accesses that look like the database's but are not, or that a contract requires.
NOT_COLLECTIONS = {
    ("server/web/runtime.py", "rules.watch"),  # the rules manager's file watcher
    ("server/services/matching.py", "self.find"),  # the matching service's fuzzy find
    ("server/services/importing.py", "matching.find"),  # the same, asked by the importer
    # a fuzzy matching kind's ``find`` is handed the collection (contracts.FuzzyMatchingKind)
    ("server/services/matching_batch.py", "self.db[collection]"),
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
        for p in [*SERVER.rglob("*.py"), *PLUGINS.rglob("*.py")]
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


# ---------------------------------------------------------------- imports between the layers


@dataclass(frozen=True)
class Import:
    """One import statement's target, resolved to a full module name."""

    source: str  # the importing module, e.g. ``leadgraph.api.leads``
    target: str  # ``leadgraph.store.leads``, or an outside package's top name (``pymongo``)
    line: int
    type_checking: bool  # under ``if TYPE_CHECKING:``: never runs


def module_name(path: Path) -> str:
    """``server/api/leads.py`` -> ``leadgraph.api.leads``; ``plugins/x.py`` ->
    ``leadgraph.plugins.x``."""
    base, prefix = (
        (PLUGINS, ["leadgraph", "plugins"])
        if PLUGINS in path.parents
        else (
            SERVER,
            ["leadgraph"],
        )
    )
    parts = list(path.relative_to(base).with_suffix("").parts)
    return ".".join(prefix + (parts[:-1] if parts[-1] == "__init__" else parts))


def _code() -> dict[str, Path]:
    """Every module of leadgraph (``server/`` and ``plugins/``) by its name."""
    return {module_name(p): p for p in [*SERVER.rglob("*.py"), *PLUGINS.rglob("*.py")]}


MODULES = _code()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _statements(
    tree: ast.AST, guarded: bool = False
) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement anywhere in ``tree`` (functions included), with whether it sits
    under ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, guarded
        elif isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.body:
                yield from _statements(ast.Module(body=[child], type_ignores=[]), True)
            for child in node.orelse:
                yield from _statements(ast.Module(body=[child], type_ignores=[]), guarded)
        else:
            yield from _statements(node, guarded)


def imports_of(name: str, source: str, is_package: bool = False) -> list[Import]:
    """Every import of the module ``name`` (whose text is ``source``)."""
    found = []
    package = name.split(".") if is_package else name.split(".")[:-1]
    for node, guarded in _statements(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            # ``from leadgraph.store import leads`` imports the module leadgraph.store.leads
            targets = [
                f"{module}.{a.name}" if f"{module}.{a.name}" in MODULES else module
                for a in node.names
            ]
        for target in targets:
            if not target.startswith("leadgraph"):
                target = target.split(".")[0]
            found.append(Import(name, target, node.lineno, guarded))
    return found


@functools.cache
def all_imports() -> tuple[Import, ...]:
    """Every import of the package, parsed once for all the tests here."""
    return tuple(
        imp
        for name, path in sorted(MODULES.items())
        for imp in imports_of(name, path.read_text(), path.name == "__init__.py")
    )


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


#: (layer, what it may not import): every import counts, TYPE_CHECKING ones too.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "leadgraph.api": ("leadgraph.store",),
    "leadgraph.rules": (
        "leadgraph.store",
        "leadgraph.services",
        "leadgraph.db",
        "leadgraph.api",
        "leadgraph.web",
        "leadgraph.cli",
        "pymongo",
    ),
    "leadgraph.store": (
        "leadgraph.services",
        "leadgraph.api",
        "leadgraph.web",
        "leadgraph.cli",
        "strawberry",
    ),
    "leadgraph.services": (
        "leadgraph.api",
        "leadgraph.web",
        "leadgraph.cli",
        "strawberry",
    ),
}
#: The core: modules directly in server/ and the typed events.  They hold what every layer
#: shares (settings, contracts, domain exceptions, events, hookspecs, ...), so they import no
#: layer above them and no GraphQL.
CORE_FORBIDDEN = (
    "leadgraph.api",
    "leadgraph.web",
    "leadgraph.cli",
    "leadgraph.services",
    "strawberry",
    "graphql",
)

# (importing module, imported module) pairs other work is still removing (none now: resolvers
# reach the store through services/listing and the web loaders only).
PENDING_IMPORTS: set[tuple[str, str]] = set()


def layer_breaches() -> list[tuple[str, str, int]]:
    found = []
    for imp in all_imports():
        for layer, banned in FORBIDDEN.items():
            if _within(imp.source, layer) and any(_within(imp.target, b) for b in banned):
                found.append((imp.source, imp.target, imp.line))
    return found


def test_layers_import_only_what_the_architecture_allows() -> None:
    found = [
        f"{src} imports {dst} (line {line})"
        for src, dst, line in layer_breaches()
        if (src, dst) not in PENDING_IMPORTS
    ]
    assert found == [], "imports across the layers:\n" + "\n".join(found)


def is_core(module: str) -> bool:
    """``leadgraph.errors``, ``leadgraph.config``, ... and ``leadgraph.events[.x]``."""
    path = MODULES.get(module)
    return _within(module, "leadgraph.events") or (
        path is not None and path.parent == SERVER and path.name != "__init__.py"
    )


def test_core_modules_import_no_layer_above_and_no_graphql() -> None:
    found = [
        f"{imp.source} imports {imp.target} (line {imp.line})"
        for imp in all_imports()
        if is_core(imp.source) and any(_within(imp.target, b) for b in CORE_FORBIDDEN)
    ]
    assert found == [], "core modules importing a layer above or GraphQL:\n" + "\n".join(found)
    assert is_core("leadgraph.errors") and is_core("leadgraph.events.base")
    assert not is_core("leadgraph.api.errors") and not is_core("leadgraph")


def test_pending_imports_are_still_there() -> None:
    still = {(src, dst) for src, dst, _ in layer_breaches()}
    gone = sorted(PENDING_IMPORTS - still)
    assert gone == [], f"no longer imported: remove from PENDING_IMPORTS: {gone}"


def import_graph(imports: Iterable[Import]) -> dict[str, set[str]]:
    """leadgraph module -> the leadgraph modules it imports at run time (a package's
    ``__init__`` counts as a module)."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        graph.setdefault(imp.source, set())
        runs = not imp.type_checking and imp.target != imp.source
        if runs and imp.target.startswith("leadgraph"):
            graph[imp.source].add(imp.target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle() -> None:
    found = cycles(import_graph(all_imports()))
    assert found == [], "import cycles (imports inside functions count):\n" + "\n".join(
        " <-> ".join(c) for c in found
    )


def test_the_import_scan_sees_what_it_must() -> None:
    """Relative, deferred and TYPE_CHECKING imports resolve; a cycle closed inside a function
    is a cycle, one closed only under TYPE_CHECKING is not."""
    a = imports_of(
        "leadgraph.services.a",
        "from typing import TYPE_CHECKING\n"
        "from ..store import leads\n"
        "from . import b\n"
        "import pymongo.errors\n"
        "if TYPE_CHECKING:\n"
        "    from .c import C\n"
        "def f():\n"
        "    from ..api.leads import Lead\n",
    )
    assert [(i.target, i.type_checking) for i in a] == [
        ("typing", False),
        ("leadgraph.store.leads", False),
        ("leadgraph.services", False),
        ("pymongo", False),
        ("leadgraph.services.c", True),
        ("leadgraph.api.leads", False),
    ]
    b = imports_of("leadgraph.services.b", "def g():\n    from .a import f\n")
    c = imports_of("leadgraph.services.c", "from .a import f\n")
    graph = import_graph([*a, *b, *c])
    graph["leadgraph.services.a"].add("leadgraph.services.b")  # ``from . import b``
    assert cycles(graph) == [["leadgraph.services.a", "leadgraph.services.b"]]


# ---------------------------------------------------------------- sizes

MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80
MAX_TOP_MODULES = 16

# Modules and functions still over the limits while other work splits them (path or
# ``path::qualified.name``): the api/*.py modules wait for the api/<domain>/ packages.
# PENDING (this layout work, issue 18): none left; entries only ever go.
PENDING_SIZES: set[str] = set()


def _functions(tree: ast.AST, prefix: str = "") -> Iterator[tuple[str, int]]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            name = f"{prefix}{node.name}"
            if not isinstance(node, ast.ClassDef):
                assert node.end_lineno is not None
                yield name, node.end_lineno - node.lineno + 1
            yield from _functions(node, name + ".")
        else:
            yield from _functions(node, prefix)


def oversized() -> set[str]:
    found = set()
    for path in MODULES.values():
        rel = path.relative_to(ROOT).as_posix()
        text = path.read_text()
        if len(text.splitlines()) > MAX_MODULE_LINES:
            found.add(rel)
        for name, lines in _functions(ast.parse(text)):
            if lines > MAX_FUNCTION_LINES:
                found.add(f"{rel}::{name}")
    return found


def test_no_module_or_function_too_long() -> None:
    found = sorted(oversized() - PENDING_SIZES)
    assert found == [], (
        f"over {MAX_MODULE_LINES} lines (module) or {MAX_FUNCTION_LINES} (function):\n"
        + "\n".join(found)
    )


def test_pending_sizes_are_still_over() -> None:
    gone = sorted(PENDING_SIZES - oversized())
    assert gone == [], f"within the limits now: remove from PENDING_SIZES: {gone}"


def test_few_modules_directly_in_server() -> None:
    top = sorted(p.name for p in SERVER.glob("*.py") if p.name != "__init__.py")
    assert len(top) <= MAX_TOP_MODULES, f"{len(top)} modules in server/: {top}"


def test_the_size_scan_names_methods_and_nested_functions() -> None:
    source = (
        "class A:\n"
        "    def m(self):\n"
        "        return 1\n"
        "def f():\n"
        "    def g():\n"
        "        x = 1\n"
        "        return x\n"
        "    return g\n"
    )
    assert dict(_functions(ast.parse(source))) == {"A.m": 2, "f": 5, "f.g": 3}


def _loosely_typed(tree: ast.AST) -> Iterator[tuple[str, int]]:
    """Parameters and attributes named ``pm`` or ``session`` annotated ``Any``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.arg):
            name, annotation = node.arg, node.annotation
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            name, annotation = node.target.id, node.annotation
        else:
            continue
        if name in ("pm", "session") and any(
            isinstance(n, ast.Name) and n.id == "Any" for n in ast.walk(annotation or ast.Pass())
        ):
            yield name, node.lineno


def test_plugin_managers_and_sessions_are_typed() -> None:
    """``pm`` is a ``leadgraph.types.PluginManager``, ``session`` a ``Session`` (never Any)."""
    found = [
        f"{path.relative_to(ROOT)}:{line} {name}: Any"
        for path in MODULES.values()
        for name, line in _loosely_typed(ast.parse(path.read_text()))
    ]
    assert found == [], "\n".join(found)
    sample = "def f(pm: Any, session: Session | None = None) -> None: ...\nsession: Any = None\n"
    assert sorted(n for n, _ in _loosely_typed(ast.parse(sample))) == ["pm", "session"]


# The store's public readers and builders of one document of these collections, and the
# ``leadgraph.types`` TypedDict each returns (alone or ``| None``).
STORED_DOCUMENTS = {
    "leads": ("LeadDoc", {"new_document", "insert", "get", "update", "close", "adopt"}),
    "contacts": ("ContactDoc", {"new_document", "create", "get", "update"}),
    "accounts": ("AccountDoc", {"new_document", "create", "get", "update"}),
    "interactions": (
        "InteractionDoc",
        {"new_document", "record", "get", "latest_of", "find_since", "insert_records"},
    ),
}


def _returns(tree: ast.AST) -> dict[str, str]:
    """Each public module-level function's return annotation, as written."""
    return {
        node.name: ast.unparse(node.returns)
        for node in ast.iter_child_nodes(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and not node.name.startswith("_")
        and node.returns is not None
    }


def test_the_stores_document_readers_return_the_stored_document_types() -> None:
    """A lead, contact, account or interaction the store reads or builds is typed by its
    TypedDict (``LeadDoc``, ...), not ``dict[str, Any]``: services and api rely on its fields."""
    wrong = []
    for module, (kind, readers) in STORED_DOCUMENTS.items():
        returns = _returns(ast.parse((SERVER / "store" / f"{module}.py").read_text()))
        for name in sorted(readers):
            got = returns.get(name, "(no such function)")
            if got not in (kind, f"{kind} | None", f"list[{kind}]"):
                wrong.append(f"server/store/{module}.py {name} -> {got}, not {kind}")
    assert wrong == [], "\n".join(wrong)
    sample = "async def get() -> dict[str, Any] | None: ...\ndef new_document() -> LeadDoc: ...\n"
    sample += "def _private() -> LeadDoc: ...\n"
    assert _returns(ast.parse(sample)) == {
        "get": "dict[str, Any] | None",
        "new_document": "LeadDoc",
    }


DOCS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]


def named_paths(text: str) -> set[str]:
    """Every file or directory path a document names: in backquotes (``server/...``,
    ``plugins/...``, ``tests/...``, ``docs/...``, ``bench/...``), or a ``.py`` path anywhere."""
    import re

    return set(re.findall(r"`((?:server|plugins|tests|docs|bench)/[\w./-]*)`", text)) | set(
        re.findall(r"\b((?:server|plugins|tests|bench)/[\w/]+\.py)\b", text)
    )


def architecture_paths() -> list[str]:
    """Every path docs/architecture.md names."""
    return sorted(named_paths((ROOT / "docs" / "architecture.md").read_text()))


def test_every_path_the_architecture_names_exists() -> None:
    paths = architecture_paths()
    assert "server/api/errors.py" in paths and "tests/test_layers.py" in paths
    assert "server/services/listing.py" in paths and "server/cursors.py" in paths
    missing = [p for p in paths if not (ROOT / p.rstrip(".")).exists()]
    assert missing == [], f"docs/architecture.md names what does not exist: {missing}"


def test_every_path_the_docs_name_exists() -> None:
    """docs/*.md and the README: every path they name is a file or directory of the tree."""
    missing = [
        f"{doc.relative_to(ROOT)}: {p}"
        for doc in DOCS
        for p in sorted(named_paths(doc.read_text()))
        if not (ROOT / p.rstrip(".")).exists()
    ]
    assert missing == [], "the docs name what does not exist:\n" + "\n".join(missing)
    assert named_paths("see `server/nowhere.py` and server/api/x.py") == {
        "server/nowhere.py",
        "server/api/x.py",
    }


def _resolves(name: str) -> bool:
    """``leadgraph.a.b.c``: a module, or an attribute of the longest module prefix."""
    import importlib

    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def test_every_leadgraph_name_the_docs_give_exists() -> None:
    """A backquoted ``leadgraph.x.y`` (``leadgraph.web.schema:schema``, ``leadgraph.rules.models``)
    in docs/*.md or the README is a module or a name in one."""
    import re

    missing = [
        f"{doc.relative_to(ROOT)}: {name}"
        for doc in DOCS
        for name in sorted(
            set(re.findall(r"`(leadgraph(?:\.\w+)+)(?:[:(][^`]*)?`", doc.read_text()))
        )
        if not _resolves(name)
    ]
    assert missing == [], "the docs name what leadgraph does not have:\n" + "\n".join(missing)
    assert _resolves("leadgraph.documents.stage_entry") and not _resolves("leadgraph.nowhere")


def test_the_readme_layout_is_the_tree() -> None:
    """Each entry of the README's ``## Layout`` block (``server/``, its ``web/``, ``api/``, ...,
    then ``plugins/``, ``rules/``, ...) is a directory or file of the tree, and every package of
    ``server/`` is listed."""
    import re

    text = (ROOT / "README.md").read_text()
    block = text.split("## Layout", 1)[1].split("```text", 1)[1].split("```", 1)[0]
    top = [m for m in re.findall(r"^(\S+)\s", block, re.M)]
    inner = [m for m in re.findall(r"^  (\w+/)\s", block, re.M)]
    missing = [name for name in top if not (ROOT / name).exists()]
    missing += [f"server/{name}" for name in inner if not (SERVER / name).is_dir()]
    assert missing == [], f"the README's layout names what does not exist: {missing}"
    packages = {p.parent.name + "/" for p in SERVER.glob("*/__init__.py")}
    assert packages - set(inner) == set(), "packages the README's layout leaves out"


def test_every_package_says_what_it_holds_and_may_import() -> None:
    """Each package's ``__init__.py`` opens with a docstring whose first lines say what it
    holds and what it may import."""
    quiet = []
    for init in sorted([*SERVER.rglob("__init__.py"), *PLUGINS.glob("__init__.py")]):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        head = " ".join(doc.split("\n\n")[0].splitlines()[:3]).lower()
        if not doc or "may import" not in head:
            quiet.append(init.relative_to(ROOT).as_posix())
    assert quiet == [], f"packages whose docstring does not say what they may import: {quiet}"


def test_hookspecs_are_what_their_docstring_says() -> None:
    """server/hookspecs.py: no hook stops at the first result, one hook per event type of the
    catalogue (``contact.updated`` -> ``leadgraph_contact_updated``) plus ``leadgraph_event``,
    and every hook documented."""
    import pluggy
    from leadgraph import events, hookspecs

    pm = pluggy.PluginManager("leadgraph")
    pm.add_hookspecs(hookspecs)
    callers = {n: getattr(pm.hook, n) for n in dir(pm.hook) if n.startswith("leadgraph_")}
    assert not [n for n, c in callers.items() if c.spec and c.spec.opts.get("firstresult")]
    wanted = {events.hook_name(cls.type) for cls in events.catalogue()} | {"leadgraph_event"}
    assert wanted <= set(callers)
    assert "leadgraph_contact_updated" in wanted
    assert not [n for n, c in callers.items() if not (c.spec and c.spec.function.__doc__)]


#: what the fast tier (tests/fast/) may not import: the HTTP side and the test servers
FAST_FORBIDDEN: tuple[str, ...] = ("httpx", "httpx_ws", "uvicorn", "serving", "conftest")
FAST_FORBIDDEN += ("rules.live", "capture.partner", "leadgraph.web", "leadgraph.api")


def _imported(tree: ast.AST) -> Iterator[tuple[str, int]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module, node.lineno


def test_the_fast_tier_has_no_http() -> None:
    """tests/fast/ calls rules, services and store directly (tests/fast/conftest.py also
    fails a test there that asks for a fixture serving the app)."""
    files = sorted((ROOT / "tests" / "fast").rglob("*.py"))
    found = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in files
        for name, line in _http_imports(path.read_text())
    ]
    assert len(files) > 10
    assert found == [], "the fast tier imports the HTTP side:\n" + "\n".join(found)
    sample = "import httpx.x\nfrom rules.live import a\nfrom rules.gen import b\nimport json\n"
    assert [n for n, _ in _http_imports(sample)] == ["httpx.x", "rules.live"]
    import types
    import typing

    import pytest
    from fast.conftest import pytest_runtest_setup

    def item(*fixtures: str) -> pytest.Item:
        return typing.cast(pytest.Item, types.SimpleNamespace(nodeid="t", fixturenames=fixtures))

    with pytest.raises(pytest.fail.Exception, match=r"uses \['api'\]"):
        pytest_runtest_setup(item("db", "api"))
    pytest_runtest_setup(item("db"))


def _http_imports(source: str) -> list[tuple[str, int]]:
    return [
        (name, line)
        for name, line in _imported(ast.parse(source))
        if any(_within(name, banned) for banned in FAST_FORBIDDEN)
    ]


#: The only sleeps with a constant in the tests: each polls (inside a loop, for a condition
#: another process or task makes true, with a bound) and is here with why.  A sleep so that
#: time passes is never needed: tests set the clock (the ``clock`` fixture).
POLLING_SLEEPS: dict[tuple[str, str], str] = {
    ("tests/serving.py", "served"): "until uvicorn has started the test's server",
    ("tests/rules/live.py", "until"): "the rules tests' poll: the watcher works in the background",
    ("tests/webhooks/helpers.py", "until"): "the webhook tests' poll: deliveries are async",
    ("tests/capture/test_sweep.py", "until"): "until the background sweep has come",
    ("tests/fast/rules/test_rules_engines.py", "until"): "until the file watcher reloads",
    (
        "tests/test_data_dir.py",
        "test_a_key_made_in_another_directory_works_on_the_running_server",
    ): ("until `leadgraph serve` (a child process) answers /readyz, and its database exits"),
    (
        "tests/capture/test_multiprocess.py",
        "test_submissions_through_two_processes_make_one_contact",
    ): ("until the second server process answers /healthz"),
    ("tests/capture/test_import.py", "test_killed_import_resumes_without_loss_or_duplicates"): (
        "until the import process has committed a batch (then it is killed)"
    ),
    (
        "tests/hardening/test_outage.py",
        "test_a_request_the_outage_cuts_off_while_it_runs_is_unavailable",
    ): ("until the import has committed a line (then the database is stopped)"),
    ("tests/hardening/test_subscription_limits.py", "until_all_receive"): (
        "until every one of 150 subscriptions has started (they subscribe in the background)"
    ),
}


def _sleeps(tree: ast.AST) -> Iterator[tuple[str, bool, int]]:
    """Every ``sleep(<constant>)`` call (``time.sleep``, ``asyncio.sleep``, a bare ``sleep``):
    the function it is in, whether a loop of that function holds it, its line."""

    def visit(node: ast.AST, function: str, looped: bool) -> Iterator[tuple[str, bool, int]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                name = getattr(child, "name", function)
                yield from visit(child, name, False)
                continue
            if isinstance(child, ast.Call) and _is_constant_sleep(child):
                yield function, looped, child.lineno
            loop = isinstance(child, ast.For | ast.AsyncFor | ast.While)
            yield from visit(child, function, looped or loop)

    yield from visit(tree, "<module>", False)


def _is_constant_sleep(call: ast.Call) -> bool:
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name == "sleep" and bool(call.args) and isinstance(call.args[0], ast.Constant)


def test_no_test_sleeps_for_timing() -> None:
    found, seen = [], set()
    for path in sorted((ROOT / "tests").rglob("*.py")):
        rel = str(path.relative_to(ROOT))
        for function, looped, line in _sleeps(ast.parse(path.read_text())):
            seen.add((rel, function))
            if (rel, function) not in POLLING_SLEEPS or not looped:
                found.append(f"{rel}:{line} in {function}")
    assert found == [], "sleeps for timing (set the clock fixture, or poll):\n" + "\n".join(found)
    gone = sorted(set(POLLING_SLEEPS) - seen)
    assert gone == [], f"no longer sleeping: remove from POLLING_SLEEPS: {gone}"
    sample = (
        "import time\nasync def f():\n    await asyncio.sleep(0.3)\n"
        "def g():\n    while x:\n        time.sleep(1)\n    sleep(n)\n"
    )
    assert list(_sleeps(ast.parse(sample))) == [("f", False, 3), ("g", True, 6)]
