"""What `pip install mediaenhancer` (no extras) installs, read from the installed metadata, and a
way to run Python as if only that were installed (issue 15).

``base_closure()`` follows ``Requires-Dist`` from the ``mediaenhancer`` distribution without extras;
``blocked_modules()`` lists the top-level modules (two levels for namespace packages such as
``google.*``) of every other installed distribution. ``base_python(args)`` is a command line that runs
Python with a meta path finder refusing those modules, as a fresh base install would not have them.
Used by tests/test_extras.py and by ``bench/engine.py --only install`` (sizes and import times).
"""

from __future__ import annotations

import os
import re
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

OURS = {"mediaenhancer_core", "mediaenhancer_cli", "mediaenhancer_server"}
# A fresh venv has these before anything is installed
VENV_SEED = {"pip", "setuptools", "wheel"}


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(name: str = "mediaenhancer", extras: tuple[str, ...] = ()) -> set[str]:
    """Normalised names of ``name[extras]`` and every distribution it requires, recursively."""
    seen: set[tuple[str, str]] = set()
    dists: set[str] = set()
    todo = [(name, extra) for extra in ("", *extras)]
    while todo:
        dist_name, extra = todo.pop()
        if (_key(dist_name), extra) in seen:
            continue
        seen.add((_key(dist_name), extra))
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            continue  # e.g. a requirement whose marker does not apply here
        dists.add(_key(dist_name))
        for line in dist.requires or []:
            req = Requirement(line)
            env = {"extra": extra}
            if req.marker is not None and not req.marker.evaluate(env):
                continue
            if req.marker is None and extra:
                continue  # already followed for the extra ""
            todo.extend((req.name, e) for e in ("", *sorted(req.extras)))
    return dists


def _installed() -> dict[str, metadata.Distribution]:
    found: dict[str, metadata.Distribution] = {}
    for dist in metadata.distributions():
        found.setdefault(_key(dist.metadata["Name"]), dist)
    return found


def modules_of(dist: metadata.Distribution) -> set[str]:
    """Importable top-level names of a distribution (``top.sub`` below a namespace package)."""
    files = [f for f in (dist.files or []) if not f.parts[0].startswith("..") and ".dist-info" not in f.parts[0]]
    packages = {f.parts[0] for f in files if len(f.parts) > 1 and f.parts[1] == "__init__.py"}
    names: set[str] = set()
    for f in files:
        top = f.parts[0]
        if top.endswith((".data", ".pth")) or top == "__pycache__":
            continue
        if len(f.parts) == 1:
            if top.endswith(".py"):
                names.add(top[:-3])
            elif top.endswith((".so", ".pyd")):
                names.add(top.split(".")[0])
        elif top in packages:
            names.add(top)
        elif len(f.parts) > 2 and f.parts[2] == "__init__.py" or len(f.parts) == 3 and f.parts[2].endswith(".so"):
            names.add(f"{top}.{f.parts[1]}")  # a namespace package: google.genai beside google.protobuf
    return names


def dist_size(dist: metadata.Distribution) -> int:
    total = 0
    for f in dist.files or []:
        try:
            total += os.stat(dist.locate_file(f)).st_size
        except OSError:
            pass
    return total


def blocked_modules() -> list[str]:
    """Modules that a base install would not have: those of every installed distribution outside
    the base closure (and not pip/setuptools, which a fresh venv has)."""
    base = closure()
    allowed: set[str] = set(OURS) | set(sys.stdlib_module_names)
    blocked: set[str] = set()
    for key, dist in _installed().items():
        names = modules_of(dist)
        if key in base or key in VENV_SEED:
            allowed |= names
        else:
            blocked |= names
    return sorted(blocked - allowed)


_BLOCKER = """
import sys
BLOCKED = frozenset({blocked!r})
class _BaseInstallOnly:
    def find_spec(self, name, path=None, target=None):
        parts = name.split(".")
        if parts[0] in BLOCKED or ".".join(parts[:2]) in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (not in the base install)", name=name)
        return None
sys.meta_path.insert(0, _BaseInstallOnly())
"""


def base_python(code: str, *, base: bool = True) -> list[str]:
    """``python -c`` running ``code`` after installing the blocker of non-base modules (with
    ``base=False`` the same finder, refusing nothing, so that timings compare like with like)."""
    return [sys.executable, "-c", _BLOCKER.format(blocked=blocked_modules() if base else []) + code]


def cli_command(prog: str, args: list[str], *, base: bool = True) -> list[str]:
    """``mediaenhancer`` (``prog="cli"``) or ``mediaenhancer-server`` (``"server"``) run as after a
    base install (``base=True``) or the full one."""
    target = {
        "cli": ("mediaenhancer_cli.app", "mediaenhancer"),
        "server": ("mediaenhancer_server.cli", "mediaenhancer-server"),
    }
    module, name = target[prog]
    code = f"import sys; sys.argv = [{name!r}, *{args!r}]; from {module} import main; main()"
    return base_python(code, base=base)


def base_size() -> tuple[int, int, int, int]:
    """(bytes, distributions) of the base install, and of everything installed for ``[all]``."""
    installed = _installed()
    base = closure() - VENV_SEED
    full = closure(extras=("all",)) - VENV_SEED
    size = lambda keys: sum(dist_size(installed[k]) for k in keys if k in installed)  # noqa: E731
    return size(base), len(base), size(full), len(full)


if __name__ == "__main__":
    b, nb, f, nf = base_size()
    print(f"base {b / 1e6:.0f} MB in {nb} distributions; [all] {f / 1e6:.0f} MB in {nf}")
    print(Path(__file__).name, "blocks", len(blocked_modules()), "modules")
