"""The `mediaenhancer` CLI: JSON output, batches, inputs, re-runs, progress, help (issue 2).

In-process through CliRunner (which is not a terminal), plus real processes where a
terminal or a pipe is the point.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from mediaenhancer_cli.app import app
from mediaenhancer_core.exit_codes import ExitCode
from tests import media as M

SCRIPT = Path(sys.executable).with_name("mediaenhancer")


def cli(*args: str) -> typer.testing.Result:
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.stderr
    return result


def json_lines(text: str) -> list[dict]:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return [json.loads(ln) for ln in lines]  # every line must be one JSON object


def by_input(objects: list[dict]) -> dict[str, dict]:
    return {Path(o["input"]).name: o for o in objects}


def _speech(seconds: float = 3.0, level: float = 0.03):
    return lambda p: M.make_audio(p, seconds, ("-c:a", "pcm_s16le"), level=level, noise=0.003)


def _clip(p: Path) -> Path:
    return M.make_video(p, 2.0, size="160x120", fps=25, level=0.03, noise=0.003)


def put(media, dest: Path, seconds: float = 2.0, level: float = 0.03) -> Path:
    """A speech-like WAV at ``dest`` (built once per worker for each length and level)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    copy = media(f"speech-{seconds:g}s-{level:g}.wav", _speech(seconds, level), dest.parent)
    copy.rename(dest)
    return dest


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


# --------------------------------------------------------------------------- analyze


def test_analyze_json_is_one_object_per_line_with_the_measurements(here: Path, media) -> None:
    put(media, here / "speech.wav")
    media("clip.mp4", _clip, here)
    result = cli("analyze", "--json", "speech.wav", "clip.mp4")
    assert result.exit_code == 0, result.stderr
    objects = json_lines(result.stdout)
    assert [Path(o["file"]).name for o in objects] == ["speech.wav", "clip.mp4"]
    for o in objects:
        assert o["status"] == "ok"
        a = o["audio"]
        for key in (
            "integrated_lufs",
            "loudness_range_lu",
            "true_peak_dbtp",
            "noise_floor_lufs",
            "clipping",
            "silence_share",
            "silence_spans",
        ):
            assert key in a, key
        # the tool's loudness agrees with an independent BS.1770 meter
        assert abs(a["integrated_lufs"] - M.loudness(here / Path(o["file"]).name)) < 0.5
        assert abs(o["duration"] - float(M.probe(here / Path(o["file"]).name)["format"]["duration"])) < 0.05
    speech, clip = objects
    assert speech["video"] is None
    assert [s["kind"] for s in clip["streams"]] == ["video", "audio"]
    v = clip["video"]
    assert (v["width"], v["height"], v["fps"]) == (160, 120, 25.0)
    for key in ("brightness", "contrast", "saturation", "black_spans", "frozen_spans", "noise_sigma"):
        assert key in v, key


def test_analyze_without_json_prints_a_table_per_file(here: Path, media) -> None:
    put(media, here / "speech.wav")
    result = cli("analyze", "speech.wav")
    assert result.exit_code == 0
    assert "speech.wav" in result.stdout and "LUFS" in result.stdout and "dBTP" in result.stdout
    assert files_under(here) == ["speech.wav"]


def test_analyze_audio_only_skips_the_picture(here: Path, media) -> None:
    media("clip.mp4", _clip, here)
    (o,) = json_lines(cli("analyze", "--json", "--audio-only", "clip.mp4").stdout)
    assert o["video"] is None and o["audio"] is not None


# --------------------------------------------------------------------------- enhance --json and batches


def test_enhance_json_gives_status_error_before_and_after_per_file(here: Path, media) -> None:
    put(media, here / "a.wav")
    result = cli("enhance", "--json", "a.wav")
    assert result.exit_code == 0, result.stderr
    (o,) = json_lines(result.stdout)
    assert o["status"] == "enhanced" and o["error"] is None
    assert o["output"] == "a.enhanced.wav"
    assert o["before"]["audio"]["integrated_lufs"] < -20
    assert abs(o["after"]["audio"]["integrated_lufs"] - (-16.0)) <= 0.5
    # the reported "after" is what an independent meter finds in the file
    assert abs(M.loudness(here / "a.enhanced.wav") - (-16.0)) <= 0.5


@pytest.mark.slow
def test_enhance_summary_shows_the_sound_before_and_after_as_measured_on_the_output(
    here: Path, media, monkeypatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # a wide terminal: each label on one line
    import numpy as np

    from tests import audio_meters as A

    clean = np.concatenate([A.load("speech-female-en-2.flac"), np.zeros(48000), A.load("speech-male-en-2.flac")])
    A.write(here / "noisy.wav", A.mix(clean, A.load("noise-rain-1.flac"), 5) * 0.3)
    result = cli("enhance", "--json", "noisy.wav")
    assert result.exit_code == 0, result.stderr
    (o,) = json_lines(result.stdout)
    before, after = o["before"]["audio_figures"], o["after"]["audio"]["measured"]
    for key in ("integrated_lufs", "true_peak_dbtp", "pause_floor_lufs", "speech_to_noise_db", "speech_spread_lu"):
        assert key in before and key in after, key
    # the figures are the written file's: an independent meter agrees on the loudness, and the noise in
    # the pauses fell by what our own meter of the pauses finds
    out = A.decode(here / "noisy.enhanced.wav")
    assert abs(after["integrated_lufs"] - M.loudness(here / "noisy.enhanced.wav")) <= 0.3
    noisy = A.decode(here / "noisy.wav")
    ours = (A.pause_level(out, clean) - A.speech_level(out, clean)) - (
        A.pause_level(noisy, clean) - A.speech_level(noisy, clean)
    )
    assert ours <= -25.0
    assert after["speech_to_noise_db"] > before["speech_to_noise_db"] + 20
    # no reason in the plan promises an outcome
    assert not any("reduce noise by" in s["reason"] for s in o["plan"]["audio_steps"])
    # the table for people shows the same figures, before and after
    table = cli("enhance", "--force", "noisy.wav")
    assert table.exit_code == 0, table.stderr
    for label in ("loudness", "true peak", "pause noise", "speech/noise", "spread"):
        assert label in table.stdout, (label, table.stdout)
    off = json_lines(cli("enhance", "--json", "--dry-run", "--denoise", "off", "noisy.wav").stdout)[0]
    assert "deepfilternet" not in {s["filter"] for s in off["plan"]["audio_steps"]}
    light = json_lines(cli("enhance", "--json", "--dry-run", "--denoise", "light", "noisy.wav").stdout)[0]
    step = next(s for s in light["plan"]["audio_steps"] if s["filter"] == "deepfilternet")
    assert step["params"] == {"atten_lim_db": 12.0, "level": "light"}
    assert cli("enhance", "--denoise", "loud", "noisy.wav").exit_code == 2


def _high_pass_sigma(path: Path, w: int, h: int) -> float:
    """The test's own noise meter: σ of luma minus its 9x9 box mean, over 3 decoded frames (on slow
    gradients whatever is left after the box mean is noise)."""
    import numpy as np

    raw = subprocess.run(
        [M.FFMPEG, "-v", "error", "-i", str(path), "-frames:v", "3", "-vf", "format=gray", "-f", "rawvideo", "-"],
        capture_output=True,
        check=True,
    ).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, h, w).astype(np.float64)
    k = 9
    out = []
    for f in frames:
        c = np.cumsum(np.cumsum(np.pad(f, ((1, 0), (1, 0))), 0), 1)
        box = (c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]) / (k * k)
        out.append(float(np.std(f[k // 2 : k // 2 + box.shape[0], k // 2 : k // 2 + box.shape[1]] - box)))
    return float(np.mean(out))


@pytest.mark.slow
def test_enhance_summary_shows_the_picture_before_and_after_as_measured_on_the_output(here: Path) -> None:
    """A grainy clip: the summary people read has the picture's noise, levels and mean luma before and
    after, the same figures as --json, and the noise it reports as gone is gone by the test's own meter."""
    src = M.make_video(here / "grainy.mp4", 2.0, size="320x240", fps=25, smooth=True, noisy=True, level=0.03)
    res = CliRunner().invoke(app, ["enhance", str(src), "--json"], env={"COLUMNS": "120"})
    assert res.exit_code == 0, res.output
    (o,) = json_lines(res.stdout)
    pic = o["after"]["video"]
    table = CliRunner().invoke(app, ["enhance", str(src), "--force"], env={"COLUMNS": "120", "TTY_COMPATIBLE": "0"})
    assert table.exit_code == 0, table.output
    rows = {r.split("\t")[-3]: r.split("\t")[-2:] for r in table.stdout.splitlines() if r.count("\t") >= 4}
    for label, key in (
        ("picture noise σ", "noise_luma"),
        ("black level", "black_point"),
        ("white level", "white_point"),
        ("mean luma", "mean_luma"),
    ):
        assert rows[label] == [f"{pic['before'][key]:.1f}", f"{pic['after'][key]:.1f}"], (label, rows)
    before, after = (float(x) for x in rows["picture noise σ"])
    assert after < before / 2, rows  # the table says the grain went
    out = here / "grainy.enhanced.mp4"
    assert _high_pass_sigma(out, 320, 240) < _high_pass_sigma(src, 320, 240) / 2  # and it did


def test_one_bad_file_does_not_stop_the_batch(here: Path, media) -> None:
    put(media, here / "a.wav")
    put(media, here / "c.wav", 2.0, 0.05)
    (here / "b.mp4").write_text("not a video\n")
    result = cli("enhance", "a.wav", "b.mp4", "c.wav")
    # exit code of the failure; the error line names it; the summary lists all three
    assert result.exit_code == ExitCode.INPUT_NOT_MEDIA
    errors = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(errors) == 1 and errors[0].startswith("mediaenhancer: error: b.mp4: not a media file"), errors
    summary = result.stdout
    assert "Summary" in summary
    for name in ("a.wav", "b.mp4", "c.wav"):
        assert name in summary
    assert summary.count("enhanced") >= 2 and "failed" in summary
    assert files_under(here) == ["a.enhanced.wav", "a.wav", "b.mp4", "c.enhanced.wav", "c.wav"]


def test_batch_json_lists_every_file_and_exits_with_the_first_failure(here: Path, media) -> None:
    put(media, here / "a.wav")
    (here / "empty.wav").write_bytes(b"")
    (here / "notes.mp4").write_text("text\n")
    result = cli("enhance", "--json", "a.wav", "empty.wav", "notes.mp4", "missing.wav")
    objects = json_lines(result.stdout)
    assert [Path(o["input"]).name for o in objects] == ["a.wav", "empty.wav", "notes.mp4", "missing.wav"]
    assert [o["status"] for o in objects] == ["enhanced", "failed", "failed", "failed"]
    assert [o["error"]["code"] for o in objects[1:]] == ["input_empty", "input_not_media", "input_not_found"]
    assert result.exit_code == ExitCode.INPUT_EMPTY


def test_quoted_glob_pattern_is_expanded_and_skips_enhanced_outputs(here: Path, media) -> None:
    (here / "clips").mkdir()
    for name in ("x.wav", "y.wav"):
        put(media, here / "clips" / name)
    (here / "clips" / "x.enhanced.wav").write_bytes((here / "clips" / "x.wav").read_bytes())
    (here / "clips" / "notes.txt").write_text("x")
    objects = json_lines(cli("enhance", "--json", "--dry-run", "clips/*").stdout)
    assert sorted(Path(o["input"]).name for o in objects) == ["x.wav", "y.wav"]


def test_glob_matching_nothing_is_input_not_found(here: Path) -> None:
    result = cli("enhance", "nothing/*.wav")
    assert result.exit_code == ExitCode.INPUT_NOT_FOUND
    assert "nothing/*.wav" in result.stderr and "no media files match" in result.stderr


def test_recursive_folder_mirrors_subfolders_under_out_dir(here: Path, media) -> None:
    shoot = here / "shoot"
    put(media, shoot / "a.wav", 2.0)
    put(media, shoot / "day2" / "b.wav", 2.0)
    put(media, shoot / "day2" / "mics" / "c.wav", 2.0)
    put(media, shoot / ".cache" / "d.wav", 2.0)  # hidden folder: not media of the shoot
    (shoot / "day2" / "b.enhanced.wav").write_bytes(b"an earlier output, not an input")
    (shoot / "day2" / ".b.partial-1234.wav").write_bytes(b"leftover")
    (shoot / "notes.txt").write_text("x")

    flat = cli("enhance", "--json", "--dry-run", "shoot")
    assert sorted(Path(o["input"]).name for o in json_lines(flat.stdout)) == ["a.wav"]

    result = cli("enhance", "--json", "--recursive", "--out-dir", "out", "shoot")
    assert result.exit_code == 0, result.stderr
    objects = json_lines(result.stdout)
    assert sorted(Path(o["input"]).name for o in objects) == ["a.wav", "b.wav", "c.wav"]
    assert all(o["status"] == "enhanced" for o in objects)
    assert files_under(here / "out") == ["a.enhanced.wav", "day2/b.enhanced.wav", "day2/mics/c.enhanced.wav"]


def test_folder_and_file_naming_the_same_input_is_done_once(here: Path, media) -> None:
    put(media, here / "f" / "a.wav", 2.0)
    objects = json_lines(cli("enhance", "--json", "--dry-run", "f", "f/a.wav", "./f/a.wav").stdout)
    assert len(objects) == 1


def test_rerun_skips_outputs_newer_than_the_input_unless_forced(here: Path, media) -> None:
    put(media, here / "a.wav", 2.0)
    assert cli("enhance", "a.wav").exit_code == 0
    out = here / "a.enhanced.wav"
    first = (out.stat().st_mtime_ns, M.file_sha256(out))

    again = cli("enhance", "--json", "a.wav")
    (o,) = json_lines(again.stdout)
    assert again.exit_code == 0
    assert o["status"] == "skipped" and "--force" in o["reason"]
    assert (out.stat().st_mtime_ns, M.file_sha256(out)) == first

    forced = cli("enhance", "--json", "--force", "a.wav")
    (o,) = json_lines(forced.stdout)
    assert o["status"] == "enhanced"
    assert out.stat().st_mtime_ns > first[0]

    # an input changed after its output was made is redone without --force
    future = time.time() + 60
    os.utime(here / "a.wav", (future, future))
    (o,) = json_lines(cli("enhance", "--json", "a.wav").stdout)
    assert o["status"] == "enhanced"


def test_skip_if_within_copies_a_file_already_at_the_target(here: Path, media) -> None:
    src = put(media, here / "a.wav", 3.0)
    (measured,) = json_lines(cli("analyze", "--json", "a.wav").stdout)
    lufs = measured["audio"]["integrated_lufs"]
    result = cli("enhance", "--json", "--target-lufs", f"{lufs + 0.5:.1f}", "--skip-if-within", "1", "a.wav")
    assert result.exit_code == 0, result.stderr
    (o,) = json_lines(result.stdout)
    assert o["status"] == "skipped" and "copied unchanged" in o["reason"]
    assert (here / "a.enhanced.wav").read_bytes() == src.read_bytes()

    # further than N LU from the target: enhanced as usual
    (o,) = json_lines(
        cli("enhance", "--json", "--force", "--target-lufs", f"{lufs + 3:.1f}", "--skip-if-within", "1", "a.wav").stdout
    )
    assert o["status"] == "enhanced"
    assert abs(M.loudness(here / "a.enhanced.wav") - (lufs + 3)) <= 0.5


def test_two_jobs_give_the_same_results_as_one(here: Path, media) -> None:
    names = [f"{c}.wav" for c in "abcd"]
    for i, name in enumerate(names):
        put(media, here / name, 2.0, 0.02 + 0.01 * i)
    one = json_lines(cli("enhance", "--json", "--out-dir", "one", "--jobs", "1", *names).stdout)
    two = json_lines(cli("enhance", "--json", "--out-dir", "two", "--jobs", "2", *names).stdout)
    assert [o["input"] for o in two] == names  # results come back in input order
    assert [o["status"] for o in one] == [o["status"] for o in two] == ["enhanced"] * 4
    for a, b in zip(one, two):
        assert a["plan"] == b["plan"]
        assert a["after"]["audio"] == b["after"]["audio"]
    for name in names:
        out = name.replace(".wav", ".enhanced.wav")
        assert M.file_sha256(here / "one" / out) == M.file_sha256(here / "two" / out)


def test_dry_run_writes_nothing_and_shows_the_plan(here: Path, media) -> None:
    put(media, here / "a.wav")
    result = cli("enhance", "--dry-run", "a.wav")
    assert result.exit_code == 0
    assert "Plan for a.wav" in result.stdout
    assert "loudness" in result.stdout and "-16 LUFS" in result.stdout
    assert files_under(here) == ["a.wav"]
    (o,) = json_lines(cli("enhance", "--dry-run", "--json", "a.wav").stdout)
    assert o["status"] == "planned" and o["after"] is None
    assert files_under(here) == ["a.wav"]


# --------------------------------------------------------------------------- output for people and pipes


def test_piped_output_has_no_progress_bar(here: Path, media) -> None:
    put(media, here / "a.wav")
    result = cli("enhance", "a.wav")
    assert result.exit_code == 0
    assert "\r" not in result.stdout and "\r" not in result.stderr
    assert "\x1b[" not in result.stdout + result.stderr  # no cursor movement, no colour
    assert "%" not in result.stderr


def _run_on_a_terminal(args: list[str], cwd: Path) -> tuple[int, bytes]:
    main, sub = pty.openpty()
    env = dict(os.environ, TERM="xterm-256color", COLUMNS="100")
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([str(SCRIPT), *args], cwd=cwd, stdin=subprocess.DEVNULL, stdout=sub, stderr=sub, env=env)
    os.close(sub)
    out = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        out += chunk
    os.close(main)
    return proc.wait(timeout=60), out


def test_a_terminal_gets_a_progress_bar_and_a_pipe_does_not(here: Path, media) -> None:
    if not SCRIPT.exists():
        pytest.skip(f"{SCRIPT} is not installed")
    put(media, here / "a.wav")
    rc, screen = _run_on_a_terminal(["enhance", "a.wav"], here)
    assert rc == 0, screen.decode(errors="replace")
    assert b"\r" in screen and b"100%" in screen
    piped = subprocess.run([str(SCRIPT), "enhance", "--force", "a.wav"], cwd=here, capture_output=True, timeout=60)
    assert piped.returncode == 0
    assert b"\r" not in piped.stdout + piped.stderr
    assert b"%" not in piped.stderr
    assert b"a.enhanced.wav" in piped.stdout  # the results are still printed


def test_quiet_prints_no_summary_but_still_the_errors(here: Path, media) -> None:
    put(media, here / "a.wav", 2.0)
    ok = cli("enhance", "--quiet", "a.wav")
    assert ok.exit_code == 0
    assert ok.stdout.strip() == "" and ok.stderr.strip() == ""
    assert (here / "a.enhanced.wav").exists()
    (here / "empty.wav").write_bytes(b"")
    bad = cli("enhance", "-q", "--force", "a.wav", "empty.wav")
    assert bad.exit_code == ExitCode.INPUT_EMPTY
    assert bad.stdout.strip() == ""
    assert bad.stderr.strip().startswith("mediaenhancer: error: empty.wav")


# --------------------------------------------------------------------------- help, version, doctor


def _command_paths() -> list[list[str]]:
    import typer.main

    root = typer.main.get_command(app)
    paths: list[list[str]] = []

    def walk(group, prefix: list[str]) -> None:
        # through list_commands/get_command: the account, media... groups load on demand
        ctx = typer.Context(group)
        for name in sorted(group.list_commands(ctx)):
            cmd = group.get_command(ctx, name)
            paths.append([*prefix, name])
            if hasattr(cmd, "commands"):
                walk(cmd, [*prefix, name])

    walk(root, [])
    return paths


def test_the_local_commands_exist() -> None:
    names = {p[0] for p in _command_paths()}
    assert {"analyze", "enhance", "presets", "doctor", "sample"} <= names


def test_root_help_exits_0_and_lists_the_commands() -> None:
    result = cli("--help")
    assert result.exit_code == 0
    for name in ("analyze", "enhance", "presets", "doctor"):
        assert name in result.stdout


@pytest.mark.parametrize("path", _command_paths(), ids=lambda p: " ".join(p))
def test_every_command_has_help_text(path: list[str]) -> None:
    import typer.main

    cmd = typer.main.get_command(app)
    for name in path:
        cmd = cmd.get_command(typer.Context(cmd), name)
    assert (cmd.help or "").strip(), f"`mediaenhancer {' '.join(path)}` has no help text"
    result = cli(*path, "--help")
    assert result.exit_code == 0, result.stderr
    assert "Usage:" in result.stdout
    assert cmd.help.strip().split("\n")[0][:30] in " ".join(result.stdout.split())


def test_help_starts_fast_without_importing_the_engine() -> None:
    code = (
        "import sys; from mediaenhancer_cli.app import app; "
        "heavy = [m for m in ('av', 'numpy', 'mediaenhancer_core.engine.analysis', 'mediaenhancer_core.engine.render', "
        "'sqlalchemy', 'httpx') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]", f"imported at start-up: {out}"


def test_version() -> None:
    from mediaenhancer_core import __version__

    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"mediaenhancer {__version__}"


def test_doctor_names_the_ffmpeg_in_use(tools) -> None:
    result = cli("doctor")
    assert result.exit_code == 0, result.stderr
    assert str(tools.ffmpeg) in result.stdout
    assert tools.version_text in result.stdout
    assert "jobs = 1" in result.stdout


def test_doctor_masks_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIAENHANCER_TOKEN", "me_live_secret_value_123")
    result = cli("doctor")
    assert result.exit_code == 0
    assert "me_live_secret_value_123" not in result.stdout
    assert "token = **********" in result.stdout
