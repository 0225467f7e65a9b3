"""The Gemini planner: Gemini's advice merged into the measurement plan, and every failure falling back.

The real google-genai SDK talks to the local stand-in (tests/gemini_standin.py); the media
are generated, analysed and cut into a proxy with the real ffmpeg.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mediaenhancer_core.ai.gemini import GeminiClient, GeminiConfig, answers
from mediaenhancer_core.ai.planner import GeminiPlanner, make_planner, parse_advice
from mediaenhancer_core.ai.schema import gemini_schema
from mediaenhancer_core.engine.analysis import Analysis, analyze
from mediaenhancer_core.engine.enhance import EnhanceJob, enhance_file
from mediaenhancer_core.engine.planner import EnhanceOptions, MeasurementPlanner
from mediaenhancer_core.engine.presets import get_preset
from mediaenhancer_core.engine.probe import probe
from mediaenhancer_core.errors import ConfigError
from mediaenhancer_core.settings import Settings
from tests import media as M
from tests.gemini_standin import (
    GeminiStandIn,
    error_answer,
    json_answer,
    prompt_blocked,
    safety_block,
    slow,
    text_answer,
)

GOOD = {
    "content_type": "speech",
    "problems": [
        {"kind": "hiss", "severity": 0.7, "evidence": "steady broadband hiss"},
        {"kind": "low_light", "severity": 0.6, "evidence": "dim, flat picture"},
        {"kind": "sibilance", "severity": 0.4},
    ],
    "audio": {
        "noise_reduction_db": 40,  # over the 24 dB limit: clamped
        "highpass_hz": 90,
        "presence_boost_db": 2.5,
        "deess": True,
        "compress": None,  # null: keep the measured plan
        "target_lufs": -5,  # not ours to set: ignored
    },
    "video": {"brightness": 0.5, "contrast": 1.2, "saturation": 1.1, "gamma": 1.2, "sharpen": 0.3},
    "rationale": "Hiss under the voice and a dark, flat picture.",
    "loudness_gain_db": 12,  # ignored: loudness comes from the measurements
}


@pytest.fixture(scope="module")
def server() -> Iterator[GeminiStandIn]:
    with GeminiStandIn() as s:
        yield s


@pytest.fixture
def standin(server: GeminiStandIn) -> GeminiStandIn:
    server.reset()
    return server


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("gemini-media")
    return {
        "clip": M.make_video(d / "clip.mp4", 4.0, level=0.03, noise=0.005, hum_hz=50, dim=True),
        "long": M.make_audio(d / "long.m4a", 65.0, ("-c:a", "aac", "-b:a", "32k"), level=0.05, noise=0.003, rate=8000),
    }


@pytest.fixture(scope="module")
def analyses(media: dict[str, Path], tools) -> dict[str, Analysis]:
    return {name: analyze(path, probe(path, tools), tools, video=name == "clip") for name, path in media.items()}


def options(**kw: object) -> EnhanceOptions:
    return EnhanceOptions(preset=get_preset("podcast", None), **kw)  # type: ignore[arg-type]


def planner_for(
    standin: GeminiStandIn,
    tools,
    *,
    timeout: float = 10.0,
    retries: int = 0,
    key: str | None = "test-key",
    **kw: object,
) -> GeminiPlanner:
    config = GeminiConfig(api_key=key, base_url=standin.base_url, timeout_seconds=timeout, retries=retries, **kw)  # type: ignore[arg-type]
    return GeminiPlanner(GeminiClient(config, sleep=lambda s: None), tools, timeout=timeout)


# --------------------------------------------------------------------------- a good answer


def test_a_good_answer_is_clamped_and_merged_and_measured_loudness_wins(standin, tools, analyses) -> None:
    standin.answer(json_answer(GOOD))
    analysis = analyses["clip"]
    base = MeasurementPlanner().plan(analysis, options())
    with planner_for(standin, tools) as planner:
        plan = planner.plan(analysis, options())

    assert plan.planner == "gemini" and planner.last_error is None
    audio = {s.filter: s for s in plan.audio_steps}
    video = {s.filter: s for s in plan.video_steps}
    # Gemini's recommendations, clamped to the safe ranges, marked as Gemini's
    assert audio["afftdn"].params["nr"] == 24 and audio["afftdn"].source == "gemini"
    assert audio["afftdn"].params["nf"] == pytest.approx(max(-80, min(-20, analysis.audio.noise_floor_lufs)), abs=0.1)
    assert audio["highpass"].params["f"] == 90 and audio["highpass"].source == "gemini"
    assert audio["equalizer"].params["g"] == 2.5 and audio["deesser"].source == "gemini"
    assert "acompressor" not in audio  # null kept the measured plan (none)
    assert video["eq"].params == {"brightness": 0.15, "contrast": 1.2, "saturation": 1.1, "gamma": 1.2}
    assert video["unsharp"].params["luma_amount"] == 0.3 and video["eq"].source == "gemini"
    # the measured hum stays the measurement's
    notches = [s for s in plan.audio_steps if s.filter == "bandreject"]
    # exactly the measured plan's notches, each at its harmonic's measured frequency (the clip's noise is random,
    # so which weak harmonics stand out, and where, varies from run to run: compare with this run's measurement)
    assert notches and all(s.source == "measurement" for s in notches), notches
    assert [(s.measured["harmonic"], s.params["f"]) for s in notches] == [
        (s.measured["harmonic"], s.params["f"]) for s in base.audio_steps if s.filter == "bandreject"
    ]
    harmonics = {k: round(float(f), 1) for k, f, _ in analysis.audio.hum_harmonics}
    assert not harmonics or all(harmonics[s.measured["harmonic"]] == s.params["f"] for s in notches), harmonics
    # loudness comes from the measurements and options, whatever the model said
    assert plan.loudness == base.loudness and plan.loudness.target_lufs == -16.0
    # video now changes, so it is encoded
    assert plan.output.video == "encode"
    notes = "\n".join(plan.notes)
    assert "audio.noise_reduction_db 40 clamped to 24" in notes and "video.brightness 0.5 clamped to 0.15" in notes
    assert "audio.target_lufs ignored (loudness comes from the measurements)" in notes
    assert "loudness_gain_db ignored (loudness comes from the measurements)" in notes
    assert "speech; hears hiss 0.7, low_light 0.6, sibilance 0.4" in notes
    assert "not the whole file" in notes


def test_the_request_carries_the_measurements_and_the_proxy_not_the_whole_file(standin, tools, analyses, media) -> None:
    standin.answer(json_answer(GOOD))
    with planner_for(standin, tools) as planner:
        planner.plan(analyses["clip"], options())
    call = standin.calls[0]
    a = analyses["clip"].audio
    assert (
        f'"integrated_lufs":{a.integrated_lufs}' in call.text
        and f'"noise_floor_lufs":{a.noise_floor_lufs}' in call.text
    )
    assert "Loudness is fixed: -16 LUFS" in call.text and "bandreject" in call.text  # the measurement plan is shown
    assert call.generation_config["responseJsonSchema"] == gemini_schema(answers().AdviceAnswer)
    parts = call.media()
    assert [m for m, _, _ in parts] == ["audio/ogg"] + ["image/jpeg"] * 4
    assert all(how == "inline" for _, _, how in parts)
    original = media["clip"].read_bytes()
    sent = sum(len(data) for _, data, _ in parts)
    assert sent < len(original) / 4
    assert all(data != original and data[:4096] not in original for _, data, _ in parts)
    assert all(data[:3] == b"\xff\xd8\xff" for m, data, _ in parts if m == "image/jpeg")
    assert parts[0][1][:4] == b"OggS"
    assert call.raw_size < len(original)


def test_a_long_recording_sends_an_excerpt_of_at_most_60_seconds(standin, tools, analyses, tmp_path) -> None:
    standin.answer(json_answer({"content_type": "speech", "problems": [], "rationale": "Clean."}))
    with planner_for(standin, tools) as planner:
        plan = planner.plan(analyses["long"], options())
    assert plan.planner == "gemini"
    [(mime, data, _)] = standin.calls[0].media()
    excerpt = tmp_path / "excerpt.ogg"
    excerpt.write_bytes(data)
    seconds = float(
        json.loads(
            subprocess.run(
                [M.FFPROBE, "-v", "error", "-show_entries", "format=duration", "-of", "json", str(excerpt)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )["format"]["duration"]
    )
    assert mime == "audio/ogg" and 59.0 <= seconds <= 60.1
    assert len(data) < 300_000  # ~24 kbit/s mono


def test_the_whole_file_only_when_asked_and_then_through_the_files_api(standin, tools, analyses, media) -> None:
    standin.answer(json_answer({"content_type": "speech", "problems": [], "rationale": "Clean."}))
    config = GeminiConfig(
        api_key="test-key", base_url=standin.base_url, timeout_seconds=10, retries=0, inline_max_bytes=100_000
    )
    with GeminiPlanner(GeminiClient(config), tools, full_media=True) as planner:
        plan = planner.plan(analyses["clip"], options())
    assert plan.planner == "gemini" and "sent the whole file" in "\n".join(plan.notes)
    [(mime, data, how)] = standin.calls[0].media()
    assert (mime, how) == ("video/mp4", "file") and data == media["clip"].read_bytes()
    start = standin.uploads[0][1]
    assert start["x-goog-upload-command"] == "start" and start["x-goog-upload-header-content-length"] == str(len(data))
    assert standin.deleted  # removed from Google once answered


def test_the_users_switches_and_the_preset_win_over_the_model(standin, tools, analyses) -> None:
    standin.answer(json_answer(GOOD))
    opts = options(denoise=False, audio_only=True)
    with planner_for(standin, tools) as planner:
        plan = planner.plan(analyses["clip"], opts)
    assert plan.planner == "gemini"
    assert "afftdn" not in {s.filter for s in plan.audio_steps}  # --no-denoise
    assert plan.video_steps == [] and plan.output.video == "copy"  # --audio-only
    assert [m for m, _, _ in standin.calls[0].media()] == ["audio/ogg"]  # no keyframes for an audio-only run


# --------------------------------------------------------------------------- failures fall back


def _measurement_plan(analysis: Analysis, opts: EnhanceOptions) -> dict:
    data = MeasurementPlanner().plan(analysis, opts).to_dict()
    data.pop("notes")
    return data


def _measurement_notes(analysis: Analysis, opts: EnhanceOptions) -> list[str]:
    return MeasurementPlanner().plan(analysis, opts).notes


@pytest.mark.parametrize(
    ("reply", "says"),
    [
        (text_answer('{"content_type": "speech", "problems": ['), "not valid JSON"),
        (json_answer({"content_type": "podcast", "problems": [], "rationale": ""}), "is not one of speech"),
        (
            json_answer(
                {"content_type": "speech", "problems": [{"kind": "hiss", "severity": "high"}], "rationale": ""}
            ),
            "$.problems[0].severity should be number",
        ),
        (
            json_answer(
                {"content_type": "speech", "problems": [{"kind": "hiss", "severity": 0.5}, "hum"], "rationale": ""}
            ),
            "$.problems[1] should be object, got string",
        ),
        (
            json_answer({"content_type": "speech", "problems": [{"kind": "hiss", "severity": True}], "rationale": ""}),
            "$.problems[0].severity should be number, got boolean",
        ),
        (
            json_answer({"content_type": "speech", "problems": [], "audio": {"deess": "yes"}, "rationale": ""}),
            "$.audio.deess should be boolean or null, got string",
        ),
        (json_answer({"problems": []}), "content_type is missing"),
        (safety_block(), "stopped its answer (SAFETY)"),
        (prompt_blocked("SAFETY"), "blocked the request (SAFETY)"),
        (
            error_answer(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
            "quota or rate limit",
        ),
        (error_answer(500, "INTERNAL", "An internal error has occurred."), "500 INTERNAL"),
        (error_answer(503, "UNAVAILABLE", "The model is overloaded."), "503 UNAVAILABLE"),
    ],
    ids=[
        "malformed-json",
        "schema-enum",
        "schema-type",
        "schema-nested-item",
        "schema-bool-number",
        "schema-nested-type",
        "schema-required",
        "safety",
        "prompt-blocked",
        "429",
        "500",
        "503",
    ],
)
def test_any_failure_falls_back_to_the_measurement_plan_with_one_notice(standin, tools, analyses, reply, says) -> None:
    standin.answer(reply)
    with planner_for(standin, tools, retries=1) as planner:
        plan = planner.plan(analyses["clip"], options())
    expected = _measurement_plan(analyses["clip"], options())
    got = plan.to_dict()
    notes = got.pop("notes")  # the measurement plan's own notes, then the one about Gemini
    assert notes == [*_measurement_notes(analyses["clip"], options()), plan.notes[-1]] and got == expected
    assert plan.planner == "local"
    assert plan.notes[-1].startswith("gemini planner not used, measurement plan instead: ")
    assert says in plan.notes[-1] and "\n" not in plan.notes[-1]
    retried = reply.status >= 500
    assert len(standin.calls) == (2 if retried else 1)  # only 5xx is retried


def test_a_slow_answer_falls_back_within_the_timeout(standin, tools, analyses) -> None:
    standin.answer(slow(6.0, json_answer(GOOD)))
    timeout = 1.0
    with planner_for(standin, tools, timeout=timeout, retries=2) as planner:
        started = time.monotonic()
        plan = planner.plan(analyses["clip"], options())
        elapsed = time.monotonic() - started
    assert plan.planner == "local" and "did not answer within 1 s" in plan.notes[-1]
    # it did not wait for the 6 s answer (the margin to timeout + 2.5 s was missed on a loaded 2-core
    # machine: the first google.genai import and the proxy fall inside the timed span), and no retry
    assert elapsed < 6.0
    assert len(standin.calls) == 1


def test_no_key_falls_back_without_sending_anything(standin, tools, analyses) -> None:
    with planner_for(standin, tools, key=None) as planner:
        plan = planner.plan(analyses["clip"], options())
    assert plan.planner == "local" and "GEMINI_API_KEY" in plan.notes[-1]
    assert standin.requests == []


def test_an_unreachable_service_falls_back(tools, analyses) -> None:
    config = GeminiConfig(api_key="k", base_url="http://127.0.0.1:9", timeout_seconds=2.0, retries=0)
    with GeminiPlanner(GeminiClient(config), tools) as planner:
        plan = planner.plan(analyses["clip"], options())
    assert plan.planner == "local" and "cannot reach Gemini" in plan.notes[-1]


def test_make_planner_follows_the_settings(standin, tools, analyses) -> None:
    env = {"MEDIAENHANCER_GEMINI_BASE_URL": standin.base_url}
    assert isinstance(make_planner("local", Settings.load(env), tools), MeasurementPlanner)
    with pytest.raises(ConfigError, match="unknown planner"):
        make_planner("magic", Settings.load(env), tools)
    keyless = make_planner("gemini", Settings.load(env), tools)
    assert isinstance(keyless, GeminiPlanner) and keyless.model is None
    standin.answer(json_answer({"content_type": "speech", "problems": [], "rationale": "Fine."}))
    planner = make_planner(
        "gemini",
        Settings.load({**env, "GEMINI_API_KEY": "test-key", "MEDIAENHANCER_GEMINI_PLANNER_TIMEOUT_SECONDS": "7"}),
        tools,
    )
    assert isinstance(planner, GeminiPlanner) and planner.timeout == 7
    with planner:
        assert planner.plan(analyses["clip"], options()).planner == "gemini"


# --------------------------------------------------------------------------- end to end


def test_enhance_renders_the_gemini_plan_and_dry_run_shows_where_each_step_came_from(
    standin, tools, media, tmp_path
) -> None:
    from rich.console import Console

    from mediaenhancer_cli.output import plan_panel
    from mediaenhancer_core.engine.plan import Plan

    src = tmp_path / "clip.mp4"
    shutil.copyfile(media["clip"], src)
    standin.answer(json_answer({**GOOD, "audio": {**GOOD["audio"], "compress": True}}))
    with planner_for(standin, tools) as planner:
        result = enhance_file(src, EnhanceJob(options=options(quality="draft")), tools, planner=planner)
    assert result.status == "enhanced", result.error
    assert result.plan and result.plan["planner"] == "gemini"
    assert {s["filter"] for s in result.plan["audio_steps"]} >= {"afftdn", "deesser", "equalizer", "acompressor"}
    out = Path(result.output or "")
    assert abs(M.loudness(out) - (-16.0)) <= 0.5 and M.true_peak(out) <= -1.5 + 0.3

    console = Console(record=True, width=200)
    console.print(plan_panel(Plan.from_dict(result.plan)))
    shown = console.export_text()
    assert "planner: gemini" in shown
    rows = {
        line.split("│")[2].strip(): line.split("│")[5].strip()
        for line in shown.splitlines()
        if line.count("│") >= 6 and line.split("│")[1].strip() in ("audio", "video")
    }
    assert rows["afftdn"] == "gemini" and rows["bandreject"] == "measurement" and rows["loudness"] == "measurement"


def test_parse_advice_clamps_and_keeps_only_known_settings() -> None:
    advice = parse_advice(
        {
            "content_type": "music",
            "problems": [{"kind": "hum", "severity": 3}],
            "rationale": " a \n b ",
            "audio": {"noise_reduction_db": -5, "true_peak_dbtp": 0, "deess": True},
            "video": {"gamma": 9, "crop": "everything"},
        }
    )
    assert advice.audio == {"noise_reduction_db": 0.0, "deess": True}
    assert advice.video == {"gamma": 1.5}
    assert advice.problems == [{"kind": "hum", "severity": 1.0, "evidence": ""}] and advice.rationale == "a b"
    assert "gemini: audio.true_peak_dbtp ignored (loudness comes from the measurements)" in advice.notes
    assert "gemini: video.crop ignored" in advice.notes


def test_the_schema_uses_only_what_gemini_accepts() -> None:
    allowed = {
        "type",
        "properties",
        "required",
        "items",
        "enum",
        "minimum",
        "maximum",
        "maxItems",
        "maxLength",
        "description",
    }

    def keywords(schema: dict) -> set[str]:
        found = set(schema)
        for sub in schema.get("properties", {}).values():
            found |= keywords(sub)
        if isinstance(schema.get("items"), dict):
            found |= keywords(schema["items"])
        return found

    for name in ("AdviceAnswer", "TranscriptAnswer", "ChaptersAnswer"):
        schema = gemini_schema(getattr(answers(), name))
        assert keywords(schema) <= allowed, name
        assert len(json.dumps(schema)) < 4000
