"""`mediaenhancer enhance --remote`, `export --remote` and `jobs ...` against a live server whose
jobs run in a worker sharing its queue."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mediaenhancer_core.exit_codes import ExitCode
from mediaenhancer_core.jobs.system import JobSystem
from tests import media as M

runner = CliRunner()


@pytest.fixture
def storage_kind() -> str:
    return "local"


@pytest.fixture
def core(media_core):
    return media_core


@pytest.fixture
def worker(core):
    """A worker on the same queue file as the live server (which runs without a lifespan)."""
    jobs = JobSystem.open(core)
    jobs.start_embedded(2)
    yield jobs
    jobs.stop()


@pytest.fixture
def cli(live_server, worker, make_account, monkeypatch, tmp_path):
    from mediaenhancer_cli.app import app

    account = make_account()
    monkeypatch.setenv("MEDIAENHANCER_SERVER_URL", live_server.url)
    monkeypatch.setenv("MEDIAENHANCER_TOKEN", account.token)
    monkeypatch.setenv("MEDIAENHANCER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "250")

    def run(*args: object):
        return runner.invoke(app, [str(a) for a in args])

    return run


def _lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_enhance_remote_uploads_queues_follows_and_downloads(cli, tmp_path, monkeypatch) -> None:
    talk = M.make_audio(tmp_path / "talk.wav", 5.0, ("-c:a", "pcm_s16le"), level=0.02, noise=0.006)
    r = cli("enhance", "--remote", talk, "--format", "flac", "--json")
    assert r.exit_code == 0, r.output
    row = _lines(r.stdout)[0]
    assert row["status"] == "enhanced" and row["job"]["status"] == "succeeded"
    out = Path(row["output"])
    assert out == tmp_path / "talk.enhanced.flac" and out.exists()
    assert abs(M.loudness(out) - -16.0) <= 0.5
    # the uploaded original can be enhanced again by its media id (a unique prefix of it, as git takes them)
    media_id = row["job"]["media_id"]
    again = cli("enhance", "--remote", media_id[:8], "--type", "denoise", "-o", tmp_path / "again.flac", "--json")
    assert again.exit_code == 0, again.output
    assert (tmp_path / "again.flac").exists()
    jobs = _lines(cli("jobs", "list", "--json").stdout)
    assert [j["type"] for j in jobs] == ["denoise", "auto"] and {j["status"] for j in jobs} == {"succeeded"}
    # the table at 80 columns keeps ids whole (8 characters, accepted back as prefixes); piped: whole ids
    from tests.cli_tables import PIPE_80, TERMINAL_80, assert_plain, assert_terminal

    ids = tuple(x for j in jobs for x in (j["id"], j["media_id"], j.get("result_media_id")) if x)
    for key, value in TERMINAL_80.items():
        monkeypatch.setenv(key, value)
    assert_terminal(cli("jobs", "list").stdout, ids=ids)
    for key, value in PIPE_80.items():
        monkeypatch.setenv(key, value)
    assert_plain(cli("jobs", "list").stdout, *ids)
    monkeypatch.setenv("TTY_COMPATIBLE", "")
    watched = cli("jobs", "watch", jobs[0]["id"][:8], "--json")
    assert watched.exit_code == 0 and _lines(watched.stdout)[0]["status"] == "succeeded"
    late = cli("jobs", "cancel", jobs[0]["id"][:6])
    assert late.exit_code == int(ExitCode.CONFLICT) and "already succeeded" in late.output


def test_export_remote_renders_a_stored_project(cli, tmp_path) -> None:
    clip = M.make_video(tmp_path / "clip.mp4", 2.0, level=0.03)
    up = _lines(cli("upload", clip, "--json").stdout)[0]
    media_id = up["media"]["id"]
    made = cli("projects", "create", "Trailer", "--json")
    assert made.exit_code == 0, made.output
    project_id = json.loads(made.stdout)["id"]
    added = cli("projects", "add", project_id, media_id, "--start", "0.5", "--end", "1.5", "--json")
    assert added.exit_code == 0, added.output
    r = cli("export", "--remote", project_id, "-o", tmp_path / "trailer.mp4", "--quality", "draft", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["export"]["status"] == "succeeded"
    assert abs(float(M.probe(tmp_path / "trailer.mp4")["format"]["duration"]) - 1.0) <= 0.1


def test_remote_errors_are_one_line_with_their_exit_code(cli, tmp_path) -> None:
    missing = cli("enhance", "--remote", "00000000-0000-4000-8000-000000000000")
    assert missing.exit_code == int(ExitCode.NOT_FOUND) and "Traceback" not in missing.output
    text = tmp_path / "notes.mp4"
    text.write_text("not media\n" * 100)
    bad = cli("enhance", "--remote", text)
    assert bad.exit_code == int(ExitCode.INPUT_NOT_MEDIA), bad.output
    usage = cli("enhance", "--remote", text, "--dry-run")
    assert usage.exit_code == 2
