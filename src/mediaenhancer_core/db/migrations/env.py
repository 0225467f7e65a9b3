"""Alembic environment: runs against the engine handed in by ``migrate.py``,
or against ``MEDIAENHANCER_DATABASE_URL`` when run by the ``alembic`` command
(``alembic -c src/mediaenhancer_core/db/alembic.ini revision --autogenerate -m ...``)."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine

from mediaenhancer_core.db.models import Base

target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = context.config.attributes.get("engine")
    owned = engine is None
    if engine is None:
        url = os.environ.get("MEDIAENHANCER_DATABASE_URL")
        if not url:
            raise SystemExit("set MEDIAENHANCER_DATABASE_URL to the database to migrate")
        engine = create_engine(url)
    try:
        with engine.begin() as connection:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
                compare_type=True,
            )
            context.run_migrations()
    finally:
        if owned:
            engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
run_migrations_online()
