"""Plans as files: --save-plan / --plan reproduce a run; a bad or hostile plan is refused.

A plan names filters and their parameters, so a plan file is input from the outside:
only allow-listed filters and plain values may reach ffmpeg.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mediaenhancer_cli.app import app
from mediaenhancer_core.engine.filters import FILTERS
from mediaenhancer_core.engine.plan import PLAN_VERSION, Plan
from mediaenhancer_core.exit_codes import ExitCode
from tests import media as M


def cli(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.stderr
    return result


def _noisy_clip(p: Path) -> Path:
    # dim, noisy picture and quiet speech with hiss and hum: audio and video steps both planned
    return M.make_video(
        p, 3.0, size="160x120", fps=25, dim=True, noisy=True, level=0.02, noise=0.006, hum_hz=50, hum=0.03
    )


def _speech(p: Path) -> Path:
    return M.make_audio(p, 2.0, ("-c:a", "pcm_s16le"), level=0.03, noise=0.004)


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory, tools) -> tuple[Path, dict]:
    """A short WAV and its real plan (made once per module through the core, as --save-plan would)."""
    from mediaenhancer_core.engine.enhance import EnhanceJob, enhance_file
    from mediaenhancer_core.engine.planner import EnhanceOptions
    from mediaenhancer_core.engine.presets import BUILTIN_PRESETS

    src = _speech(tmp_path_factory.mktemp("planned") / "take.wav")
    res = enhance_file(src, EnhanceJob(options=EnhanceOptions(preset=BUILTIN_PRESETS["podcast"]), dry_run=True), tools)
    assert res.status == "planned", res.error
    return src, res.plan


@pytest.fixture
def saved_plan(here: Path, planned: tuple[Path, dict]) -> dict:
    """take.wav in the current folder, and a fresh copy of its plan to spoil."""
    src, plan = planned
    shutil.copyfile(src, here / "take.wav")
    return copy.deepcopy(plan)


def _streams(path: Path) -> list[tuple]:
    return [
        (s["codec_type"], s["codec_name"], s.get("width"), s.get("height"), s.get("sample_rate"), s.get("channels"))
        for s in M.probe(path)["streams"]
    ]


# --------------------------------------------------------------------------- reproducing a run


@pytest.mark.slow
def test_saved_plan_reproduces_the_output(here: Path, media) -> None:
    src = media("clip.mp4", _noisy_clip, here)
    digest = M.file_sha256(src)
    first = cli("enhance", "--json", "--save-plan", "plan.json", "clip.mp4")
    assert first.exit_code == 0, first.stderr
    (r1,) = [json.loads(ln) for ln in first.stdout.splitlines()]
    saved = json.loads((here / "plan.json").read_text())
    assert saved == r1["plan"]  # the file holds exactly the plan that was rendered
    assert saved["audio_steps"] and saved["video_steps"], "the clip should need audio and video steps"

    second = cli("enhance", "--json", "--plan", "plan.json", "clip.mp4", "-o", "again.mp4")
    assert second.exit_code == 0, second.stderr
    (r2,) = [json.loads(ln) for ln in second.stdout.splitlines()]
    assert r2["status"] == "enhanced"
    assert r2["plan"] == saved

    a, b = here / "clip.enhanced.mp4", here / "again.mp4"
    assert _streams(a) == _streams(b)
    assert abs(M.loudness(a) - M.loudness(b)) <= 0.1
    assert abs(float(M.probe(a)["format"]["duration"]) - float(M.probe(b)["format"]["duration"])) < 0.05
    assert M.file_sha256(src) == digest


def test_dry_run_json_includes_the_whole_plan_with_reasons(here: Path, media) -> None:
    media("clip.mp4", _noisy_clip, here)
    result = cli("enhance", "--dry-run", "--json", "clip.mp4")
    assert result.exit_code == 0
    (o,) = [json.loads(ln) for ln in result.stdout.splitlines()]
    plan = o["plan"]
    assert plan["version"] == PLAN_VERSION
    steps = plan["audio_steps"] + plan["video_steps"]
    assert steps
    for step in steps:
        assert step["filter"] in FILTERS
        assert isinstance(step["params"], dict)
        assert step["reason"].strip()
        assert step["measured"], f"{step['filter']}: no measurement justifies it"
    lo = plan["loudness"]
    assert lo["target_lufs"] == -16.0 and lo["true_peak_dbtp"] == -1.5
    assert lo["measured_lufs"] == o["before"]["audio"]["integrated_lufs"]
    assert lo["reason"]
    assert plan["output"]["format"] == "mp4" and plan["output"]["reason"]
    assert sorted(p.name for p in here.iterdir()) == ["clip.mp4"]


def test_save_plan_writes_the_plan_and_it_round_trips(here: Path, saved_plan: dict) -> None:
    result = cli("enhance", "--dry-run", "--save-plan", "plan.json", "take.wav")
    assert result.exit_code == 0, result.stderr
    written = json.loads((here / "plan.json").read_text())
    assert written["version"] == PLAN_VERSION
    assert written["audio_steps"] == saved_plan["audio_steps"] and written["output"] == saved_plan["output"]
    assert Plan.from_dict(written).to_dict() == written
    assert sorted(p.name for p in here.iterdir()) == ["plan.json", "take.wav"]


def test_plan_with_a_changed_target_is_followed(here: Path, saved_plan: dict) -> None:
    saved_plan["loudness"]["target_lufs"] = -20.0
    (here / "quiet.json").write_text(json.dumps(saved_plan))
    result = cli("enhance", "--plan", "quiet.json", "take.wav", "-o", "out.wav")
    assert result.exit_code == 0, result.stderr
    assert abs(M.loudness(here / "out.wav") - (-20.0)) <= 0.5


# --------------------------------------------------------------------------- refused plans


def _refused(here: Path, plan_text: str, *needles: str) -> None:
    (here / "bad.json").write_text(plan_text)
    before = sorted(p.name for p in here.iterdir())
    digest = M.file_sha256(here / "take.wav")
    result = cli("enhance", "--plan", "bad.json", "take.wav", "-o", "out.wav")
    assert result.exit_code == ExitCode.PLAN_INVALID, (result.exit_code, result.stderr)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mediaenhancer: error: ") and "bad.json" in lines[0], lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert sorted(p.name for p in here.iterdir()) == before, "something was written"
    assert M.file_sha256(here / "take.wav") == digest


@pytest.mark.parametrize(
    ("part", "step"),
    [
        ("audio_steps", {"filter": "amovie", "params": {"filename": "secret.wav"}, "reason": "x"}),
        ("video_steps", {"filter": "movie", "params": {"filename": "secret.mp4"}, "reason": "x"}),
        ("audio_steps", {"filter": "ebur128", "params": {}, "reason": "x"}),
        ("video_steps", {"filter": "drawtext", "params": {"textfile": "secret.txt"}, "reason": "x"}),
        ("audio_steps", {"filter": "hqdn3d", "params": {}, "reason": "a video filter in the audio chain"}),
        ("video_steps", {"filter": "afftdn", "params": {}, "reason": "an audio filter in the video chain"}),
    ],
    ids=["amovie", "movie", "ebur128", "drawtext", "video-filter-in-audio", "audio-filter-in-video"],
)
def test_filters_outside_the_allow_list_are_refused(here: Path, saved_plan: dict, part: str, step: dict) -> None:
    saved_plan[part] = [step]
    _refused(here, json.dumps(saved_plan), repr(step["filter"]), "not allowed")


@pytest.mark.parametrize(
    "value",
    ["100;amovie=secret.wav", "100:poles=1", "100[x]", "100'", "100\\", "1" * 65, "100\nx"],
    ids=["semicolon", "colon", "bracket", "quote", "backslash", "too-long", "newline"],
)
def test_parameter_values_that_could_escape_are_refused(here: Path, saved_plan: dict, value: str) -> None:
    saved_plan["audio_steps"] = [{"filter": "highpass", "params": {"f": value}, "reason": "x"}]
    _refused(here, json.dumps(saved_plan), "highpass.f", "unsafe value")


def test_parameters_outside_the_allow_list_are_refused(here: Path, saved_plan: dict) -> None:
    saved_plan["audio_steps"] = [{"filter": "highpass", "params": {"enable": "1"}, "reason": "x"}]
    _refused(here, json.dumps(saved_plan), "'enable'", "highpass")


@pytest.mark.parametrize("value", [float("nan"), float("inf")], ids=["nan", "inf"])
def test_non_finite_numbers_are_refused(here: Path, saved_plan: dict, value: float) -> None:
    saved_plan["audio_steps"] = [{"filter": "highpass", "params": {"f": value}, "reason": "x"}]
    _refused(here, json.dumps(saved_plan), "highpass.f")


@pytest.mark.parametrize("version", [0, 2, "1", None], ids=["0", "2", "string", "missing"])
def test_wrong_version_is_refused(here: Path, saved_plan: dict, version) -> None:
    if version is None:
        del saved_plan["version"]
    else:
        saved_plan["version"] = version
    _refused(here, json.dumps(saved_plan), "version", "--save-plan")


@pytest.mark.parametrize(
    "text",
    ['{"version": 1, "audio_steps": [', "", "not json at all", '{"version": 1,}'],
    ids=["cut-short", "empty", "text", "trailing-comma"],
)
def test_broken_json_is_refused(here: Path, saved_plan: dict, text: str) -> None:
    _refused(here, text, "not valid JSON")


@pytest.mark.parametrize("text", ["[]", "42", '"plan"', "null"])
def test_json_that_is_not_an_object_is_refused(here: Path, saved_plan: dict, text: str) -> None:
    _refused(here, text, "JSON object")


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda p: p.pop("output"), "output is missing"),
        (lambda p: p["output"].update(format="exe"), "output.format"),
        (lambda p: p["output"].update(video="stream"), "output.video"),
        (lambda p: p["output"].update(audio_args=["-i", "secret.wav"]), "may only set codec options"),
        (lambda p: p["output"].update(audio_args=["-filter_complex", "amovie=x"]), "may only set codec options"),
        (lambda p: p["output"].update(audio_codec="pcm_s16le;x"), "not allowed"),
        (lambda p: p["output"].update(colour="red"), "unknown field output.colour"),
        (lambda p: p["loudness"].update(target_lufs=-80), "target_lufs"),
        (lambda p: p["loudness"].update(true_peak_dbtp=3), "true_peak_dbtp"),
        (lambda p: p.update(trim={"keep": [[2, 1]], "removed_seconds": 0, "reason": "x"}), "trim.keep"),
        (lambda p: p.update(audio_steps=["highpass"]), "must be an object"),
    ],
    ids=[
        "no-output",
        "format",
        "video-mode",
        "input-arg",
        "filter-complex-arg",
        "codec-with-semicolon",
        "unknown-field",
        "target-out-of-range",
        "peak-out-of-range",
        "trim-backwards",
        "step-not-object",
    ],
)
def test_malformed_plans_are_refused(here: Path, saved_plan: dict, mutate, needle: str) -> None:
    mutate(saved_plan)
    _refused(here, json.dumps(saved_plan), needle)


def test_missing_plan_file(here: Path, saved_plan: dict) -> None:
    result = cli("enhance", "--plan", "nope.json", "take.wav")
    assert result.exit_code == ExitCode.PLAN_INVALID
    assert "nope.json" in result.stderr and "not found" in result.stderr


def test_plan_that_trims_but_copies_the_video_does_not_fit(here: Path, media) -> None:
    media("clip.mp4", _noisy_clip, here)
    assert cli("enhance", "--dry-run", "--audio-only", "--save-plan", "p.json", "clip.mp4").exit_code == 0
    plan = json.loads((here / "p.json").read_text())
    assert plan["output"]["video"] == "copy"
    plan["trim"] = {"keep": [[0.0, 1.0], [2.0, 3.0]], "removed_seconds": 1.0, "reason": "x"}
    (here / "p.json").write_text(json.dumps(plan))
    result = cli("enhance", "--plan", "p.json", "clip.mp4")
    assert result.exit_code == ExitCode.PLAN_INVALID, result.stderr
    assert "copies the video" in result.stderr
    assert sorted(p.name for p in here.iterdir()) == ["clip.mp4", "p.json"]


def test_unknown_output_extension_is_refused(here: Path, media) -> None:
    media("take.wav", _speech, here)
    result = cli("enhance", "take.wav", "-o", "out.xyz")
    assert result.exit_code == ExitCode.PLAN_INVALID
    assert "out.xyz" in result.stderr and "--format" in result.stderr
    assert sorted(p.name for p in here.iterdir()) == ["take.wav"]
