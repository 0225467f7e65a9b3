"""The database: engine, sessions and migrations.

:class:`Database` wraps one SQLAlchemy engine. ``database_url(settings)`` is the URL in
use: ``settings.database_url`` or the SQLite file ``mediaenhancer.db`` in the data
folder. SQLite connections get foreign keys on, WAL and a busy timeout.

Migrations are Alembic scripts shipped inside this package (``migrations/``).
:meth:`Database.upgrade` applies them; :meth:`Database.check_current` refuses to serve a
database that is behind (the embedded SQLite database is upgraded on first start
instead, see ``mediaenhancer_server``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from mediaenhancer_core.db.models import Base
from mediaenhancer_core.errors import ConfigError, DatabaseError
from mediaenhancer_core.privatefs import make_dirs, touch_private
from mediaenhancer_core.settings import Settings

__all__ = ["Database", "database_url", "Base", "MIGRATIONS_DIR", "HEAD_REVISION"]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The newest migration in migrations/versions (a test holds it to alembic's own answer). Knowing
# it here lets a server whose database is current start without importing alembic (about 10 MB).
HEAD_REVISION = "0005_hardening"
DEFAULT_SQLITE_NAME = "mediaenhancer.db"
SQLITE_BUSY_TIMEOUT_MS = 10_000  # how long a write waits for SQLite's lock before DatabaseError (503)
CONNECT_TIMEOUT_SECONDS = 5  # a PostgreSQL that does not answer is "unavailable" after this, not a hang


def database_url(settings: Settings) -> str:
    """The database URL in use (secret: it may hold a password)."""
    if settings.database_url:
        return settings.database_url.reveal()
    if settings.data_dir is None:  # pragma: no cover - Settings.load always fills it
        raise ConfigError("no data folder set; set MEDIAENHANCER_DATA_DIR or MEDIAENHANCER_DATABASE_URL")
    return f"sqlite:///{settings.data_dir / DEFAULT_SQLITE_NAME}"


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


# SQLite result codes that mean "not now" rather than "wrong": BUSY, LOCKED, READONLY, IOERR,
# FULL, CANTOPEN, PROTOCOL (https://www.sqlite.org/rescode.html)
_SQLITE_UNAVAILABLE = frozenset({5, 6, 8, 10, 13, 14, 15})


def _unavailable(context: Any) -> BaseException | None:
    """``handle_error`` hook: the database being unreachable, stopped or locked (DBAPI
    OperationalError/InterfaceError, on connect or on a statement) becomes our DatabaseError,
    which the API answers 503 ``database_unavailable`` with Retry-After and jobs retry. Other
    errors (integrity, programming) stay SQLAlchemy's. The message names neither the SQL nor
    its parameters."""
    original = context.original_exception
    dbapi = context.engine.dialect.loaded_dbapi if context.engine is not None else None
    kinds = tuple(k for k in (getattr(dbapi, "OperationalError", None), getattr(dbapi, "InterfaceError", None)) if k)
    if not kinds or not isinstance(original, kinds):
        return None
    code = getattr(original, "sqlite_errorcode", None)
    if code is not None and code & 0xFF not in _SQLITE_UNAVAILABLE:
        return None  # SQLite reports mistakes (no such table or column) as OperationalError too
    detail = (str(original).strip().splitlines() or ["no detail"])[0][:200]
    return DatabaseError(f"the database is unavailable ({type(original).__name__}: {detail}); try again shortly")


class Database:
    """One engine and its session factory."""

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 10) -> None:
        self.url = url
        # hide_parameters: SQL parameters (project names, settings, emails) never reach an
        # exception's text, hence never a log line (issue 12)
        kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
        if url.startswith("sqlite"):
            path = url.split("///", 1)[1] if "///" in url else ""
            if path and path != ":memory:":
                try:  # other people's data: the folder 0700, the file (and so its -wal, -shm) 0600
                    make_dirs(Path(path).parent)
                    touch_private(path)
                except OSError as exc:
                    raise DatabaseError(
                        f"cannot create the database folder {Path(path).parent} ({exc.strerror}); "
                        "set MEDIAENHANCER_DATA_DIR to a writable folder"
                    ) from None
            kwargs["connect_args"] = {"check_same_thread": False}
        else:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, pool_timeout=10)
            if url.startswith("postgresql"):
                kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
                if url.startswith("postgresql+psycopg:"):
                    from mediaenhancer_core.extras import import_extra  # noqa: PLC0415

                    import_extra("psycopg", "postgres", "a PostgreSQL database")
        try:
            self.engine: Engine = create_engine(url, **kwargs)
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise ConfigError(f"MEDIAENHANCER_DATABASE_URL: cannot use this database URL ({exc})") from None
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _set_sqlite_pragmas)
        event.listen(self.engine, "handle_error", _unavailable)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(database_url(settings))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def is_embedded(self) -> bool:
        """True for SQLite, which the server migrates by itself on start."""
        return self.dialect == "sqlite"

    def describe(self) -> str:
        """The URL with any password hidden: safe to print and log."""
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed when the block ends, rolled back on any error. The database
        being unreachable or busy (connection lost, locked) surfaces as :class:`DatabaseError`,
        which the API answers 503 and jobs retry."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except (OperationalError, InterfaceError) as exc:
            session.rollback()
            raise DatabaseError(
                f"the database is unavailable ({exc.__class__.__name__}: "
                f"{str(exc.orig).strip().splitlines()[0] if exc.orig else 'no detail'}); try again"
            ) from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def ping(self) -> None:
        """Raise DatabaseError unless the database answers."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise DatabaseError(
                f"database {self.describe()} is unreachable ({type(getattr(exc, 'orig', None) or exc).__name__})"
            ) from None

    def check_writable(self, timeout: float = 1.0) -> None:
        """Raise DatabaseError unless the database would take a write now: SQLite's write lock
        can be had within ``timeout`` (a reader answering is not enough: a locked file still
        reads), PostgreSQL answers and is not a read-only standby. Nothing is written."""
        try:
            with self.engine.connect() as conn:
                if self.dialect == "sqlite":
                    raw = conn.connection.dbapi_connection
                    assert raw is not None
                    raw.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
                    try:
                        raw.execute("BEGIN IMMEDIATE")
                        raw.execute("ROLLBACK")
                    finally:
                        raw.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
                elif self.dialect == "postgresql":
                    if conn.execute(text("SELECT pg_is_in_recovery()")).scalar():
                        raise DatabaseError(f"database {self.describe()} is a read-only standby")
        except DatabaseError:
            raise
        except Exception as exc:  # noqa: BLE001 - sqlite3's own errors come straight from the driver here
            raise DatabaseError(
                f"database {self.describe()} cannot take writes ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else 'no detail'})"
            ) from None

    def check_ready(self) -> None:
        """The readiness probe: current schema and able to write."""
        self.check_current()
        self.check_writable()

    # --- migrations -----------------------------------------------------------

    def upgrade(self, revision: str = "head") -> None:
        from mediaenhancer_core.db.migrate import upgrade  # noqa: PLC0415 - alembic is only needed here

        upgrade(self.engine, revision)

    def current_revision(self) -> str | None:
        """The migration the database is at (alembic's version table), None before the first."""
        try:
            with self.engine.connect() as conn:
                if not inspect(conn).has_table("alembic_version"):
                    return None
                rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        except SQLAlchemyError as exc:
            raise DatabaseError(f"cannot read the database's migration ({type(exc).__name__})") from None
        if len(rows) > 1:
            raise DatabaseError(
                f"database {self.describe()} records several migration heads {sorted(rows)}; "
                "repair its alembic_version table"
            )
        return str(rows[0]) if rows else None

    def head_revision(self) -> str:
        return HEAD_REVISION

    def check_current(self) -> None:
        """Raise DatabaseError unless the schema is at the newest migration."""
        self.ping()
        current, head = self.current_revision(), self.head_revision()
        if current != head:
            raise DatabaseError(
                f"database {self.describe()} is at migration {current or 'none'}, this version needs {head}; "
                "run `mediaenhancer-server db upgrade`"
            )

    def dispose(self) -> None:
        self.engine.dispose()
