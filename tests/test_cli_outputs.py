"""Local `enhance` never writes what a user did not ask for, and says when it plans without
Gemini (issue 12): a --format that contradicts the -o name is refused, --save-plan writes the
plan even when the render is skipped (the README's example), and --planner gemini without a
key (or with Gemini failing) prints one notice on stderr."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mediaenhancer_cli.app import app
from mediaenhancer_core.exit_codes import ExitCode
from tests import media as M
from tests.ssrf_support import Listener


def cli(*args: object):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.stderr
    return result


@pytest.fixture
def talk(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return M.make_audio(tmp_path / "talk.wav", 2.0, ("-c:a", "pcm_s16le"), level=0.03, noise=0.003)


def test_a_format_that_contradicts_the_output_name_is_refused(talk: Path, tmp_path: Path) -> None:
    r = cli("enhance", talk.name, "--format", "mp3", "-o", "out.wav")
    assert r.exit_code == ExitCode.PLAN_INVALID, r.output
    assert "out.wav" in r.stderr and "out.mp3" in r.stderr and "--format" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("out")) == []
    # a plan of one format and a name of another: the same
    assert cli("enhance", talk.name, "--format", "mp3", "--dry-run", "--save-plan", "p.json").exit_code == 0
    r = cli("enhance", talk.name, "--plan", "p.json", "-o", "out.flac")
    assert r.exit_code == ExitCode.PLAN_INVALID and "the plan writes MP3" in r.stderr, r.output
    # what agrees is written, as MP3 data in an .mp3
    ok = cli("enhance", talk.name, "--format", "mp3", "-o", "out.mp3", "-q")
    assert ok.exit_code == 0, ok.output
    assert M.probe(tmp_path / "out.mp3")["format"]["format_name"] == "mp3"


def test_save_plan_writes_the_plan_even_when_the_render_is_skipped(talk: Path, tmp_path: Path) -> None:
    assert cli("enhance", talk.name, "-q").exit_code == 0
    out = tmp_path / "talk.enhanced.wav"
    made = out.read_bytes()
    # the README: enhance talk --save-plan p.json && enhance talk --plan p.json --force
    r = cli("enhance", talk.name, "--save-plan", "p.json", "--json")
    assert r.exit_code == 0, r.output
    row = json.loads(r.stdout.splitlines()[0])
    assert row["status"] == "skipped" and "p.json" in row["reason"]
    plan = json.loads((tmp_path / "p.json").read_text())
    assert plan["version"] == 1 and plan["loudness"]["target_lufs"] == -16
    assert out.read_bytes() == made  # skipped: the output is untouched
    again = cli("enhance", talk.name, "--plan", "p.json", "--force", "-q")
    assert again.exit_code == 0, again.output


def _notices(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "notice:" in line]


def test_gemini_without_a_key_says_so_once(talk: Path, tmp_path: Path) -> None:
    second = M.make_audio(tmp_path / "b.wav", 2.0, ("-c:a", "pcm_s16le"), level=0.03)
    for extra in ((), ("--json",)):
        r = cli("enhance", talk.name, second.name, "--planner", "gemini", "--force", *extra)
        assert r.exit_code == 0, r.output
        notices = _notices(r.stderr)
        assert len(notices) == 1, r.stderr  # one line, not one per file
        assert "gemini planner not used" in notices[0] and "GEMINI_API_KEY" in notices[0]
    quiet = cli("enhance", talk.name, "--planner", "gemini", "--force", "-q")
    assert quiet.exit_code == 0 and _notices(quiet.stderr) == []
    local = cli("enhance", talk.name, "--force")
    assert local.exit_code == 0 and _notices(local.stderr) == []


def test_gemini_failing_says_so_for_the_file(talk: Path, monkeypatch) -> None:
    dead = Listener()  # answers 404 to everything: Gemini "refuses"
    try:
        monkeypatch.setenv("GEMINI_API_KEY", "test-key")
        monkeypatch.setenv("MEDIAENHANCER_GEMINI_BASE_URL", f"http://127.0.0.1:{dead.port}")
        monkeypatch.setenv("MEDIAENHANCER_GEMINI_RETRIES", "0")
        r = cli("enhance", talk.name, "--planner", "gemini", "--force")
    finally:
        dead.close()
    assert r.exit_code == 0, r.output
    (notice,) = _notices(r.stderr)
    assert "talk.wav" in notice and "gemini planner not used" in notice
