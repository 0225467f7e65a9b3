"""The baseline for bench/auth_me.py: a bare Starlette JSON endpoint, no middleware, no database."""

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


async def me(request):  # type: ignore[no-untyped-def]
    return JSONResponse({"id": "00000000-0000-0000-0000-000000000000", "email": "bench@example.com"})


app = Starlette(routes=[Route("/api/auth/me", me)])
