"""The server is a thin front end: it parses, calls one core service, renders.

It never opens SQL sessions or touches table rows itself (quota and admission rules live in
the core, where the worker and the CLI share them). Checked on the source, so a shortcut cannot
slip in unnoticed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVER = Path(__file__).resolve().parents[1] / "src" / "mediaenhancer_server"

# Which modules the server may import (no sqlalchemy, db.models, db.types or plans.quotas) is the
# "server-holds-no-sql" contract in pyproject.toml, checked with the other import rules by
# tests/test_architecture.py. The checks below are about the code, not its imports.


def test_server_sessions_only_through_core_services() -> None:
    """No handler opens a database session: ``.db.session(`` appears in no server module."""
    users = [p.name for p in SERVER.glob("*.py") if ".db.session(" in p.read_text(encoding="utf-8")]
    assert users == []


@pytest.mark.parametrize("path", sorted(SERVER.glob("*.py")), ids=lambda p: p.name)
def test_no_import_below_the_code(path: Path) -> None:
    """An import after a module's functions is how a cycle hides (the route tables once imported
    each other at their bottoms); every module-level import comes before the first def or class."""
    body = ast.parse(path.read_text(encoding="utf-8")).body
    first_code = next(
        (n.lineno for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))), None
    )
    late = [
        n.lineno
        for n in body
        if isinstance(n, (ast.Import, ast.ImportFrom)) and first_code is not None and n.lineno > first_code
    ]
    assert late == [], f"{path.name}: module-level imports at lines {late} come after the code"
