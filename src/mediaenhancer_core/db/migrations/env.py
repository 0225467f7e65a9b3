"""Alembic environment: runs against the engine handed in by ``migrate.py``, or, when a
developer runs the ``alembic`` command, against the URL given with ``-x url=...``
(``alembic -c src/mediaenhancer_core/db/alembic.ini -x url=sqlite:////tmp/dev.db revision --autogenerate -m ...``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from mediaenhancer_core.db.models import Base

target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = context.config.attributes.get("engine")
    owned = engine is None
    if engine is None:
        url = context.get_x_argument(as_dictionary=True).get("url")
        if not url:
            raise SystemExit("give the database to migrate with -x url=DATABASE_URL")
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
