"""What a process killed outright leaves behind (issue 12, items 6 and 7), with real processes and
real signals: its ffmpeg dies with it (even one started from a worker thread), its work folder
is removed by the next start and never while its owner lives, and an unusable temporary folder
is one line and exit code 5, not a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mediaenhancer_core.engine.workdirs import OWNER, UNOWNED_AGE, make_workdir, reap, remove_workdir, workdir
from mediaenhancer_core.errors import TempDirError
from mediaenhancer_core.exit_codes import ExitCode
from tests import media as M

SCRIPT = Path(sys.executable).with_name("mediaenhancer")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def _child(code: str, *args: str) -> subprocess.Popen[str]:
    """A Python process running ``code``; it prints lines the test reads (pids, folders)."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)  # the process only, not a group: as `kill -9 PID` or the OOM killer
    proc.communicate(timeout=10)


pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="flock, /proc and PR_SET_PDEATHSIG")


def test_ffmpeg_started_from_a_thread_dies_with_its_killed_parent(tools) -> None:
    proc = _child(
        """
        import sys, threading, time
        from mediaenhancer_core.engine.ffmpeg import run
        def work():
            run([sys.argv[1], "-re", "-f", "lavfi", "-i", "sine=d=120", "-f", "null", "-"], what="render")
        threading.Thread(target=work, daemon=True).start()
        time.sleep(120)
    """,
        str(tools.ffmpeg),
    )
    try:
        ffmpeg = _wait_for_child(proc.pid, "ffmpeg")
        _kill(proc)
        left = not _gone_within(ffmpeg, 10)
        if left:
            os.kill(ffmpeg, signal.SIGKILL)
        assert not left, "ffmpeg kept running after its parent was killed"
    finally:
        if proc.poll() is None:
            _kill(proc)


def _children(pid: int) -> dict[int, str]:
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[1]) != pid:
                        continue
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    out[int(entry)] = fh.read().replace(b"\0", b" ").decode(errors="replace")
            except (OSError, IndexError, ValueError):
                continue
    return out


def _wait_for_child(pid: int, word: str, timeout: float = 30.0, also: str = "-progress") -> int:
    """The pid of a child of ``pid`` whose command line has ``word`` and ``also`` (by default a
    :func:`run`, not ``ffmpeg -version``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [p for p, cmd in _children(pid).items() if word in cmd and also in cmd]
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no {word} child of {pid} appeared")


def test_a_folder_is_reaped_only_once_its_owner_is_dead(tmp_path) -> None:
    temp = tmp_path / "temp"
    proc = _child(
        """
        import sys, time
        from pathlib import Path
        from mediaenhancer_core.engine.workdirs import make_workdir
        print(make_workdir("mediaenhancer-job-", Path(sys.argv[1])), flush=True)
        time.sleep(120)
    """,
        str(temp),
    )
    try:
        assert proc.stdout is not None
        theirs = Path(proc.stdout.readline().strip())
        assert theirs.is_dir() and (theirs / OWNER).exists()
        (theirs / "render.nut").write_bytes(b"x" * 1000)
        ours = make_workdir("mediaenhancer-", temp)
        assert reap(temp) == [] and theirs.is_dir() and ours.is_dir()  # both owners are alive
        _kill(proc)
        assert reap(temp) == [theirs] and not theirs.exists()
        assert ours.is_dir()
        remove_workdir(ours)
        assert not ours.exists()
    finally:
        if proc.poll() is None:
            _kill(proc)


def test_folders_without_an_owner_are_reaped_only_when_old(tmp_path) -> None:
    fresh, old, other = tmp_path / "mediaenhancer-abc", tmp_path / "mediaenhancer-old", tmp_path / "not-ours"
    for d in (fresh, old, other):
        d.mkdir()
    past = time.time() - UNOWNED_AGE - 60
    os.utime(old, (past, past))
    os.utime(other, (past, past))
    assert reap(tmp_path) == [old]
    assert fresh.is_dir() and other.is_dir()


@pytest.mark.parametrize("kind", ["a file", "below a file"])
def test_an_unusable_temp_dir_is_one_error_naming_the_setting(tmp_path, kind: str) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    temp = blocker if kind == "a file" else blocker / "sub"
    with pytest.raises(TempDirError) as err:
        make_workdir("mediaenhancer-", temp)
    assert "MEDIAENHANCER_TEMP_DIR" in err.value.message and str(temp) in err.value.message
    with workdir("mediaenhancer-", tmp_path / "made" / "on" / "demand") as made:
        assert made.is_dir()  # a missing folder is created


@pytest.fixture
def cli_env(tmp_path):
    if not SCRIPT.exists():
        pytest.skip(f"{SCRIPT} is not installed (pip install -e .)")
    return dict(
        os.environ,
        MEDIAENHANCER_CONFIG_DIR=str(tmp_path / "config"),
        MEDIAENHANCER_DATA_DIR=str(tmp_path / "data"),
        MEDIAENHANCER_CACHE_DIR=str(tmp_path / "cache"),
    )


@pytest.mark.parametrize("command", ["enhance", "export"])
def test_the_cli_with_an_unusable_temp_dir_exits_5_with_one_line(tmp_path, cli_env, command: str) -> None:
    src = M.make_audio(tmp_path / "talk.wav", 1.0, ("-c:a", "pcm_s16le"))
    (tmp_path / "blocker").write_text("a file")
    args = ["enhance", "talk.wav"] if command == "enhance" else ["export", "p.toml"]
    (tmp_path / "p.toml").write_text(f'name = "p"\n[[segments]]\nmedia = "{src.name}"\n[output]\nformat = "wav"\n')
    env = {**cli_env, "MEDIAENHANCER_TEMP_DIR": str(tmp_path / "blocker")}
    r = subprocess.run([str(SCRIPT), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == ExitCode.TEMP_DIR == 5, r.stderr
    assert "Traceback" not in r.stderr
    errors = [line for line in r.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "MEDIAENHANCER_TEMP_DIR" in errors[0], r.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".wav", ".mp4", ".m4a")) == ["talk.wav"]


def test_a_killed_enhance_leaves_no_ffmpeg_and_the_next_run_removes_its_folder(tmp_path, cli_env) -> None:
    temp = tmp_path / "temp"
    # the render pass (1080p, archive quality) of 12 s takes far longer than the 5 s allowed below
    src = M.make_video(tmp_path / "slow.mp4", 12.0, size="320x240", fps=25, level=0.05, noise=0.004)
    env = {**cli_env, "MEDIAENHANCER_TEMP_DIR": str(temp)}
    proc = subprocess.Popen(
        [str(SCRIPT), "enhance", src.name, "--quality", "archive", "--resolution", "1080p"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        ffmpeg = _wait_for_child(proc.pid, "ffmpeg", timeout=90, also="render.nut")
        left_dirs = [p for p in temp.iterdir() if p.name.startswith("mediaenhancer-")]
        assert left_dirs
        _kill(proc)
    finally:
        if proc.poll() is None:
            _kill(proc)
    left = not _gone_within(ffmpeg, 5)
    if left:
        os.kill(ffmpeg, signal.SIGKILL)
    assert not left, "ffmpeg kept running after mediaenhancer was killed"
    assert all(d.is_dir() for d in left_dirs)  # nobody could remove them yet
    again = subprocess.run(
        [str(SCRIPT), "enhance", "-q", "--dry-run", src.name],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    assert [p.name for p in temp.iterdir()] == []
