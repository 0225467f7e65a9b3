"""Fixtures for the account server: databases (SQLite and PostgreSQL), a core with a fake
clock, the app in-process, and a live uvicorn server for the few end-to-end tests.

PostgreSQL comes from MEDIAENHANCER_TEST_DATABASE_URL (scripts/test starts a throwaway
cluster). Without it the PostgreSQL variants skip, unless MEDIAENHANCER_TEST_SERVICES=1
(CI), where they fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2.profiles import CHEAPEST
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from mediaenhancer_core.accounts.passwords import Passwords
from mediaenhancer_core.db import Database
from mediaenhancer_core.db.models import Base
from mediaenhancer_core.services import Core
from mediaenhancer_core.settings import Settings

BACKENDS = ["sqlite", "postgresql"]
KEEP_TABLES = {"subscription_plans", "alembic_version"}
PASSWORD = "correct horse battery"


def services_required() -> bool:
    return os.environ.get("MEDIAENHANCER_TEST_SERVICES") == "1"


def need_service(message: str) -> None:
    if services_required():
        pytest.fail(f"{message} (MEDIAENHANCER_TEST_SERVICES=1: a missing service fails)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    url = os.environ.get("MEDIAENHANCER_TEST_DATABASE_URL")
    if not url:
        need_service("MEDIAENHANCER_TEST_DATABASE_URL is not set; scripts/test starts PostgreSQL")
    return url  # type: ignore[return-value]


class PgDatabases:
    """Creates and drops throwaway databases on the test cluster."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")

    def create(self, name: str) -> str:
        with self.engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def drop(self, name: str) -> None:
        with self.engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def pg_databases(pg_admin_url: str) -> Iterator[PgDatabases]:
    dbs = PgDatabases(pg_admin_url)
    try:
        with dbs.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001
        need_service(f"PostgreSQL at {pg_admin_url} is unreachable ({exc.__class__.__name__})")
    yield dbs
    dbs.engine.dispose()


@pytest.fixture
def fresh_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """Empty databases (no migrations), for the schema tests."""
    created: list[tuple[PgDatabases, str]] = []

    def make(backend: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{tmp_path / f'fresh-{uuid.uuid4().hex[:8]}.db'}"
        dbs: PgDatabases = request.getfixturevalue("pg_databases")
        name = f"me_fresh_{uuid.uuid4().hex[:12]}"
        created.append((dbs, name))
        return dbs.create(name)

    yield make
    for dbs, name in created:
        dbs.drop(name)


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    with db.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.dispose()
    return path


@pytest.fixture(scope="session")
def pg_migrated_url(pg_databases: PgDatabases) -> Iterator[str]:
    name = f"me_test_{_worker()}"
    url = pg_databases.create(name)
    db = Database(url)
    db.upgrade()
    db.dispose()
    yield url
    pg_databases.drop(name)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated database with no users, on each backend."""
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "test.db"
        shutil.copyfile(template, path)
        db = Database(f"sqlite:///{path}")
    else:
        db = Database(request.getfixturevalue("pg_migrated_url"), pool_size=5)
        tables = [t.name for t in Base.metadata.sorted_tables if t.name not in KEEP_TABLES]
        with db.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {', '.join(tables)} CASCADE"))
    yield db
    db.dispose()


class FakeClock:
    """Real time, shifted by advance(): tests move through expiries without sleeping."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings_env(tmp_path: Path) -> dict[str, str]:
    """The environment the settings are loaded from; tests add keys before using `core`."""
    return {
        "MEDIAENHANCER_CONFIG_DIR": str(tmp_path / "config"),
        "MEDIAENHANCER_DATA_DIR": str(tmp_path / "data"),
        "MEDIAENHANCER_CACHE_DIR": str(tmp_path / "cache"),
    }


@pytest.fixture
def settings(settings_env: dict[str, str]) -> Settings:
    return Settings.load(settings_env)


@pytest.fixture
def fetch_json() -> Callable[[str], Any]:
    from mediaenhancer_core.accounts.identity import http_get_json

    return http_get_json


@pytest.fixture
def core(settings: Settings, database: Database, clock: FakeClock, fetch_json: Callable[[str], Any]) -> Iterator[Core]:
    core = Core.open(settings, db=database, passwords=Passwords(CHEAPEST), clock=clock, fetch_json=fetch_json)
    yield core
    core.tokens.last_used.close()  # its thread's last write before `database` disposes the engine


@pytest.fixture
def app(core: Core) -> Any:
    from mediaenhancer_server import create_app

    return create_app(core=core, prepare_database=False)


@pytest.fixture(autouse=True)
def _answers_fit_their_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every answer of an in-process app is checked against its route's response model."""
    from starlette.testclient import TestClient

    from .response_check import check_response

    request = TestClient.request

    def checked(self: Any, method: str, url: Any, *args: Any, **kwargs: Any) -> Any:
        response = request(self, method, url, *args, **kwargs)
        check_response(self.app, response)
        return response

    monkeypatch.setattr(TestClient, "request", checked)


@pytest.fixture
def client(app: Any) -> Iterator[Any]:
    from starlette.testclient import TestClient

    with TestClient(app, base_url="http://testserver") as c:
        yield c


@dataclass
class Account:
    id: uuid.UUID
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def make_account(core: Core) -> Callable[..., Account]:
    def make(email: str | None = None, password: str | None = PASSWORD) -> Account:
        email = email or f"user-{uuid.uuid4().hex[:8]}@example.com"
        user = core.accounts.create_user(email, password)
        _, token = core.tokens.create(user.id, "test")
        return Account(user.id, user.email, token)

    return make


# --- a live server (few tests: CLI end to end, browser) ----------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    core: Core


@pytest.fixture
def live_server(core: Core) -> Iterator[LiveServer]:
    import uvicorn

    from mediaenhancer_server import create_app

    port = free_port()
    config = uvicorn.Config(
        create_app(core=core, prepare_database=False),
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the live server did not start")
        time.sleep(0.02)
    yield LiveServer(f"http://127.0.0.1:{port}", core)
    server.should_exit = True
    thread.join(timeout=10)


# Media library fixtures (issue 4): storage backends, a moto S3 server, tiny plans, test media.
from tests.server.media_support import (  # noqa: E402, F401
    long_wav,
    media_core,
    media_files,
    s3_url,
    storage_env,
    storage_kind,
    tiny_plan,
)

# --- a real browser (Debian's chromium driven by Playwright; it never downloads one) ----------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not shutil.which("chromium") and not shutil.which(CHROMIUM):
        need_service("Debian's chromium is not installed (apt-get install chromium; scripts/test does it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need_service("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser) -> Iterator[Any]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


# --- Stripe (billing tests) --------------------------------------------------------------------


@pytest.fixture
def standin() -> Iterator[Any]:
    """A local stand-in for the Stripe API (tests/server/stripe_standin.py), on a free port."""
    from .stripe_standin import StripeStandIn

    standin = StripeStandIn().start()
    yield standin
    standin.stop()


@pytest.fixture
def billing_env(settings_env: dict[str, str], standin: Any) -> dict[str, str]:
    """Settings for the stand-in. Request it before ``core`` (or autouse it in the module)."""
    settings_env.update(
        {
            "MEDIAENHANCER_STRIPE_SECRET_KEY": standin.api_key,
            "MEDIAENHANCER_STRIPE_WEBHOOK_SECRET": standin.webhook_secret,
            "MEDIAENHANCER_STRIPE_API_BASE": standin.url,
            "MEDIAENHANCER_STRIPE_HOSTED_ORIGINS": standin.url,  # its hosted Checkout and portal pages
            "MEDIAENHANCER_STRIPE_PRICE_CREATOR": "price_creator",
            "MEDIAENHANCER_STRIPE_PRICE_PROFESSIONAL": "price_professional",
            "MEDIAENHANCER_STRIPE_MAX_NETWORK_RETRIES": "0",
            "MEDIAENHANCER_STRIPE_TIMEOUT_SECONDS": "10",
        }
    )
    return settings_env
