"""Progress: events from ffmpeg's own progress output; a bar on a terminal, nothing when piped."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path

from mediaenhancer_core.engine.enhance import EnhanceJob, ProgressEvent, enhance_file
from mediaenhancer_core.engine.planner import EnhanceOptions
from mediaenhancer_core.engine.presets import BUILTIN_PRESETS
from tests import media as M

CLI = str(Path(sys.executable).with_name("mediaenhancer"))


def test_progress_events_cover_every_phase_in_order(tmp_path: Path, tools) -> None:
    src = M.make_video(tmp_path / "in.mp4", 3.0, dim=True, level=0.03, noise=0.004)
    events: list[ProgressEvent] = []
    res = enhance_file(
        src, EnhanceJob(options=EnhanceOptions(preset=BUILTIN_PRESETS["podcast"])), tools, on_progress=events.append
    )
    assert res.status == "enhanced", res.error
    phases = [e.phase for e in events]
    assert phases[0] == "analysis" and phases[-1] == "done"
    order = [p for i, p in enumerate(phases) if i == 0 or p != phases[i - 1]]
    assert order == ["analysis", "render", "mux", "done"]
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions), "overall progress went backwards"
    assert fractions[-1] == 1.0
    assert any(0.1 < f < 0.9 for f in fractions), "no intermediate progress reported"


def _run_in_terminal(args: list[str], cwd: Path) -> tuple[int, str]:
    pid, fd = pty.fork()
    if pid == 0:  # child: a terminal of 100 columns
        os.chdir(cwd)
        os.environ["COLUMNS"] = "100"
        os.environ["TERM"] = "xterm"
        os.execv(args[0], args)
    chunks = []
    while True:
        try:
            ready, _, _ = select.select([fd], [], [], 60)
            if not ready:
                break
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode("utf-8", "replace")


def test_a_terminal_gets_a_progress_bar_and_a_pipe_does_not(tmp_path: Path) -> None:
    src = M.make_video(tmp_path / "in.mp4", 3.0, level=0.03, noise=0.004)
    code, screen = _run_in_terminal([CLI, "enhance", str(src), "-o", str(tmp_path / "tty.mp4")], tmp_path)
    assert code == 0, screen
    assert "in.mp4" in screen and "%" in screen and "━" in screen, screen
    assert "0:00:" in screen  # elapsed / remaining time columns

    piped = subprocess.run([CLI, "enhance", str(src), "-o", str(tmp_path / "pipe.mp4")], capture_output=True, text=True)
    assert piped.returncode == 0, piped.stderr
    both = piped.stdout + piped.stderr
    assert "%" not in both and "0:00:" not in both and "\r" not in both  # no bar, no times
    assert "enhanced" in piped.stdout  # results only

    quiet = subprocess.run(
        [CLI, "enhance", str(src), "-o", str(tmp_path / "q.mp4"), "--quiet"], capture_output=True, text=True
    )
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""
