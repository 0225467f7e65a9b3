"""`enhance --planner gemini`, `--subtitles` and `--burn-in`, through the CLI (in-process) against the stand-in.

Skipped until enhance is wired to mediaenhancer_core.ai (Plan.burn_in, EnhanceJob.subtitles).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mediaenhancer_cli.app import app
from mediaenhancer_core.engine.enhance import EnhanceJob
from mediaenhancer_core.engine.plan import Plan
from mediaenhancer_core.engine.subtitles import map_time
from mediaenhancer_core.exit_codes import ExitCode
from tests import media as M
from tests.gemini_standin import GeminiStandIn, error_answer, json_answer
from tests.test_gemini_planner import GOOD
from tests.test_transcribe import SPEECH, TOLERANCE, FakeRecogniser, make_speech

pytestmark = pytest.mark.skipif(
    "burn_in" not in Plan.__dataclass_fields__ or "subtitles" not in EnhanceJob.__dataclass_fields__,
    reason="enhance is not wired to the Gemini planner and subtitles yet",
)


@pytest.fixture(scope="module")
def server() -> Iterator[GeminiStandIn]:
    with GeminiStandIn() as s:
        yield s


@pytest.fixture
def standin(server: GeminiStandIn, monkeypatch: pytest.MonkeyPatch) -> GeminiStandIn:
    server.reset()
    monkeypatch.setenv("GEMINI_API_KEY", "test-key")
    monkeypatch.setenv("MEDIAENHANCER_GEMINI_BASE_URL", server.base_url)
    monkeypatch.setenv("MEDIAENHANCER_GEMINI_RETRIES", "0")
    monkeypatch.setenv("MEDIAENHANCER_TRANSCRIBE_CHUNK_SECONDS", "30")
    return server


@pytest.fixture(scope="module")
def talk_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Black picture, speech with known spans and pauses long enough to trim."""
    d = tmp_path_factory.mktemp("enhance-speech")
    audio = make_speech(d / "talk.m4a")
    video = d / "talk.mp4"
    M.ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "color=black:s=320x240:r=10:d=22",
        "-i",
        str(audio),
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-c:a",
        "copy",
        "-shortest",
        str(video),
    )
    return video


@pytest.fixture
def talk(talk_video: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "talk.mp4"
    dest.write_bytes(talk_video.read_bytes())
    return dest


def run(*args: str):
    result = CliRunner().invoke(app, ["enhance", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.stderr
    return result


def test_planner_gemini_dry_run_shows_gemini_steps(standin, talk) -> None:
    standin.answer(json_answer(GOOD))
    result = run(str(talk), "--planner", "gemini", "--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    plan = json.loads(result.stdout)["plan"]
    assert plan["planner"] == "gemini"
    assert {s["source"] for s in plan["audio_steps"]} >= {"gemini"} and plan["loudness"]["target_lufs"] == -16.0


def test_planner_gemini_falls_back_and_still_enhances(standin, talk) -> None:
    standin.answer(error_answer(500, "INTERNAL", "boom"))
    result = run(str(talk), "--planner", "gemini", "--json", "--quality", "draft")
    assert result.exit_code == 0, result.stderr
    obj = json.loads(result.stdout)
    assert obj["status"] == "enhanced" and obj["plan"]["planner"] == "local"
    assert obj["plan"]["notes"][-1].startswith(
        "gemini planner not used, measurement plan instead: Gemini failed (500 INTERNAL"
    )


def test_subtitles_burned_in_and_timed_to_the_trimmed_output(standin, talk) -> None:
    standin.handler = FakeRecogniser()
    result = run(
        str(talk), "--subtitles", "--burn-in", "--trim-silence", "--language", "en", "--json", "--quality", "draft"
    )
    assert result.exit_code == 0, result.stderr
    obj = json.loads(result.stdout)
    out = Path(obj["output"])
    assert obj["status"] == "enhanced" and obj["plan"]["burn_in"] is True
    assert obj["subtitles"] == {"srt": str(out.with_suffix(".srt")), "vtt": str(out.with_suffix(".vtt"))}
    keep = [tuple(k) for k in obj["plan"]["trim"]["keep"]]
    srt = out.with_suffix(".srt").read_text("utf-8")
    times = [line.split(" --> ") for line in srt.splitlines() if " --> " in line]
    assert len(times) == len(SPEECH)

    def secs(stamp: str) -> float:
        h, m, s = stamp.replace(",", ".").split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)

    for (a, b), (sa, sb) in zip(SPEECH, times, strict=True):
        assert abs(secs(sa) - map_time(a, keep)) <= TOLERANCE and abs(secs(sb) - map_time(b, keep)) <= TOLERANCE
    # the picture is black except where the subtitles were drawn in
    first = secs(times[0][0]), secs(times[0][1])
    stats = subprocess.run(
        [
            M.FFMPEG,
            "-i",
            str(out),
            "-vf",
            "signalstats,metadata=mode=print:key=lavfi.signalstats.YMAX",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    frames, t = [], None
    for line in stats.splitlines():
        if "pts_time:" in line:
            t = float(line.split("pts_time:")[1].split()[0])
        elif "YMAX=" in line and t is not None:
            frames.append((t, float(line.split("=")[-1])))
    inside = [y for t, y in frames if first[0] + 0.2 < t < first[1] - 0.2]
    before = [y for t, y in frames if t < first[0] - 0.2]
    assert inside and min(inside) > 150 and (not before or max(before) < 60)


def test_subtitles_without_a_key_stop_before_any_work(standin, talk, monkeypatch) -> None:
    monkeypatch.delenv("GEMINI_API_KEY")
    result = run(str(talk), "--subtitles")
    assert result.exit_code == ExitCode.AI_NOT_CONFIGURED and "GEMINI_API_KEY" in result.stderr
    assert sorted(p.name for p in talk.parent.iterdir()) == ["talk.mp4"] and standin.requests == []


def test_a_transcription_failure_fails_the_file_and_leaves_nothing(standin, talk) -> None:
    standin.answer(error_answer(429, "RESOURCE_EXHAUSTED", "Quota exceeded"))
    result = run(str(talk), "--subtitles")
    assert result.exit_code == ExitCode.AI_QUOTA, result.stderr
    assert sorted(p.name for p in talk.parent.iterdir()) == ["talk.mp4"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--burn-in"], "go with --subtitles"),
        (["--subtitles", "--burn-in", "--audio-only"], "--burn-in"),
        (["--subtitles", "--language", "english"], "not a language code"),
        (["--planner", "oracle"], "oracle"),
    ],
)
def test_bad_combinations_are_usage_errors(standin, talk, args, says) -> None:
    result = run(str(talk), *args)
    assert result.exit_code == ExitCode.USAGE and says in result.stderr
