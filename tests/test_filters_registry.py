"""The filter registry (engine/filters.py) is the one list of what a plan may name.

The planners emit only its filters, in its order; plan validation holds parameters to its
types and bounds; the ffmpeg capability check requires every ffmpeg filter it names; and
its parameters are options the machine's ffmpeg really has, within ffmpeg's own ranges.
"""

from __future__ import annotations

import ast
import math
import re
from pathlib import Path

import pytest

from mediaenhancer_core.ai.planner import merge_advice, parse_advice
from mediaenhancer_core.engine import ffmpeg as ff
from mediaenhancer_core.engine.analysis import Analysis
from mediaenhancer_core.engine.audiostage import ffmpeg_steps, python_steps
from mediaenhancer_core.engine.filters import (
    AUDIO_FILTERS,
    FILTERS,
    PYTHON_STEPS,
    VIDEO_FILTERS,
    FilterSpec,
    order_key,
    required_ffmpeg_filters,
)
from mediaenhancer_core.engine.plan import FilterStep, OutputSpec, Plan
from mediaenhancer_core.engine.planner import EnhanceOptions, MeasurementPlanner, ffmpeg_only
from mediaenhancer_core.engine.presets import BUILTIN_PRESETS
from mediaenhancer_core.errors import FFmpegTooOldError, PlanError
from tests.test_ffmpeg_locate import _fake_ffmpeg
from tests.test_planner import info, speech, video

SRC = Path(__file__).resolve().parents[1] / "src" / "mediaenhancer_core"
PLANNERS = [SRC / "engine" / "planner.py", SRC / "engine" / "picture_plan.py", SRC / "ai" / "planner.py"]
FFMPEG_STEPS = sorted(n for n, f in FILTERS.items() if f.needs is not None)


# --------------------------------------------------------------------------- the registry itself


def test_each_chain_has_one_position_per_filter() -> None:
    for kind in ("audio", "video"):
        orders = [f.order for f in FILTERS.values() if f.kind == kind]
        assert len(orders) == len(set(orders)), kind
    assert AUDIO_FILTERS | VIDEO_FILTERS == set(FILTERS) and not AUDIO_FILTERS & VIDEO_FILTERS


def test_python_stages_run_after_the_ffmpeg_filters_and_never_in_exports() -> None:
    """The render runs every ffmpeg audio filter, then the Python stage: the registry's order says the same."""
    assert PYTHON_STEPS == {"deepfilternet", "leveler", "compressor"}
    last_ffmpeg = max(f.order for f in FILTERS.values() if f.kind == "audio" and f.needs is not None)
    for name in PYTHON_STEPS:
        spec = FILTERS[name]
        assert spec.kind == "audio" and spec.stage == "python" and not spec.export and spec.order > last_ffmpeg
    audiostage = (SRC / "engine" / "audiostage.py").read_text("utf-8")
    assert all(f'"{name}"' in audiostage for name in PYTHON_STEPS), "a Python step the audio stage cannot run"


def test_every_parameter_has_a_type_and_sane_bounds() -> None:
    for spec in FILTERS.values():
        assert spec.params, spec.name
        for p in spec.params:
            assert p.type in ("number", "bool", "choice", "expr", "text"), (spec.name, p)
            assert p.lo < p.hi, (spec.name, p)
            assert (p.type == "choice") == bool(p.choices), (spec.name, p)


# --------------------------------------------------------------------------- planners


def _emitted_names(path: Path) -> set[str]:
    """Filter names passed as literals to FilterStep(...) in a module."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "FilterStep":
            arg = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "filter"), None)
            assert isinstance(arg, ast.Constant), f"{path.name}:{node.lineno}: filter name is not a literal"
            names.add(arg.value)
    return names


@pytest.mark.parametrize("path", PLANNERS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_filter_a_planner_can_emit_is_in_the_registry(path: Path) -> None:
    names = _emitted_names(path)
    assert names, f"{path.name}: no FilterStep found (did the planner move?)"
    assert names <= set(FILTERS), sorted(names - set(FILTERS))


def _busy_plan(**opts) -> tuple[Plan, Analysis]:
    harmonics = [(k, 50.0 * k, 20.0 - k) for k in (1, 2, 3)]
    a = speech(
        hum_hz=50,
        hum_prominence_db={"50": 20.0, "60": 1.0},
        hum_harmonics=harmonics,
        rumble_db=-10.0,
        clipping=True,
        clipped_samples=500,
        sample_peak_dbfs=-10.5,
    )
    v = video(
        luma_min=0.3,
        luma_max=0.6,
        brightness=0.25,
        contrast=0.3,
        saturation=0.03,
        cast_u=0.1,
        cast_v=-0.08,
        noise_sigma=9.0,
        height=480,
        width=640,
    )
    analysis = Analysis(info=info("in.mp4"), audio=a, video=v)
    options = EnhanceOptions(preset=BUILTIN_PRESETS["podcast"], stabilize=True, resolution="1080p", fps=60.0, **opts)
    return MeasurementPlanner().plan(analysis, options), analysis


def _in_registry_order(steps: list[FilterStep]) -> bool:
    keys = [order_key(s.filter) for s in steps]
    return keys == sorted(keys)


def test_the_measurement_planners_chains_follow_the_registry_order() -> None:
    plan, _ = _busy_plan()
    audio_names = [s.filter for s in plan.audio_steps]
    video_names = [s.filter for s in plan.video_steps]
    assert {"adeclip", "highpass", "bandreject", "compressor"} <= set(audio_names), audio_names
    assert {"vidstabtransform", "eq", "lutyuv", "scale", "fps", "unsharp"} <= set(video_names), video_names
    assert _in_registry_order(plan.audio_steps) and _in_registry_order(plan.video_steps)
    assert all(s.filter in AUDIO_FILTERS for s in plan.audio_steps)
    assert all(s.filter in VIDEO_FILTERS for s in plan.video_steps)
    # and the plan is one plan validation accepts
    assert Plan.from_dict(plan.to_dict()).to_dict() == plan.to_dict()


def test_the_gemini_merge_puts_its_steps_at_their_registry_positions() -> None:
    base, analysis = _busy_plan()
    advice = parse_advice(
        {
            "content_type": "speech",
            "problems": [{"kind": "sibilance", "severity": 0.6}],
            "rationale": "x",
            "audio": {
                "noise_reduction_db": 10.0,
                "highpass_hz": 90.0,
                "presence_boost_db": 2.0,
                "deess": True,
                "compress": True,
            },
            "video": {"contrast": 1.2, "denoise": 4.0, "sharpen": 0.4},
        }
    )
    merged = merge_advice(
        base,
        advice,
        analysis,
        EnhanceOptions(preset=BUILTIN_PRESETS["podcast"], stabilize=True, resolution="1080p", fps=60.0),
        model="stand-in",
    )
    names = [s.filter for s in merged.audio_steps]
    assert {"equalizer", "deesser", "acompressor", "bandreject"} <= set(names), names
    assert _in_registry_order(merged.audio_steps) and _in_registry_order(merged.video_steps)


def test_ffmpeg_only_and_the_audio_stage_split_by_the_registry() -> None:
    plan, analysis = _busy_plan()
    steps = plan.audio_steps
    assert {s.filter for s in python_steps(steps)} <= PYTHON_STEPS
    assert not {s.filter for s in ffmpeg_steps(steps)} & PYTHON_STEPS
    exported = ffmpeg_only(steps, analysis.audio)
    assert exported and all(FILTERS[s.filter].export for s in exported)


# --------------------------------------------------------------------------- plan validation


def _plan_with(part: str, step: dict) -> dict:
    out = OutputSpec(format="wav", extension=".wav", video="none", audio_codec="pcm_s16le")
    plan = Plan(
        version=1,
        planner="local",
        preset="podcast",
        input={},
        audio_steps=[],
        video_steps=[],
        loudness=None,
        output=out,
    ).to_dict()
    plan[part] = [step]
    return plan


_BOUNDED = [(f.name, p.name, p.lo, p.hi, f.kind) for f in FILTERS.values() for p in f.params if p.type == "number"]


@pytest.mark.parametrize(("name", "param", "lo", "hi", "kind"), _BOUNDED, ids=[f"{n}.{p}" for n, p, *_ in _BOUNDED])
def test_a_parameter_outside_its_bounds_is_refused_in_one_line_naming_it(name, param, lo, hi, kind) -> None:
    part = f"{kind}_steps"
    inside = lo if math.isfinite(lo) else 0
    Plan.from_dict(_plan_with(part, {"filter": name, "params": {param: inside}, "reason": "x"}), source="p.json")
    for value in (hi + 1, lo - 1, hi * 10 + 1):
        with pytest.raises(PlanError) as caught:
            Plan.from_dict(_plan_with(part, {"filter": name, "params": {param: value}, "reason": "x"}), source="p.json")
        message = caught.value.message
        assert "\n" not in message and message.startswith("p.json: "), message
        assert f"{name}.{param}" in message and "outside" in message, message


@pytest.mark.parametrize(
    ("step", "needle"),
    [
        (
            {"filter": "scale", "params": {"h": "65535"}},
            "scale.h must be a number",
        ),  # a string no longer skips the bound
        ({"filter": "deesser", "params": {"i": "1;amovie=x"}}, "deesser.i has an unsafe value"),
        ({"filter": "equalizer", "params": {"width_type": "x"}}, "equalizer.width_type must be one of"),
        ({"filter": "afftdn", "params": {"tn": 2}}, "afftdn.tn must be true or false"),
        ({"filter": "acompressor", "params": {"mode": "upward"}}, "'mode' is not allowed for acompressor"),
        ({"filter": "lutyuv", "params": {"u": "val:y=0"}}, "lutyuv.u has an unsafe value"),
    ],
    ids=["numeric-string", "unsafe", "choice", "bool", "unknown-param", "expression-escape"],
)
def test_parameter_types_come_from_the_registry(step: dict, needle: str) -> None:
    kind = FILTERS[step["filter"]].kind
    with pytest.raises(PlanError, match=re.escape(needle)):
        Plan.from_dict(_plan_with(f"{kind}_steps", {**step, "reason": "x"}), source="p.json")


def test_values_the_planners_write_are_accepted() -> None:
    for step in [
        {"filter": "afftdn", "params": {"nr": 12.0, "nf": -50.0, "tn": True}},
        {"filter": "lutyuv", "params": {"u": "clip(val-(3),minval,maxval)", "v": 128}},
        {
            "filter": "vidstabtransform",
            "params": {"smoothing": 15, "zoom": 0, "optzoom": 1, "interpol": "bicubic", "crop": "black"},
        },
        {"filter": "scale", "params": {"w": -2, "h": 1080, "flags": "lanczos"}},
    ]:
        Plan.from_dict(_plan_with(f"{FILTERS[step['filter']].kind}_steps", {**step, "reason": "x"}))


# --------------------------------------------------------------------------- ffmpeg


def test_the_capability_check_requires_every_ffmpeg_filter_of_the_registry() -> None:
    needed = required_ffmpeg_filters()
    assert {"acompressor", "deesser", "equalizer", "lowpass", "lutyuv", "nlmeans"} <= needed
    assert needed <= ff.REQUIRED_FILTERS
    assert "vidstabtransform" not in ff.REQUIRED_FILTERS  # optional: only --stabilize needs it
    assert ff.missing_filters(ff.REQUIRED_FILTERS) == []
    assert ff.missing_filters(ff.REQUIRED_FILTERS - {"deesser", "lutyuv"}) == ["deesser", "lutyuv"]


def test_an_ffmpeg_lacking_a_registry_filter_is_refused_naming_it(tmp_path: Path) -> None:
    fake = _fake_ffmpeg(
        tmp_path / "slim",
        "ffmpeg version 6.0 Copyright (c) 2000-2023",
        ff.REQUIRED_FILTERS - {"acompressor", "deesser"},
    )
    with pytest.raises(FFmpegTooOldError, match="lacks the filters acompressor, deesser"):
        ff.locate_ffmpeg(fake, path_env=str(tmp_path), cache_dir=tmp_path / "cache")
    without_vidstab = _fake_ffmpeg(tmp_path / "plain", "ffmpeg version 6.0", ff.REQUIRED_FILTERS)
    assert not ff.locate_ffmpeg(without_vidstab, path_env=str(tmp_path)).has_vidstab


def test_this_machines_ffmpeg_has_every_filter_the_registry_needs(tools) -> None:
    have = ff.available_filters(tools.ffmpeg)
    for spec in FILTERS.values():
        if spec.needs is None or (spec.optional and not tools.has_vidstab):
            continue
        assert set(spec.needs) <= have, (spec.name, sorted(set(spec.needs) - have))


def _ffmpeg_options(tools, name: str) -> dict[str, tuple[float, float, set[str]]]:
    """Option -> (min, max, named constants) from ``ffmpeg -h filter=NAME``."""
    text = ff.run_probe([str(tools.ffmpeg), "-hide_banner", "-h", f"filter={name}"], timeout=30).stdout
    bound = {"DBL_MAX": math.inf, "-DBL_MAX": -math.inf, "INT_MAX": 2**31 - 1, "INT_MIN": -(2**31)}
    options: dict[str, tuple[float, float, set[str]]] = {}
    current = None
    for line in text.splitlines():
        if m := re.match(r"^   (\w+)\s+<(\w+)>", line):
            r = re.findall(r"\(from (\S+) to (\S+)\)", line)
            lo, hi = (
                (bound.get(r[-1][0]) or float(r[-1][0]), bound.get(r[-1][1]) or float(r[-1][1]))
                if r
                else (-math.inf, math.inf)
            )
            current = m.group(1)
            options[current] = (lo, hi, set())
        elif (m := re.match(r"^     (\w+)\s", line)) and current is not None:
            options[current][2].add(m.group(1))
    return options


@pytest.mark.parametrize("name", FFMPEG_STEPS)
def test_registry_parameters_are_options_of_ffmpeg_within_its_ranges(tools, name: str) -> None:
    spec: FilterSpec = FILTERS[name]
    if spec.optional and not tools.has_vidstab:
        pytest.skip(f"this ffmpeg has no {name}")
    options = _ffmpeg_options(tools, name)
    assert options, f"ffmpeg -h filter={name} listed no options"
    for p in spec.params:
        assert p.name in options, f"{name}: ffmpeg has no option {p.name!r}"
        lo, hi, constants = options[p.name]
        if p.type == "number":
            assert lo <= p.lo and p.hi <= hi, (
                f"{name}.{p.name}: {p.lo:g}..{p.hi:g} is not within ffmpeg's {lo:g}..{hi:g}"
            )
        if p.type == "choice":
            assert set(p.choices) <= constants, (
                f"{name}.{p.name}: {sorted(set(p.choices) - constants)} unknown to ffmpeg"
            )
