"""Exit codes: each one documented, every error class mapped, and each reachable one reached."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mediaenhancer_cli.app import app
from mediaenhancer_core import errors as E
from mediaenhancer_core.exit_codes import ExitCode, exit_code_for
from tests import media as M

DOC = Path(__file__).resolve().parents[1] / "docs" / "exit-codes.md"
ROW = re.compile(r"^\|\s*(\d+)\s*\|\s*`?([A-Z_]+)`?\s*\|(.*)\|\s*$")


def _doc_rows() -> dict[int, tuple[str, list[str]]]:
    rows: dict[int, tuple[str, list[str]]] = {}
    for line in DOC.read_text("utf-8").splitlines():
        m = ROW.match(line)
        if m:
            code = int(m.group(1))
            assert code not in rows, f"code {code} is documented twice"
            rows[code] = (m.group(2), [c.strip() for c in m.group(3).split("|")])
    return rows


def _error_classes() -> list[type[E.MediaEnhancerError]]:
    """Every concrete error class (the base class is never raised itself: see below)."""
    return [
        getattr(E, name)
        for name in E.__all__
        if inspect.isclass(getattr(E, name)) and getattr(E, name) is not E.MediaEnhancerError
    ]


def _make(klass: type[E.MediaEnhancerError]) -> E.MediaEnhancerError:
    if issubclass(klass, E.RateLimitedError):
        return klass("slow down", retry_after=3)
    return klass("message")


# --------------------------------------------------------------------------- the document


def test_every_exit_code_is_documented_with_name_meaning_example_and_fix() -> None:
    rows = _doc_rows()
    for member in ExitCode:
        assert member.value in rows, f"{member.name} ({member.value}) is not in docs/exit-codes.md"
        name, cells = rows[member.value]
        assert name == member.name, f"docs/exit-codes.md calls {member.value} {name}, the code calls it {member.name}"
        assert len(cells) == 3 and all(cells), f"{member.name}: meaning, example and what to do must all be filled in"


def test_the_document_lists_no_code_that_does_not_exist() -> None:
    assert set(_doc_rows()) == {m.value for m in ExitCode}


def test_exit_codes_are_distinct_and_fit_a_shell() -> None:
    values = [m.value for m in ExitCode]
    assert len(values) == len(set(values))
    assert all(0 <= v <= 255 for v in values)
    assert ExitCode.INTERRUPTED == 128 + 2 and ExitCode.TERMINATED == 128 + 15


# --------------------------------------------------------------------------- the mapping


@pytest.mark.parametrize("klass", _error_classes(), ids=lambda k: k.__name__)
def test_every_error_class_maps_to_a_specific_code(klass: type[E.MediaEnhancerError]) -> None:
    code = exit_code_for(_make(klass))
    assert code not in (ExitCode.OK, ExitCode.FAILURE), f"{klass.__name__} falls through to {code.name}"


def test_the_base_class_is_never_raised_itself() -> None:
    # it would fall through to FAILURE ("a bug"); raising a specific class is what gives a code
    src = Path(E.__file__).resolve().parents[1]
    offenders = [
        f"{p.name}:{i}"
        for p in src.rglob("*.py")
        for i, line in enumerate(p.read_text("utf-8").splitlines(), 1)
        if re.search(r"raise\s+(E\.|errors\.)?MediaEnhancerError\(", line)
    ]
    assert offenders == []


def test_every_public_error_class_is_in_the_exception_tree() -> None:
    classes = _error_classes()
    assert all(issubclass(k, E.MediaEnhancerError) for k in classes)
    # and nothing that the module defines is left out of __all__
    defined = {n for n, v in vars(E).items() if inspect.isclass(v) and issubclass(v, E.MediaEnhancerError)}
    assert defined <= set(E.__all__)


@pytest.mark.parametrize(
    ("klass", "code"),
    [
        (E.InputNotFoundError, ExitCode.INPUT_NOT_FOUND),
        (E.InputUnreadableError, ExitCode.INPUT_UNREADABLE),
        (E.EmptyInputError, ExitCode.INPUT_EMPTY),
        (E.NotMediaError, ExitCode.INPUT_NOT_MEDIA),
        (E.CorruptMediaError, ExitCode.INPUT_CORRUPT),
        (E.NoStreamsError, ExitCode.INPUT_NO_STREAMS),
        (E.InputError, ExitCode.INPUT_INVALID),
        (E.OutputSameAsInputError, ExitCode.OUTPUT_IS_INPUT),
        (E.DiskFullError, ExitCode.DISK_FULL),
        (E.OutputNotWritableError, ExitCode.OUTPUT_NOT_WRITABLE),
        (E.OutputError, ExitCode.OUTPUT_NOT_WRITABLE),
        (E.PlanError, ExitCode.PLAN_INVALID),
        (E.PresetError, ExitCode.PRESET_INVALID),
        (E.RenderError, ExitCode.RENDER_FAILED),
        (E.ConfigError, ExitCode.CONFIG),
        (E.FFmpegNotFoundError, ExitCode.FFMPEG),
        (E.FFmpegTooOldError, ExitCode.FFMPEG),
        (E.CancelledError, ExitCode.INTERRUPTED),
    ],
)
def test_each_local_error_has_its_own_code(klass: type[E.MediaEnhancerError], code: ExitCode) -> None:
    # the subclasses must not be swallowed by their parents' rows in the table
    assert exit_code_for(klass("x")) == code


def test_bad_input_classes_have_pairwise_distinct_codes() -> None:
    klasses = [
        E.InputNotFoundError,
        E.InputUnreadableError,
        E.EmptyInputError,
        E.NotMediaError,
        E.CorruptMediaError,
        E.NoStreamsError,
        E.OutputSameAsInputError,
        E.DiskFullError,
        E.OutputNotWritableError,
    ]
    codes = [exit_code_for(k("x")) for k in klasses]
    assert len(set(codes)) == len(codes)


def test_errors_carry_distinct_machine_codes() -> None:
    # `code` goes into --json output; two local error classes must not share one
    local = [
        E.ConfigError,
        E.FFmpegNotFoundError,
        E.FFmpegTooOldError,
        E.InputNotFoundError,
        E.InputUnreadableError,
        E.EmptyInputError,
        E.NotMediaError,
        E.CorruptMediaError,
        E.NoStreamsError,
        E.OutputSameAsInputError,
        E.OutputNotWritableError,
        E.DiskFullError,
        E.PlanError,
        E.PresetError,
        E.RenderError,
        E.CancelledError,
    ]
    codes = [k.code for k in local]
    assert len(set(codes)) == len(codes)


def test_anything_else_is_failure() -> None:
    assert exit_code_for(ValueError("boom")) == ExitCode.FAILURE
    assert exit_code_for(KeyError("x")) == ExitCode.FAILURE


# --------------------------------------------------------------------------- reached through the CLI


@pytest.fixture
def wav(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, media) -> Path:
    monkeypatch.chdir(tmp_path)
    return media("a.wav", lambda p: M.make_audio(p, 2.0, ("-c:a", "pcm_s16le"), level=0.05), tmp_path)


def _usage_error(args: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == ExitCode.USAGE, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "extra",
    [
        ["-o", "out.wav"],
        ["--save-plan", "p.json"],
        ["--plan", "p.json"],
    ],
    ids=["output", "save-plan", "plan"],
)
def test_single_file_options_with_two_inputs_are_usage_errors(wav: Path, extra: list[str]) -> None:
    b = wav.with_name("b.wav")
    b.write_bytes(wav.read_bytes())
    _usage_error(["enhance", "a.wav", "b.wav", *extra])
    assert sorted(p.name for p in wav.parent.iterdir()) == ["a.wav", "b.wav"]


@pytest.mark.parametrize(
    "args",
    [
        ["enhance", "a.wav", "--output", "x.wav", "--out-dir", "out"],
        ["enhance", "a.wav", "--audio-only", "--stabilize"],
        ["enhance", "a.wav", "--audio-only", "--resolution", "720p"],
        ["enhance", "a.wav", "--audio-only", "--fps", "25"],
        ["enhance", "a.wav", "--audio-only", "--trim-silence"],
        ["enhance", "a.wav", "--resolution", "480p"],
        ["enhance", "a.wav", "--format", "avi"],
        ["enhance", "a.wav", "--quality", "best"],
        ["enhance", "a.wav", "--target-lufs", "-60"],
        ["enhance", "a.wav", "--true-peak", "3"],
        ["enhance", "a.wav", "--jobs", "0"],
        ["enhance", "a.wav", "--no-such-option"],
        ["enhance"],
        ["analyze"],
        ["no-such-command"],
    ],
    ids=lambda a: " ".join(a[1:]) or a[0],
)
def test_usage_errors_exit_2_and_write_nothing(wav: Path, args: list[str]) -> None:
    _usage_error(args)
    assert sorted(p.name for p in wav.parent.iterdir()) == ["a.wav"]


@pytest.mark.parametrize(
    ("env", "value"),
    [("MEDIAENHANCER_JOBS", "0"), ("MEDIAENHANCER_QUALITY", "best"), ("MEDIAENHANCER_FFMPEG_THREADS", "many")],
)
def test_invalid_setting_exits_config(wav: Path, monkeypatch: pytest.MonkeyPatch, env: str, value: str) -> None:
    monkeypatch.setenv(env, value)
    result = CliRunner().invoke(app, ["enhance", "a.wav"])
    assert result.exit_code == ExitCode.CONFIG, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and env in lines[0], result.stderr


def test_broken_config_file_exits_config(wav: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text("jobs = [broken\n")
    monkeypatch.setenv("MEDIAENHANCER_CONFIG", str(cfg))
    result = CliRunner().invoke(app, ["analyze", "a.wav"])
    assert result.exit_code == ExitCode.CONFIG
    assert "config.toml" in result.stderr and "Traceback" not in result.stderr


def test_ffmpeg_failing_on_a_valid_input_exits_render_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, media
) -> None:
    # a plan that passes validation (an expression is checked by ffmpeg, not by us) but which ffmpeg refuses
    monkeypatch.chdir(tmp_path)
    clip = media("v.mp4", lambda p: M.make_video(p, 1.0), tmp_path)
    assert CliRunner().invoke(app, ["enhance", "--dry-run", "--save-plan", "p.json", "v.mp4"]).exit_code == 0
    plan = json.loads(Path("p.json").read_text())
    plan["video_steps"] = [{"filter": "lutyuv", "params": {"u": "clip(val", "v": "val"}, "reason": "test"}]
    plan["output"]["video"] = "encode"
    Path("p.json").write_text(json.dumps(plan))
    result = CliRunner().invoke(app, ["enhance", "--plan", "p.json", "v.mp4"])
    assert result.exit_code == ExitCode.RENDER_FAILED, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "v.mp4" in lines[0], result.stderr
    assert sorted(p.name for p in clip.parent.iterdir()) == ["p.json", "v.mp4"]


def test_tracebacks_only_with_the_traceback_flag(wav: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIAENHANCER_JOBS", "0")
    quiet = CliRunner().invoke(app, ["enhance", "a.wav"])
    assert quiet.exit_code == ExitCode.CONFIG
    assert isinstance(quiet.exception, SystemExit)
    loud = CliRunner().invoke(app, ["--traceback", "enhance", "a.wav"])
    assert isinstance(loud.exception, E.ConfigError)


def test_remote_denoise_levels_the_server_lacks_and_contradictions_are_usage_errors(wav: Path) -> None:
    # before, --remote dropped the level silently and skipped the contradiction check
    _usage_error(["enhance", "--remote", "--denoise", "strong", "a.wav"])
    _usage_error(["enhance", "--remote", "--no-denoise", "--denoise", "normal", "a.wav"])
