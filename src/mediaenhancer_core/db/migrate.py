"""Running the Alembic migrations shipped in ``migrations/`` from code (no alembic.ini needed)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from mediaenhancer_core.errors import DatabaseError

__all__ = ["alembic_config", "upgrade", "current_revision", "head_revision"]  # Database has alembic-free versions


def alembic_config(engine: Engine | None = None) -> Config:
    from mediaenhancer_core.db import MIGRATIONS_DIR  # noqa: PLC0415 - avoid an import cycle

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    try:
        command.upgrade(alembic_config(engine), revision)
    except SQLAlchemyError as exc:
        raise DatabaseError(f"migrating the database failed: {exc.__class__.__name__}: {exc}") from None


def current_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as exc:
        raise DatabaseError(f"cannot read the database's migration ({type(exc).__name__})") from None


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head
