"""Optional features and the packages they need (issue 15).

``pip install mediaenhancer`` is the engine and the CLI: what ``enhance``, ``analyze``, ``sample``
and ``export`` need on one machine. Everything else is an extra (see ``pyproject.toml``):

    server    the account server and its workers (Starlette, uvicorn, SQLAlchemy, alembic, huey, argon2, ...)
    postgres  PostgreSQL as the server's database (psycopg)
    redis     the Redis-backed job queue
    s3        S3-compatible media storage (boto3)
    billing   Stripe billing
    ai        Gemini: ``transcribe``, ``enhance --subtitles``, ``--planner gemini``, AI jobs
    all       every extra above

A feature that needs a missing extra goes through :func:`import_extra` (or :func:`require_extra`),
which raises :class:`~mediaenhancer_core.errors.MissingExtraError` with one line that says what to
install; the CLI maps it to its own exit code and the server to a startup error.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from mediaenhancer_core.errors import MissingExtraError

__all__ = ["EXTRAS", "import_extra", "require_extra", "missing_extra_message"]

# The top-level modules each extra brings (what require_extra looks for without importing them).
EXTRAS: dict[str, tuple[str, ...]] = {
    "server": (
        "starlette",
        "uvicorn",
        "jinja2",
        "multipart",
        "argon2",
        "zxcvbn",
        "joserfc",
        "sqlalchemy",
        "alembic",
        "huey",
        "standardwebhooks",
    ),
    "postgres": ("psycopg",),
    "redis": ("redis",),
    "s3": ("boto3", "botocore"),
    "billing": ("stripe",),
    "ai": ("google.genai",),
}


def missing_extra_message(extra: str, what: str) -> str:
    return f"{what} needs the [{extra}] extra: pip install 'mediaenhancer[{extra}]'"


def import_extra(module: str, extra: str, what: str) -> ModuleType:
    """Import ``module``, which ``what`` (a feature, said to the user) needs from ``extra``.
    A missing module (or one of its own dependencies) raises MissingExtraError."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(missing_extra_message(extra, what), extra=extra) from None


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or None in sys.modules
        return False


def require_extra(extra: str, what: str) -> None:
    """Check, without importing them (cheap at start-up), that every module of ``extra`` is installed."""
    if not all(_installed(name) for name in EXTRAS[extra]):
        raise MissingExtraError(missing_extra_message(extra, what), extra=extra)
