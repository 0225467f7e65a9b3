"""`mediaenhancer transcribe`: files, names, JSON, and an exit code for every failure (in-process, CliRunner)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mediaenhancer_cli.app import app
from mediaenhancer_core.exit_codes import ExitCode
from tests.gemini_standin import GeminiStandIn, error_answer, safety_block
from tests.test_transcribe import SPEECH, FakeRecogniser, make_speech


@pytest.fixture(scope="module")
def server() -> Iterator[GeminiStandIn]:
    with GeminiStandIn() as s:
        yield s


@pytest.fixture
def standin(server: GeminiStandIn, monkeypatch: pytest.MonkeyPatch) -> GeminiStandIn:
    server.reset()
    server.handler = FakeRecogniser()
    monkeypatch.setenv("GEMINI_API_KEY", "test-key")
    monkeypatch.setenv("MEDIAENHANCER_GEMINI_BASE_URL", server.base_url)
    monkeypatch.setenv("MEDIAENHANCER_GEMINI_RETRIES", "0")
    return server


@pytest.fixture(scope="module")
def talk_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_speech(tmp_path_factory.mktemp("cli-speech") / "talk.m4a")


@pytest.fixture
def talk(talk_source: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "talk.m4a"
    dest.write_bytes(talk_source.read_bytes())
    return dest


def run(*args: str):
    result = CliRunner().invoke(app, ["transcribe", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.stderr
    return result


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != "talk.m4a")


def test_writes_srt_vtt_and_a_json_transcript_beside_the_input(standin, talk) -> None:
    result = run(str(talk))
    assert result.exit_code == 0, result.stderr
    assert leftovers(talk.parent) == ["talk.srt", "talk.transcript.json", "talk.vtt"]
    assert (
        f"wrote {talk.with_suffix('.srt')}" in result.stdout and "5 segments, language en, 2 chapters" in result.stdout
    )
    srt = talk.with_suffix(".srt").read_text("utf-8")
    assert srt.startswith("1\n00:00:00,5") and srt.count(" --> ") == len(SPEECH)
    assert talk.with_suffix(".vtt").read_text("utf-8").startswith("WEBVTT")
    data = json.loads(talk.with_name("talk.transcript.json").read_text("utf-8"))
    assert len(data["segments"]) == len(SPEECH) and data["summary"] and len(data["chapters"]) == 2


def test_one_format_to_a_named_file_with_a_language_and_json_output(standin, talk, tmp_path) -> None:
    out = tmp_path / "subs" / "english.vtt"
    result = run(str(talk), "--format", "vtt", "-o", str(out), "--language", "en-GB", "--json")
    assert result.exit_code == 0, result.stderr
    obj = json.loads(result.stdout)
    assert obj["status"] == "transcribed" and obj["outputs"] == {"vtt": str(out)} and obj["language"] == "en-GB"
    assert obj["chapters"] == [] and obj["summary"] is None  # no json format: no chapters request
    assert out.read_text("utf-8").startswith("WEBVTT\nLanguage: en-GB")
    assert "The speech is in en-GB." in standin.calls[0].text
    assert len(standin.calls) == 1  # 22 s: one chunk


def test_without_a_key_the_error_names_gemini_api_key(standin, talk, monkeypatch) -> None:
    monkeypatch.delenv("GEMINI_API_KEY")
    result = run(str(talk))
    assert result.exit_code == ExitCode.AI_NOT_CONFIGURED == 60
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "GEMINI_API_KEY" in lines[0]
    assert standin.requests == [] and leftovers(talk.parent) == []


@pytest.mark.parametrize(
    ("reply", "code", "says"),
    [
        (error_answer(429, "RESOURCE_EXHAUSTED", "Quota exceeded"), ExitCode.AI_QUOTA, "quota"),
        (
            error_answer(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key."),
            ExitCode.AI_NOT_CONFIGURED,
            "GEMINI_API_KEY",
        ),
        (error_answer(500, "INTERNAL", "An internal error has occurred."), ExitCode.AI_FAILED, "500 INTERNAL"),
        (safety_block(), ExitCode.AI_FAILED, "SAFETY"),
    ],
    ids=["429", "bad-key", "500", "safety"],
)
def test_gemini_failures_have_their_exit_codes_and_leave_no_files(standin, talk, reply, code, says) -> None:
    standin.answer(reply)
    result = run(str(talk))
    assert result.exit_code == code, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and says in lines[0]
    assert leftovers(talk.parent) == []


@pytest.mark.parametrize(
    ("args", "says"),
    [(["--format", "srt,txt"], "unknown format 'txt'"), (["--language", "english please"], "not a language code")],
)
def test_bad_options_are_usage_errors(standin, talk, args, says) -> None:
    result = run(str(talk), *args)
    assert result.exit_code == ExitCode.USAGE and says in result.stderr
    assert standin.requests == []


def test_the_input_is_never_overwritten(standin, talk) -> None:
    before = talk.read_bytes()
    result = run(str(talk), "--format", "srt", "-o", str(talk))
    assert result.exit_code == ExitCode.OUTPUT_IS_INPUT and talk.read_bytes() == before


def test_a_missing_file_is_an_input_error(standin, tmp_path) -> None:
    result = run(str(tmp_path / "nothing.mp3"))
    assert result.exit_code == ExitCode.INPUT_NOT_FOUND


def test_help_mentions_the_key_and_the_formats() -> None:
    result = CliRunner().invoke(app, ["transcribe", "--help"])
    assert result.exit_code == 0
    assert "GEMINI_API_KEY" in result.stdout and "srt" in result.stdout and "--language" in result.stdout
