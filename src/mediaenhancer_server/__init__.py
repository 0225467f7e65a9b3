"""`mediaenhancer-server`: a thin Starlette app over mediaenhancer_core.

``create_app(settings)`` builds the ASGI app; ``cli.py`` is the console script
(uvicorn plus headless administration). All account logic lives in the core.

The server's packages are the ``[server]`` extra: ``create_app`` is imported on first use, so that
``mediaenhancer-server`` can say which extra to install instead of failing with a traceback.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from mediaenhancer_core.extras import require_extra  # noqa: PLC0415

        require_extra("server", "the Media Enhancer server")
        from .app import create_app  # noqa: PLC0415

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
