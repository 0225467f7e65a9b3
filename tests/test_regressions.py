"""Regression tests for bugs found by the bad-input, CLI and plan tests (each failed before its fix):
truncated WAV, disk filling during the write, output errors naming a fix, file names taken as Rich
markup, plan files naming extra outputs or codec options that write files, stream order, PyAV codec
names, two inputs sharing one output, --save-plan onto the input, unreadable folders, and loudness
under heavy limiting.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mediaenhancer_cli.app import app
from mediaenhancer_core.exit_codes import ExitCode
from tests import media as M

SCRIPT = Path(sys.executable).with_name("mediaenhancer")


def _one_error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1, stderr
    return lines[0]


# --- 1. a truncated WAV is enhanced as if it were whole -------------------------------


@pytest.mark.parametrize("command", ["analyze", "enhance"])
@pytest.mark.parametrize("cut", [0, 1], ids=["even-cut", "odd-cut"])
def test_truncated_wav_is_reported_as_corrupt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, cut: int
) -> None:
    monkeypatch.chdir(tmp_path)
    whole = M.make_audio(tmp_path / "whole.wav", 4.0, ("-c:a", "pcm_s16le"), level=0.05)
    data = whole.read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[: len(data) // 2 + cut])  # header still says 4 s
    whole.unlink()
    result = CliRunner().invoke(app, [command, "cut.wav"])
    assert result.exit_code == ExitCode.INPUT_CORRUPT, result.stdout
    assert "cut.wav" in _one_error_line(result.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.wav"]


# --- 2. a disk that fills up while the output is written: truncated output, exit 0 ----------


@pytest.fixture
def small_disk(tmp_path: Path):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.parametrize(("name", "filler_kib"), [("take.wav", 0), ("clip.mp4", 200)])
def test_disk_filling_up_during_the_write_is_disk_full(
    tmp_path: Path, small_disk: Path, name: str, filler_kib: int
) -> None:
    # WAV: 384 KB into 300 KiB; MP4: 170 KB into the 100 KiB left beside a filler file.
    # ffmpeg 5.1 exits 0 when writing the trailer fails with ENOSPC.
    src = tmp_path / name
    if name.endswith(".wav"):
        M.make_audio(src, 4.0, ("-c:a", "pcm_s16le"), level=0.05)
    else:
        M.make_video(src, 4.0, size="160x120", fps=25, level=0.05)
    if filler_kib:
        (small_disk / "filler").write_bytes(b"\0" * filler_kib * 1024)
    proc = subprocess.run(
        [str(SCRIPT), "enhance", str(src), "--out-dir", str(small_disk)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == ExitCode.DISK_FULL, (proc.returncode, proc.stderr, proc.stdout[-400:])
    assert "free some space" in _one_error_line(proc.stderr)
    left = sorted(p.name for p in small_disk.iterdir() if p.name != "filler")
    assert left == [], f"a truncated output was left in place: {left}"


# --- 3. an output error that is not EACCES/ENOSPC has no fix in its message ----------------


def test_output_under_a_file_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    M.make_audio(tmp_path / "take.wav", 2.0, ("-c:a", "pcm_s16le"), level=0.05)
    (tmp_path / "file-not-folder").write_text("x")
    result = CliRunner().invoke(app, ["enhance", "take.wav", "-o", "file-not-folder/out.wav"])
    assert result.exit_code == ExitCode.OUTPUT_NOT_WRITABLE
    line = _one_error_line(result.stderr)
    assert "-o" in line or "--out-dir" in line, line


# --- 4. file names are printed as Rich markup ------------------------------------------


@pytest.mark.parametrize("command", ["analyze", "enhance"])
@pytest.mark.parametrize("name", ["Interview [final].mp4", "take [/i].wav"])
def test_brackets_in_file_names_are_printed_verbatim(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, name: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / name).parent.mkdir(exist_ok=True)  # "take [/i].wav" is i].wav in the folder "take ["
    (tmp_path / name).write_bytes(b"")
    result = CliRunner().invoke(app, [command, name])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == ExitCode.INPUT_EMPTY
    assert name in _one_error_line(result.stderr)


# --- 5. a plan file can add ffmpeg options that read or write other files ------------------


def _saved_plan(tmp_path: Path) -> tuple[Path, dict]:
    src = M.make_audio(tmp_path / "take.wav", 2.0, ("-c:a", "pcm_s16le"), level=0.05)
    result = CliRunner().invoke(app, ["enhance", "--dry-run", "--save-plan", "plan.json", src.name])
    assert result.exit_code == 0, result.stderr
    return src, json.loads((tmp_path / "plan.json").read_text())


@pytest.mark.parametrize(
    "muxer_args",
    [["extra-output.wav"], ["-filter_complex_script", "graph.txt"], ["-filter_script:a", "graph.txt"]],
    ids=["extra-output-file", "filter-complex-script", "filter-script-with-specifier"],
)
def test_plan_output_args_cannot_name_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, muxer_args: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    _, plan = _saved_plan(tmp_path)
    (tmp_path / "graph.txt").write_text("anull")
    plan["output"]["muxer_args"] = muxer_args
    Path("evil.json").write_text(json.dumps(plan))
    result = CliRunner().invoke(app, ["enhance", "--plan", "evil.json", "take.wav", "-o", "out.wav"])
    assert not Path("extra-output.wav").exists(), "the plan made ffmpeg write a file of its choosing"
    assert result.exit_code == ExitCode.PLAN_INVALID, (result.exit_code, result.stderr)


# --- 6. `mediaenhancer --help` does not show where the exit codes are documented ------------


def test_the_cli_help_points_to_the_exit_code_document() -> None:
    # the root callback's docstring says so, but Typer(help=...) replaces it in --help
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "docs/exit-codes.md" in result.stdout


# --- 7. the enhanced file puts the audio stream before the video ------------------------------


def test_output_keeps_the_input_stream_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # tools and scripts that take stream 0 as the picture (-map 0:0, many editors) get the sound
    monkeypatch.chdir(tmp_path)
    M.make_video(tmp_path / "clip.mp4", 2.0, size="160x120", dim=True, level=0.03)
    for extra in ([], ["--audio-only"]):
        result = CliRunner().invoke(app, ["enhance", "--force", "clip.mp4", *extra])
        assert result.exit_code == 0, result.stderr
        kinds = [s["codec_type"] for s in M.probe(tmp_path / "clip.enhanced.mp4")["streams"]]
        assert kinds == ["video", "audio"], (extra, kinds)


# --- 8. without ffprobe, PyAV reports decoder names instead of codec names --------------------


@pytest.mark.parametrize(("name", "codec"), [("x.mp3", ("-c:a", "libmp3lame", "-q:a", "5"))])
def test_pyav_probe_reports_codec_names_like_ffprobe(tmp_path: Path, tools, name: str, codec: tuple[str, ...]) -> None:
    # "mp3float" (the decoder) instead of "mp3"; the same happens with AV1 ("libdav1d"), which
    # then no longer counts as copyable into mp4/mkv/webm and is re-encoded needlessly
    from dataclasses import replace

    from mediaenhancer_core.engine.probe import probe

    path = M.make_audio(tmp_path / name, 2.0, codec, level=0.05)
    assert [s.codec for s in probe(path, replace(tools, ffprobe=None)).streams] == [
        s.codec for s in probe(path, tools).streams
    ]


# --- 9. two inputs with the same name share one output under --out-dir ------------------------


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_two_inputs_with_the_same_name_do_not_share_one_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: str
) -> None:
    # jobs 1: the second is reported "skipped" (the first one's output is newer than it);
    # jobs 2: both are "enhanced" into the same path and one silently replaces the other
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    M.make_audio(tmp_path / "a" / "x.wav", 2.0, ("-c:a", "pcm_s16le"), level=0.05)
    M.make_audio(tmp_path / "b" / "x.wav", 2.0, ("-c:a", "pcm_s16le"), level=0.01)
    result = CliRunner().invoke(app, ["enhance", "--json", "--jobs", jobs, "--out-dir", "out", "a/x.wav", "b/x.wav"])
    objects = [json.loads(ln) for ln in result.stdout.splitlines()]
    outputs = [o["output"] for o in objects if o["status"] == "enhanced"]
    assert len(set(outputs)) == len(outputs), f"two inputs written to one output: {objects}"
    assert not any(o["status"] == "skipped" for o in objects), objects
    assert result.exit_code != 0 or len(outputs) == 2


# --- 10. --save-plan onto the input destroys the input -----------------------------------------


def test_save_plan_onto_the_input_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    src = M.make_audio(tmp_path / "take.wav", 2.0, ("-c:a", "pcm_s16le"), level=0.05)
    digest = M.file_sha256(src)
    result = CliRunner().invoke(app, ["enhance", "--dry-run", "--save-plan", "take.wav", "take.wav"])
    assert M.file_sha256(src) == digest, "the input was replaced by the plan"
    assert result.exit_code == ExitCode.OUTPUT_IS_INPUT


# --- 11. an unreadable folder crashes with a traceback ----------------------------------------


@pytest.mark.parametrize("command", ["analyze", "enhance"])
def test_unreadable_folder_is_input_unreadable(command: str) -> None:
    import tempfile

    if subprocess.run(["unshare", "--user", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare --user is not available")
    d = Path(tempfile.mkdtemp(prefix="mediaenhancer-test-"))
    try:
        d.chmod(0o777)
        (d / "cfg").mkdir(mode=0o777)
        (d / "locked").mkdir(mode=0o000)
        env = dict(os.environ, MEDIAENHANCER_CONFIG_DIR=str(d / "cfg"), MEDIAENHANCER_CACHE_DIR=str(d / "cfg"))
        proc = subprocess.run(
            ["unshare", "--user", str(SCRIPT), command, "locked"],
            cwd=d,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == ExitCode.INPUT_UNREADABLE, proc.stderr[-500:]
        assert "locked" in _one_error_line(proc.stderr)
    finally:
        (d / "locked").chmod(0o755)
        shutil.rmtree(d)


# --- 12. a quiet tone under loud clicks ends 3 LU under the target, reported as "enhanced" -----


def test_loudness_target_holds_or_the_file_is_not_reported_enhanced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # after 3 mux passes the tool itself measures -19.3 LUFS for a -16 target, and says "enhanced"
    monkeypatch.chdir(tmp_path)
    M.ffmpeg(
        "-filter_complex",
        "sine=f=220:r=48000:d=20,volume=0.03[s];anoisesrc=a=0.002:r=48000:d=20[n];"
        "aevalsrc=exprs='0.4*sin(2*PI*900*t)*exp(-mod(t\\,1.3)*300)':s=48000:d=20[c];"
        "[s][n][c]amix=inputs=3:normalize=0,aformat=channel_layouts=stereo[o]",
        "-map",
        "[o]",
        "-c:a",
        "pcm_s16le",
        "clicks.wav",
    )
    result = CliRunner().invoke(app, ["enhance", "--json", "--format", "flac", "clicks.wav"])
    (o,) = [json.loads(ln) for ln in result.stdout.splitlines()]
    if o["status"] == "enhanced":
        assert abs(M.loudness(tmp_path / "clicks.enhanced.flac") - (-16.0)) <= 0.5
        assert M.true_peak(tmp_path / "clicks.enhanced.flac") <= -1.5 + 0.05
