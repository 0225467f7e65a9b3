"""The server is a thin front end: it parses, calls one core service, renders.

It never opens SQL sessions or touches table rows itself (quota and admission rules live in
the core, where the worker and the CLI share them). Checked on the source, every import
(local ones too), so a shortcut cannot slip in unnoticed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVER = Path(__file__).resolve().parents[1] / "src" / "mediaenhancer_server"
FORBIDDEN = ("sqlalchemy", "mediaenhancer_core.db.models", "mediaenhancer_core.db.types", "mediaenhancer_core.plans.quotas")


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


@pytest.mark.parametrize("path", sorted(SERVER.glob("*.py")), ids=lambda p: p.name)
def test_server_module_holds_no_sql(path: Path) -> None:
    bad = [f"{path.name}:{line} imports {name}" for line, name in _imports(path)
           if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)]
    assert bad == []


def test_the_check_sees_a_violation(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text("def f():\n    from sqlalchemy import select\n    from mediaenhancer_core.db import models\n")
    names = [n for _, n in _imports(sample)]
    assert "sqlalchemy" in names and "mediaenhancer_core.db.models" in names


def test_server_sessions_only_through_core_services() -> None:
    """No handler opens a database session: ``.db.session(`` appears in no server module."""
    users = [p.name for p in SERVER.glob("*.py") if ".db.session(" in p.read_text(encoding="utf-8")]
    assert users == []


@pytest.mark.parametrize("path", sorted(SERVER.glob("*.py")), ids=lambda p: p.name)
def test_no_import_below_the_code(path: Path) -> None:
    """An import after a module's functions is how a cycle hides (the route tables once imported
    each other at their bottoms); every module-level import comes before the first def or class."""
    body = ast.parse(path.read_text(encoding="utf-8")).body
    first_code = next((n.lineno for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))),
                      None)
    late = [n.lineno for n in body if isinstance(n, (ast.Import, ast.ImportFrom))
            and first_code is not None and n.lineno > first_code]
    assert late == [], f"{path.name}: module-level imports at lines {late} come after the code"
