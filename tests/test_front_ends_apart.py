"""The two front ends stay apart: the CLI never imports the server, the server never imports the CLI.

Both sit on `mediaenhancer_core` (the exit codes they share live there). The check reads every import
statement of every module (top level and inside functions), so a lazy import cannot slip past it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"


def _imports(package: str) -> list[tuple[str, int, str]]:
    found = []
    for path in sorted((SRC / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [(str(path.relative_to(SRC)), node.lineno, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((str(path.relative_to(SRC)), node.lineno, node.module))
    return found


@pytest.mark.parametrize(("package", "forbidden"), [
    ("mediaenhancer_server", "mediaenhancer_cli"),
    ("mediaenhancer_cli", "mediaenhancer_server"),
    ("mediaenhancer_core", "mediaenhancer_cli"),
    ("mediaenhancer_core", "mediaenhancer_server"),
])
def test_package_never_imports_the_other_front_end(package: str, forbidden: str) -> None:
    imports = _imports(package)
    assert len(imports) > 20, f"found too few imports in {package}: the scan is broken"
    bad = [f"{where}:{line} imports {name}" for where, line, name in imports
           if name == forbidden or name.startswith(forbidden + ".")]
    assert not bad, "\n".join(bad)


def test_the_scan_sees_lazy_imports() -> None:
    # the server's admin CLI imports the exit codes inside a function: the scan must see it
    names = {name for _, _, name in _imports("mediaenhancer_server")}
    assert "mediaenhancer_core.exit_codes" in names
