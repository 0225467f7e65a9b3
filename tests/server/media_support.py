"""Fixtures of the media library tests (issue 4), loaded by tests/server/conftest.py.

- ``s3_url``: a real S3 API server on loopback: ``MEDIAENHANCER_TEST_S3_URL`` (scripts/test
  starts ``moto_server``), else moto's ThreadedMotoServer started here. Without moto the S3
  variants skip, or fail under MEDIAENHANCER_TEST_SERVICES=1.
- ``storage_kind``: each test runs on the local backend and on S3 (a fresh bucket each time).
- ``media_core``: a Core on the test database with that storage (5 MiB parts, no reaper thread).
- ``tiny_plan``: a plan with tiny limits, put on a user by email.
- ``media_files``: real media made by ffmpeg (a video, a tone, an image, a longer WAV) and a
  text file named .mp4.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2.profiles import CHEAPEST
from sqlalchemy import delete

from mediaenhancer_core.accounts.passwords import Passwords
from mediaenhancer_core.services import Core
from mediaenhancer_core.settings import Settings

from .conftest import free_port, need_service

PART = 5 * 1024 * 1024
S3_KEYS = {
    "MEDIAENHANCER_S3_ACCESS_KEY_ID": "testing",
    "MEDIAENHANCER_S3_SECRET_ACCESS_KEY": "testing-secret",
    "MEDIAENHANCER_S3_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def s3_url() -> Iterator[str]:
    url = os.environ.get("MEDIAENHANCER_TEST_S3_URL")
    if url:
        import httpx

        try:
            httpx.get(url, timeout=5)
        except httpx.TransportError as exc:
            need_service(f"the S3 test server at {url} is unreachable ({exc.__class__.__name__})")
        yield url.rstrip("/")
        return
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        need_service("moto[server] is not installed; pip install -e '.[test]' (scripts/test does)")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def s3_client(url: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3",
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing-secret",
        region_name="us-east-1",
        config=Config(signature_version="s3v4"),
    )


@pytest.fixture(params=["local", "s3"])
def storage_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def storage_env(settings_env: dict[str, str], storage_kind: str, request: pytest.FixtureRequest) -> dict[str, str]:
    settings_env.update(
        {"MEDIAENHANCER_UPLOAD_PART_BYTES": str(PART), "MEDIAENHANCER_STORAGE_REAP_INTERVAL_SECONDS": "0"}
    )
    if storage_kind == "s3":
        url = request.getfixturevalue("s3_url")
        bucket = f"test-{uuid.uuid4().hex[:20]}"
        s3_client(url).create_bucket(Bucket=bucket)
        settings_env.update(
            {
                "MEDIAENHANCER_STORAGE_BACKEND": "s3",
                "MEDIAENHANCER_S3_ENDPOINT_URL": url,
                "MEDIAENHANCER_S3_BUCKET": bucket,
                **S3_KEYS,
            }
        )
    return settings_env


@pytest.fixture
def media_core(storage_env: dict[str, str], database: Any, clock: Any, fetch_json: Any) -> Iterator[Core]:
    core = Core.open(
        Settings.load(storage_env), db=database, passwords=Passwords(CHEAPEST), clock=clock, fetch_json=fetch_json
    )
    yield core
    assert core.library is not None
    core.library.close()


def stored(core: Core) -> tuple[list[str], list[str]]:
    """Keys of every stored object and of every started upload."""
    assert core.library is not None
    storage = core.library.storage
    return sorted(o.key for o in storage.list_objects()), sorted(u.key for u in storage.list_uploads())


TINY_PLAN = "test-tiny"


@pytest.fixture
def tiny_plan(media_core: Core) -> Iterator[Callable[..., None]]:
    """``assign(email, storage=..., projects=..., duration=...)``: the user gets a private plan with these limits."""
    from mediaenhancer_core.db.models import SubscriptionPlan, UserSubscription

    def assign(
        email: str,
        *,
        storage: int | None = 10**9,
        projects: int | None = 100,
        duration: int = 3600,
        exports: int | None = 100,
    ) -> None:
        with media_core.db.session() as s:
            plan = s.get(SubscriptionPlan, TINY_PLAN)
            if plan is None:
                plan = SubscriptionPlan(
                    id=TINY_PLAN,
                    name="Tiny",
                    price_cents=0,
                    features=[],
                    sort_order=-1,
                    is_public=False,
                    max_media_duration_seconds=duration,
                )
                s.add(plan)
            plan.storage_limit_bytes, plan.project_limit = storage, projects
            plan.max_media_duration_seconds, plan.monthly_export_limit = duration, exports
        media_core.accounts.set_plan(email, TINY_PLAN)

    yield assign
    with media_core.db.session() as s:
        s.execute(delete(UserSubscription).where(UserSubscription.plan_id == TINY_PLAN))
        s.execute(delete(SubscriptionPlan).where(SubscriptionPlan.id == TINY_PLAN))


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def _clip(dest: Path) -> Path:
    _ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=160x120:r=25:d=2",
        "-f",
        "lavfi",
        "-i",
        "sine=f=440:d=2",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-shortest",
        str(dest),
    )
    return dest


def _tone(dest: Path) -> Path:
    _ffmpeg("-f", "lavfi", "-i", "sine=f=440:d=1", "-ac", "1", "-ar", "48000", "-c:a", "pcm_s16le", str(dest))
    return dest


def _long(dest: Path) -> Path:  # 60 s of stereo PCM: about 11 MiB, more than two 5 MiB parts
    _ffmpeg("-f", "lavfi", "-i", "sine=f=330:d=60", "-ac", "2", "-ar", "48000", "-c:a", "pcm_s16le", str(dest))
    return dest


def _still(dest: Path) -> Path:
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=s=64x48", "-frames:v", "1", str(dest))
    return dest


def _fake(dest: Path) -> Path:
    dest.write_text("This is a text file, not a video, whatever its name says.\n" * 20)
    return dest


@pytest.fixture
def media_files(make_media: Callable[..., Path], tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "in"
    folder.mkdir()
    build = {
        "clip": ("media-lib-clip.mp4", _clip),
        "tone": ("media-lib-tone.wav", _tone),
        "still": ("media-lib-still.png", _still),
        "fake": ("media-lib-fake.mp4", _fake),
    }
    return {name: make_media(file, factory, folder) for name, (file, factory) in build.items()}


@pytest.fixture
def long_wav(make_media: Callable[..., Path], tmp_path: Path) -> Path:
    return make_media("media-lib-long.wav", _long, tmp_path)
