"""`mediaenhancer-server`: a thin Starlette app over mediaenhancer_core.

``create_app(settings)`` builds the ASGI app; ``cli.py`` is the console script
(uvicorn plus headless administration). All account logic lives in the core.
"""

from .app import create_app

__all__ = ["create_app"]
