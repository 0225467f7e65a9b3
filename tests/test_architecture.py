"""The import rules of docs/architecture.md, kept true.

The rules are the import-linter contracts in pyproject.toml ([tool.importlinter]); this test runs the
same contracts with ast, so CI needs no extra tool (``PYTHONPATH=src lint-imports`` gives the same
verdict). Every import statement counts: module level, inside functions, under TYPE_CHECKING,
relative or absolute, as import-linter counts them.

What is checked:

- ``layers`` contracts: no chain of imports leads from a lower layer up to a higher one, nor between
  two layers of one line (``a | b``), through any module of the source tree;
- ``forbidden`` contracts: no source module imports a forbidden one, directly, or through a chain
  unless ``allow_indirect_imports``;
- ``ignore_imports`` (known exceptions) must still exist, so a fixed exception leaves the list;
- the diagram in docs/architecture.md: every import between two areas is an arrow there, and every
  arrow is an import that exists.

The server's checks that are not about imports (no SQL session opened, no import below the code)
live in test_layers.py; that the two front ends never import each other is the front-ends contract.
"""

from __future__ import annotations

import ast
import functools
import re
import tomllib
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
ROOTS: list[str] = CONFIG["root_packages"]
DOC = ROOT / "docs" / "architecture.md"


# --- the import graph -----------------------------------------------------------------------------


@dataclass
class Graph:
    modules: set[str] = field(default_factory=set)  # ours
    imports: dict[str, dict[str, list[int]]] = field(default_factory=dict)  # importer -> imported -> lines

    def add(self, importer: str, imported: str, line: int) -> None:
        self.imports.setdefault(importer, {}).setdefault(imported, []).append(line)


def _module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports_of(tree: ast.AST, module: str, is_package: bool, modules: set[str]) -> Iterable[tuple[str, int]]:
    """(imported module, line) for every import statement, as grimp resolves them: ``import a.b``
    imports a.b; ``from a import b`` imports a.b when that is a module, else a."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield _resolve(alias.name, modules), node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                target = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                name = f"{target}.{alias.name}"
                yield (name if name in modules else _resolve(target, modules)), node.lineno


@functools.cache
def _parse(path: Path) -> ast.AST:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def build_graph(src: Path = SRC, extra: Mapping[str, Path] | None = None) -> Graph:
    """Every module under ``src`` of the root packages (plus ``extra``: module name -> file), and
    what each imports: our modules by full name, other packages by their top-level name."""
    files = {_module_name(p, src): p for root in ROOTS for p in sorted((src / root).rglob("*.py"))}
    files.update(extra or {})
    graph = Graph(modules=set(files))
    for module, path in files.items():
        tree = _parse(path)
        for imported, line in _imports_of(tree, module, path.name == "__init__.py", graph.modules):
            if imported != module:
                graph.add(module, imported, line)
    return graph


def _resolve(name: str, modules: set[str]) -> str:
    """Ours: the longest module prefix that exists; theirs: the top-level package."""
    if name.split(".")[0] not in ROOTS:
        return name.split(".")[0]
    while name not in modules and "." in name:
        name = name.rpartition(".")[0]
    return name


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _ignored(contract: Mapping) -> set[tuple[str, str]]:
    return {tuple(part.strip() for part in line.split("->")) for line in contract.get("ignore_imports", [])}


def _edges(graph: Graph, ignored: set[tuple[str, str]]) -> dict[str, set[str]]:
    return {a: {b for b in targets if (a, b) not in ignored} for a, targets in graph.imports.items()}


def _chain(edges: Mapping[str, set[str]], sources: list[str], targets: list[str]) -> list[str] | None:
    """The shortest import chain from a module in ``sources`` to one in ``targets``, or None."""
    start = [m for m in edges if any(_within(m, s) for s in sources)]
    parent: dict[str, str | None] = dict.fromkeys(start)
    queue = deque(start)
    while queue:
        module = queue.popleft()
        for nxt in sorted(edges.get(module, ())):
            if nxt in parent:
                continue
            parent[nxt] = module
            if any(_within(nxt, t) for t in targets):
                chain = [nxt]
                while parent[chain[-1]] is not None:
                    chain.append(parent[chain[-1]])  # type: ignore[arg-type]
                return chain[::-1]
            queue.append(nxt)
    return None


# --- the contracts ----------------------------------------------------------------------------------


def check(contract: Mapping, graph: Graph) -> list[str]:
    """What breaks ``contract`` in ``graph``: one line per broken rule, with the chain of imports."""
    edges = _edges(graph, _ignored(contract))
    broken: list[str] = []
    if contract["type"] == "forbidden":
        for forbidden in contract["forbidden_modules"]:
            if contract.get("allow_indirect_imports"):
                for importer, targets in edges.items():
                    if any(_within(importer, s) for s in contract["source_modules"]):
                        broken += [f"{importer} imports {t}" for t in sorted(targets) if _within(t, forbidden)]
            elif chain := _chain(edges, contract["source_modules"], [forbidden]):
                broken.append(" -> ".join(chain))
    elif contract["type"] == "layers":
        prefixes = [f"{c}." for c in contract.get("containers", [])] or [""]
        layers = [[p + name.strip() for p in prefixes for name in line.split("|")] for line in contract["layers"]]
        for i, higher in enumerate(layers):
            for lower in layers[i + 1 :]:
                for low in lower:
                    if chain := _chain(edges, [low], higher):
                        broken.append("up a layer: " + " -> ".join(chain))
            for a in higher:  # one line: independent of each other
                for b in higher:
                    if a != b and (chain := _chain(edges, [a], [b])):
                        broken.append("between independent layers: " + " -> ".join(chain))
    else:
        raise AssertionError(f"contract type {contract['type']!r} is not checked here; add it")
    return broken


CONTRACTS = CONFIG["contracts"]


@pytest.fixture(scope="module")
def graph() -> Graph:
    return build_graph()


def test_the_scan_reads_the_tree(graph: Graph) -> None:
    assert len(graph.modules) > 100
    # a function-local import, a TYPE_CHECKING import, a relative-free `from pkg import module`
    cli_app = graph.imports["mediaenhancer_cli.app"]
    assert "mediaenhancer_core.engine.enhance" in cli_app
    assert "mediaenhancer_core.engine.subtitles" in graph.imports["mediaenhancer_core.engine.enhance"]  # TYPE_CHECKING
    assert "sqlalchemy" in graph.imports["mediaenhancer_core.db"]


@pytest.mark.parametrize("contract", CONTRACTS, ids=[c["id"] for c in CONTRACTS])
def test_contract_is_kept(contract: Mapping, graph: Graph) -> None:
    broken = check(contract, graph)
    assert not broken, f"{contract['name']}: broken by\n  " + "\n  ".join(broken)


@pytest.mark.parametrize(
    "contract",
    [c for c in CONTRACTS if c.get("ignore_imports")],
    ids=[c["id"] for c in CONTRACTS if c.get("ignore_imports")],
)
def test_known_exceptions_still_exist(contract: Mapping, graph: Graph) -> None:
    """An exception that was fixed leaves ignore_imports (import-linter says the same)."""
    gone = [f"{a} -> {b}" for a, b in _ignored(contract) if b not in graph.imports.get(a, {})]
    assert not gone, f"fixed, remove from ignore_imports of {contract['id']}: {gone}"


# --- the checker catches what it should -----------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "source", "contract_id"),
    [
        # a lazy import of the database inside an engine function
        (
            "mediaenhancer_core.engine._sample",
            "def f():\n    from mediaenhancer_core.db import models\n",
            "engine-alone",
        ),
        # a relative import from plans up to jobs: up a layer
        ("mediaenhancer_core.plans._sample", "from ..jobs import admission\n", "core-areas"),
        # the server reaching for SQL
        ("mediaenhancer_server._sample", "import sqlalchemy.orm\n", "server-holds-no-sql"),
        (
            "mediaenhancer_server._sample",
            "def f():\n    from mediaenhancer_core.db import models\n",
            "server-holds-no-sql",
        ),
        # the front ends apart, and the core under both
        ("mediaenhancer_server._sample", "def f():\n    from mediaenhancer_cli.app import main\n", "front-ends"),
        ("mediaenhancer_core.engine._sample", "import mediaenhancer_server.app\n", "front-ends"),
        # the CLI going around HTTP, through an innocent-looking module of its own
        ("mediaenhancer_cli._sample", "from mediaenhancer_core.services import Core\n", "cli-over-http"),
        # under TYPE_CHECKING still counts
        (
            "mediaenhancer_core.client._sample",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from mediaenhancer_core.accounts.users import User\n",
            "client-off-server-side",
        ),
        ("mediaenhancer_core.engine._sample", "import rich\n", "core-never-prints"),
    ],
)
def test_the_checker_catches_a_violation(tmp_path: Path, module: str, source: str, contract_id: str) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(source, encoding="utf-8")
    contract = next(c for c in CONTRACTS if c["id"] == contract_id)
    broken = check(contract, build_graph(extra={module: sample}))
    assert broken and any(module in b for b in broken), broken


def test_the_checker_follows_chains(tmp_path: Path) -> None:
    """engine -> (a new shared module) -> db is as broken as engine -> db."""
    helper, user = tmp_path / "helper.py", tmp_path / "user.py"
    helper.write_text("from mediaenhancer_core.db import Database\n", encoding="utf-8")
    user.write_text("def f():\n    from mediaenhancer_core import _helper\n", encoding="utf-8")
    contract = next(c for c in CONTRACTS if c["id"] == "engine-alone")
    broken = check(
        contract, build_graph(extra={"mediaenhancer_core._helper": helper, "mediaenhancer_core.engine._user": user})
    )
    assert any(
        "mediaenhancer_core.engine._user -> mediaenhancer_core._helper -> mediaenhancer_core.db" in b for b in broken
    ), broken


# --- the diagram ------------------------------------------------------------------------------------

SHARED = {
    "choices",
    "errors",
    "exit_codes",
    "extras",
    "files",
    "helpstyle",
    "jsonbody",
    "keyfile",
    "privatefs",
    "settings",
}


def area(module: str) -> str | None:
    """The room a module lives in, as the diagram names it (None: not ours)."""
    parts = module.split(".")
    if parts[0] == "mediaenhancer_cli":
        return "cli"
    if parts[0] == "mediaenhancer_server":
        return "server"
    if parts[0] != "mediaenhancer_core":
        return None
    if len(parts) == 1 or parts[1] in SHARED:
        return "shared"
    return parts[1]  # engine, ai, ..., and services (the Core facade)


def _diagram() -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """The arrows of the mermaid block in docs/architecture.md: (allowed ``-->``, exceptions ``-.->``)."""
    block = re.search(r"```mermaid\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert block, "docs/architecture.md has no mermaid diagram"
    allowed, exceptions = set(), set()
    for a, arrow, b in re.findall(
        r"^\s*(\w+)(?:\[[^\]]*\])?\s*(-->|-\.->)(?:\|[^|]*\|)?\s*(\w+)", block[1], re.MULTILINE
    ):
        (allowed if arrow == "-->" else exceptions).add((a, b))
    return allowed, exceptions


def _area_edges(graph: Graph, ignored: set[tuple[str, str]]) -> dict[tuple[str, str], list[str]]:
    found: dict[tuple[str, str], list[str]] = {}
    for importer, targets in graph.imports.items():
        for imported in targets:
            a, b = area(importer), area(imported)
            if b is None or a == b or b == "shared" or (importer, imported) in ignored:
                continue
            found.setdefault((a, b), []).append(f"{importer} -> {imported}")  # type: ignore[arg-type]
    return found


def _all_ignored() -> set[tuple[str, str]]:
    return set().union(*(_ignored(c) for c in CONTRACTS))


def test_shared_modules_import_only_shared(graph: Graph) -> None:
    bad = [
        f"{m} -> {t}"
        for m, targets in graph.imports.items()
        if area(m) == "shared"
        for t in targets
        if area(t) not in (None, "shared")
    ]
    assert not bad, "the shared top-level modules sit under every area:\n" + "\n".join(bad)


def test_every_import_between_areas_is_an_arrow_of_the_diagram(graph: Graph) -> None:
    allowed, _ = _diagram()
    extra = {edge: where for edge, where in _area_edges(graph, _all_ignored()).items() if edge not in allowed}
    assert not extra, (
        "imports between areas that docs/architecture.md does not allow (move the code, or "
        "add the arrow and the contract in pyproject.toml if the rule was wrong):\n"
        + "\n".join(f"{a} --> {b}: {w[0]}" for (a, b), w in sorted(extra.items()))
    )


def test_every_arrow_of_the_diagram_is_an_import(graph: Graph) -> None:
    allowed, exceptions = _diagram()
    used = set(_area_edges(graph, set()))
    assert not (allowed | exceptions) - used, (
        f"arrows with no import behind them: {sorted((allowed | exceptions) - used)}"
    )


def test_dotted_arrows_are_the_known_exceptions() -> None:
    _, exceptions = _diagram()
    # (an exception for an outside package, such as ai/ -> pydantic, is no arrow between areas)
    assert exceptions == {(area(a), area(b)) for a, b in _all_ignored() if area(b) is not None}


def test_the_diagram_agrees_with_the_layers() -> None:
    """No arrow of the diagram points up the core-areas layers or between two areas of one line."""
    contract = next(c for c in CONTRACTS if c["id"] == "core-areas")
    rank = {name.strip(): i for i, line in enumerate(contract["layers"]) for name in line.split("|")}
    allowed, _ = _diagram()
    wrong = [(a, b) for a, b in allowed if a in rank and b in rank and rank[a] >= rank[b]]
    assert not wrong
