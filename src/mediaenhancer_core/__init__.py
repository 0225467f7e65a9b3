"""Media Enhancer core: probing, analysis, enhancement plans and rendering.

The core never prints and never exits; settings are passed in (see ``settings.py``),
and every failure is one of the classes in ``errors.py``. Heavy dependencies are
imported lazily inside the functions that need them.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    """``__version__`` comes from the installed metadata (pyproject.toml is its only source), read
    on first use: importlib.metadata costs tens of milliseconds that ``--help`` does not pay."""
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

        try:
            value = version("mediaenhancer")
        except PackageNotFoundError:  # running from a source tree that was never installed
            value = "0+unknown"
        globals()["__version__"] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
