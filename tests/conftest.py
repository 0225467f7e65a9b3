"""Shared fixtures: a clean environment for every test, the ffmpeg tools, generated media."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import media as M

KEEP_ENV = ("MEDIAENHANCER_TEST_",)


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No MEDIAENHANCER_* setting from the developer's shell leaks in; folders point into tmp."""
    for key in list(os.environ):
        if key.startswith("MEDIAENHANCER_") and not key.startswith(KEEP_ENV):
            monkeypatch.delenv(key, raising=False)
        if key in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "STRIPE_API_KEY"):
            monkeypatch.delenv(key, raising=False)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("MEDIAENHANCER_CONFIG_DIR", str(home / "config"))
    monkeypatch.setenv("MEDIAENHANCER_DATA_DIR", str(home / "data"))
    monkeypatch.setenv("MEDIAENHANCER_CACHE_DIR", str(home / "cache"))
    yield


@pytest.fixture(scope="session")
def tools():
    from mediaenhancer_core.engine.ffmpeg import locate_ffmpeg

    return locate_ffmpeg(path_env=os.environ.get("PATH"))


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def make_media(media_dir: Path) -> Callable[..., Path]:
    """Build a named test file once per session (per worker) and return a fresh copy for the test."""
    cache: dict[str, Path] = {}

    def build(name: str, factory: Callable[[Path], Path], dest_dir: Path) -> Path:
        if name not in cache:
            cache[name] = factory(media_dir / name)
        dest = dest_dir / name
        shutil.copyfile(cache[name], dest)
        return dest

    return build


@pytest.fixture
def media(make_media, request: pytest.FixtureRequest) -> Callable[..., Path]:
    """``make_media`` with cache keys private to the test file: the per-worker cache is shared by
    every test file, and a name such as clip.mp4 means different media in each."""
    prefix = request.module.__name__.rsplit(".", 1)[-1]

    def build(name: str, factory: Callable[[Path], Path], dest_dir: Path) -> Path:
        dest_dir.mkdir(parents=True, exist_ok=True)
        return make_media(f"{prefix}-{name}", factory, dest_dir).rename(dest_dir / name)

    return build


# Markers for the tests that need a service (issue 15), so that e.g. `pytest -m "not slow and not
# browser"` or `-m "not postgres and not s3 and not redis"` works on a machine without them. They are
# applied here from what a test uses: a fixture that starts or reaches the service, or a parameter
# that selects it (the backend, storage kind or queue it runs on). CI runs them all.
SERVICE_FIXTURES: dict[str, set[str]] = {
    "postgres": {"pg_admin_url", "pg_databases", "pg_migrated_url", "own_postgres"},
    "s3": {"s3_url"},
    "redis": set(),  # tests that read MEDIAENHANCER_TEST_REDIS_URL carry the marker themselves
    "browser": {"browser", "page"},
}
SERVICE_PARAMS: dict[str, set[tuple[str, str]]] = {
    "postgres": {("backend", "postgresql"), ("kind", "postgresql")},
    "s3": {("storage_kind", "s3")},
    "redis": {("queue", "redis")},
    "browser": set(),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        params = {(k, v) for k, v in callspec.params.items() if isinstance(v, str)} if callspec else set()
        for marker, fixtures in SERVICE_FIXTURES.items():
            if used & fixtures or params & SERVICE_PARAMS[marker]:
                item.add_marker(marker)


@pytest.fixture
def noisy_speech_wav(make_media, tmp_path: Path) -> Path:
    return make_media(
        "noisy.wav", lambda p: M.make_audio(p, 8.0, ("-c:a", "pcm_s16le"), level=0.02, noise=0.01, hum_hz=50), tmp_path
    )


@pytest.fixture
def clip_mp4(make_media, tmp_path: Path) -> Path:
    return make_media("clip.mp4", lambda p: M.make_video(p, 4.0, level=0.03, noise=0.005), tmp_path)
