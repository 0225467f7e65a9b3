"""Ctrl-C and SIGTERM stop ffmpeg, remove temporary files and exit 130 / 143 (issue 2).

Runs `mediaenhancer enhance` as a real process, interrupts it while ffmpeg is working, and
checks what is left: no output, no `.partial-` file, no `mediaenhancer-*` work folder, no
ffmpeg still running, and an output that existed before untouched.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mediaenhancer_core.exit_codes import ExitCode
from tests import media as M

SCRIPT = Path(sys.executable).with_name("mediaenhancer")
PARTIAL = ".partial-"


def _children(pid: int) -> dict[int, str]:
    """Processes whose parent is ``pid``, with their command line (read from /proc)."""
    out: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    out[int(entry)] = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class Run:
    """A `mediaenhancer` process and everything it started."""

    def __init__(self, args: list[str], cwd: Path, temp: Path, *, own_group: bool = False) -> None:
        if not SCRIPT.exists():
            pytest.skip(f"{SCRIPT} is not installed (pip install -e .)")
        env = dict(os.environ, MEDIAENHANCER_TEMP_DIR=str(temp))
        self.proc = subprocess.Popen(
            [str(SCRIPT), *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            # a shell's background jobs ignore SIGINT, and so would this one: give it the default back
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
            start_new_session=own_group,
        )
        self.own_group = own_group
        self.ffmpeg: dict[int, str] = {}

    def wait_for(self, condition: Callable[[], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.ffmpeg.update({p: c for p, c in _children(self.proc.pid).items() if "ffmpeg" in c})
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                pytest.fail(f"mediaenhancer ended (exit {self.proc.returncode}) before it could be interrupted:\n{err}")
            if condition():
                return
            time.sleep(0.02)
        self.proc.kill()
        pytest.fail("the condition to interrupt on never came")

    def interrupt(self, sig: signal.Signals) -> tuple[int, str]:
        assert self.ffmpeg, "no ffmpeg was running when the signal was sent"
        if self.own_group:
            os.killpg(self.proc.pid, sig)  # like a terminal's Ctrl-C: ffmpeg gets it too
        else:
            self.proc.send_signal(sig)
        try:
            _, err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            pytest.fail(f"mediaenhancer did not stop within 30 s of {sig.name}")
        return self.proc.returncode, err

    def assert_no_ffmpeg_left(self) -> None:
        deadline = time.monotonic() + 5
        while any(_alive(p) for p in self.ffmpeg) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = {p: c for p, c in self.ffmpeg.items() if _alive(p)}
        for p in left:  # do not leave them behind for the next test either
            os.kill(p, signal.SIGKILL)
        assert left == {}, f"ffmpeg still running after the interrupt: {left}"


def _work_dirs(temp: Path) -> list[str]:
    return [p.name for p in temp.iterdir() if p.name.startswith("mediaenhancer-")]


def _partials(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*") if PARTIAL in p.name]


@pytest.fixture
def work(tmp_path: Path) -> tuple[Path, Path]:
    d, temp = tmp_path / "work", tmp_path / "tool-temp"
    d.mkdir()
    temp.mkdir()
    return d, temp


def _slow_clip(p: Path) -> Path:
    # upscaled to 1080p with the archive preset: the render pass takes several seconds
    return M.make_video(p, 3.0, size="320x240", fps=25, level=0.05, noise=0.004)


SLOW = ["--quality", "archive", "--resolution", "1080p"]


@pytest.mark.parametrize(
    ("sig", "code", "word"),
    [(signal.SIGINT, ExitCode.INTERRUPTED, "interrupted"), (signal.SIGTERM, ExitCode.TERMINATED, "terminated")],
    ids=["SIGINT", "SIGTERM"],
)
def test_signal_during_render_stops_ffmpeg_and_cleans_up(
    work, media, sig: signal.Signals, code: ExitCode, word: str
) -> None:
    d, temp = work
    src = media("slow.mp4", _slow_clip, d)
    digest = M.file_sha256(src)
    run = Run(["enhance", src.name, *SLOW], d, temp)
    # the work folder exists and ffmpeg is running
    run.wait_for(lambda: bool(_work_dirs(temp)) and bool(run.ffmpeg))
    time.sleep(0.3)
    rc, err = run.interrupt(sig)

    assert rc == code, err
    assert "Traceback" not in err
    assert word in err and "temporary files removed" in err, err
    run.assert_no_ffmpeg_left()
    assert sorted(p.name for p in d.iterdir()) == ["slow.mp4"], "output or partial file left"
    assert _work_dirs(temp) == [], "temporary work folder left"
    assert M.file_sha256(src) == digest


def _peaky_long(p: Path) -> Path:
    # a quiet tone with loud clicks: the mux step needs the 192 kHz limiter and several
    # passes, so the hidden `.partial-` output exists for a second or more
    M.ffmpeg(
        "-filter_complex",
        "sine=f=220:r=48000:d=20,volume=0.03[s];anoisesrc=a=0.002:r=48000:d=20[n];"
        "aevalsrc=exprs='0.4*sin(2*PI*900*t)*exp(-mod(t\\,1.3)*300)':s=48000:d=20[c];"
        "[s][n][c]amix=inputs=3:normalize=0,aformat=channel_layouts=stereo[o]",
        "-map",
        "[o]",
        "-c:a",
        "pcm_s16le",
        str(p),
    )
    return p


@pytest.mark.slow
@pytest.mark.parametrize("group", [False, True], ids=["to-mediaenhancer", "to-the-process-group"])
def test_ctrl_c_while_the_output_is_being_written_removes_the_partial_file(work, media, group: bool) -> None:
    d, temp = work
    src = media("peaky.wav", _peaky_long, d)
    run = Run(["enhance", src.name, "--format", "flac"], d, temp, own_group=group)
    run.wait_for(lambda: bool(_partials(d)), timeout=60)
    rc, err = run.interrupt(signal.SIGINT)
    assert rc == ExitCode.INTERRUPTED, err
    run.assert_no_ffmpeg_left()
    assert _partials(d) == []
    assert sorted(p.name for p in d.iterdir()) == ["peaky.wav"]
    assert _work_dirs(temp) == []


def test_an_existing_output_survives_an_interrupted_forced_rerun(work, media) -> None:
    d, temp = work
    src = media("slow.mp4", _slow_clip, d)
    previous = d / "slow.enhanced.mp4"
    previous.write_bytes(b"the result of an earlier run")
    os.utime(src, (time.time() + 10, time.time() + 10))  # input newer: it would be redone even without --force
    run = Run(["enhance", src.name, "--force", *SLOW], d, temp)
    run.wait_for(lambda: bool(_work_dirs(temp)) and bool(run.ffmpeg))
    time.sleep(0.3)
    rc, err = run.interrupt(signal.SIGINT)
    assert rc == ExitCode.INTERRUPTED, err
    run.assert_no_ffmpeg_left()
    assert previous.read_bytes() == b"the result of an earlier run"
    assert sorted(p.name for p in d.iterdir()) == ["slow.enhanced.mp4", "slow.mp4"]
    assert _work_dirs(temp) == []


def test_sigterm_in_a_parallel_batch_stops_every_ffmpeg(work, media) -> None:
    d, temp = work
    for name in ("a.mp4", "b.mp4"):
        media(name, _slow_clip, d)
    run = Run(["enhance", "a.mp4", "b.mp4", "--jobs", "2", *SLOW], d, temp)
    run.wait_for(lambda: len(_work_dirs(temp)) == 2 and len(run.ffmpeg) >= 2)
    time.sleep(0.3)
    rc, err = run.interrupt(signal.SIGTERM)
    assert rc == ExitCode.TERMINATED, err
    run.assert_no_ffmpeg_left()
    assert sorted(p.name for p in d.iterdir()) == ["a.mp4", "b.mp4"]
    assert _work_dirs(temp) == []
