"""Bad input and safety (issue 2): every bad input gets one error line naming the file and
the fix, its own exit code, no traceback, no partial output, and the input is left as it was.

Each case runs through both `analyze` and `enhance`, in-process with CliRunner; a few run
as real `mediaenhancer` subprocesses too (the unreadable file and the full disk can only
be made real that way).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mediaenhancer_cli.app import app
from mediaenhancer_core.exit_codes import ExitCode
from tests import media as M

COMMANDS = ("analyze", "enhance")
SCRIPT = Path(sys.executable).with_name("mediaenhancer")


# --------------------------------------------------------------------------- media


def _clip(p: Path) -> Path:
    return M.make_video(p, 4.0, size="160x120", fps=25, level=0.05)


def _faststart_clip(p: Path) -> Path:
    return M.make_video(
        p, 4.0, size="160x120", fps=25, level=0.05, audio_args=("-c:a", "aac", "-b:a", "96k", "-movflags", "+faststart")
    )


def _wav(p: Path) -> Path:
    return M.make_audio(p, 4.0, ("-c:a", "pcm_s16le"), level=0.05)


def _cut_in_half(src: Path, dest: Path) -> Path:
    data = src.read_bytes()
    dest.write_bytes(data[: len(data) // 2])
    src.unlink()
    return dest


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[Path, Callable[..., Path]], Path]  # (folder, media) -> the path to pass
    code: ExitCode
    fix: str  # words of the fix that the message must contain


def _zero_byte(d: Path, mm: Callable[..., Path]) -> Path:
    p = d / "empty.mp4"
    p.write_bytes(b"")
    return p


def _text_as_mp4(d: Path, mm: Callable[..., Path]) -> Path:
    p = d / "notes.mp4"
    p.write_text("These are my notes for the interview.\nNot a video at all.\n" * 20)
    return p


def _truncated_mp4(d: Path, mm: Callable[..., Path]) -> Path:
    # ffmpeg writes the moov index at the end by default: half the file has no index at all
    return _cut_in_half(mm("whole.mp4", _clip, d), d / "cut.mp4")


def _truncated_faststart_mp4(d: Path, mm: Callable[..., Path]) -> Path:
    # the index is at the front and intact, but half of the media data is missing
    return _cut_in_half(mm("whole-faststart.mp4", _faststart_clip, d), d / "cut-faststart.mp4")


def _png_as_mp4(d: Path, mm: Callable[..., Path]) -> Path:
    p = d / "photo.mp4"
    M.ffmpeg("-f", "lavfi", "-i", "testsrc2=s=64x48:d=1", "-frames:v", "1", "-f", "image2", "-c:v", "png", str(p))
    return p


def _png(d: Path, mm: Callable[..., Path]) -> Path:
    p = d / "photo.png"
    M.ffmpeg("-f", "lavfi", "-i", "testsrc2=s=64x48:d=1", "-frames:v", "1", str(p))
    return p


def _subtitles_only_mkv(d: Path, mm: Callable[..., Path]) -> Path:
    srt = d / "subs-source.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:02,000\nHello\n\n2\n00:00:02,500 --> 00:00:04,000\nBye\n")
    p = d / "subs.mkv"
    M.ffmpeg("-i", str(srt), "-c:s", "srt", str(p))
    srt.unlink()
    return p


def _srt(d: Path, mm: Callable[..., Path]) -> Path:
    p = d / "captions.srt"
    p.write_text("1\n00:00:00,000 --> 00:00:02,000\nHello\n")
    return p


def _missing(d: Path, mm: Callable[..., Path]) -> Path:
    return d / "not-here.mp4"


def _folder_without_media(d: Path, mm: Callable[..., Path]) -> Path:
    folder = d / "shoot"
    (folder / "day1").mkdir(parents=True)
    (folder / "readme.txt").write_text("footage is in day1\n")
    mm("take.wav", _wav, folder / "day1")  # only in a sub-folder: needs --recursive
    return folder


def _named_pipe(d: Path, mm: Callable[..., Path]) -> Path:
    p = d / "stream.wav"
    os.mkfifo(p)  # opening it would block: it must be refused before anything reads it
    return p


CASES = [
    Case("zero-byte", _zero_byte, ExitCode.INPUT_EMPTY, "re-export or re-copy"),
    Case("text-renamed-mp4", _text_as_mp4, ExitCode.INPUT_NOT_MEDIA, "pass an audio or video file"),
    Case("truncated-mp4", _truncated_mp4, ExitCode.INPUT_CORRUPT, "re-export or re-download"),
    Case("truncated-faststart-mp4", _truncated_faststart_mp4, ExitCode.INPUT_CORRUPT, "re-export or re-download"),
    Case("png-renamed-mp4", _png_as_mp4, ExitCode.INPUT_NO_STREAMS, "pass an audio or video file"),
    Case("png", _png, ExitCode.INPUT_NO_STREAMS, "pass an audio or video file"),
    Case("subtitles-only-mkv", _subtitles_only_mkv, ExitCode.INPUT_NO_STREAMS, "pass a file with sound or picture"),
    Case("srt", _srt, ExitCode.INPUT_NO_STREAMS, "pass a file with sound or picture"),
    Case("missing", _missing, ExitCode.INPUT_NOT_FOUND, "check the path"),
    Case("folder-without-media", _folder_without_media, ExitCode.INPUT_NOT_FOUND, "--recursive"),
    Case("named-pipe", _named_pipe, ExitCode.INPUT_INVALID, "pass a media file"),
]


# --------------------------------------------------------------------------- helpers


def snapshot(*roots: Path) -> dict[str, str]:
    """Every file under ``roots`` (hidden ones too) with its sha256."""
    out: dict[str, str] = {}
    for root in roots:
        for d, _, files in os.walk(root):
            for f in files:
                p = Path(d) / f
                out[str(p)] = M.file_sha256(p) if p.is_file() else stat.filemode(p.lstat().st_mode)
    return out


def assert_one_error_line(stderr: str, name: str, fix: str) -> None:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1, f"expected one error line, got:\n{stderr}"
    line = lines[0]
    assert line.startswith("mediaenhancer: error: "), line
    assert name in line, f"the message does not name {name}: {line}"
    assert fix in line, f"the message does not say what to do ({fix!r}): {line}"


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder for the inputs (the current directory) and an empty temp folder for the tool."""
    d = tmp_path / "work"
    d.mkdir()
    temp = tmp_path / "tool-temp"
    temp.mkdir()
    monkeypatch.setenv("MEDIAENHANCER_TEMP_DIR", str(temp))
    monkeypatch.chdir(d)
    yield d
    assert list(temp.iterdir()) == [], f"temporary files left: {list(temp.iterdir())}"


# --------------------------------------------------------------------------- in-process


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_bad_input_gets_one_line_a_distinct_code_and_no_output(work: Path, media, case: Case, command: str) -> None:
    target = case.make(work, media)
    arg = os.path.relpath(target, work)
    before = snapshot(work)

    result = CliRunner().invoke(app, [command, arg])

    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == case.code, (result.exit_code, result.stderr)
    assert_one_error_line(result.stderr, target.name, case.fix)
    assert snapshot(work) == before, "files were created, changed or removed"


@pytest.mark.parametrize("command", COMMANDS)
def test_bad_input_in_json_mode_is_a_failed_object_not_an_error_line(work: Path, command: str) -> None:
    (work / "empty.wav").write_bytes(b"")
    result = CliRunner().invoke(app, [command, "--json", "empty.wav"])
    assert result.exit_code == ExitCode.INPUT_EMPTY
    import json

    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(objects) == 1
    assert objects[0]["status"] == "failed"
    assert objects[0]["error"]["code"] == "input_empty"
    assert "empty.wav" in objects[0]["error"]["message"]
    assert "Traceback" not in result.stderr


def test_folder_with_media_only_in_subfolders_works_with_recursive(work: Path, media) -> None:
    folder = _folder_without_media(work, media)
    result = CliRunner().invoke(app, ["analyze", "--recursive", "--json", folder.name])
    assert result.exit_code == 0, result.stderr
    assert '"take.wav"' in result.stdout or "take.wav" in result.stdout


@pytest.mark.parametrize(
    "output",
    ["take.wav", "./take.wav", "../work/take.wav", "link.wav", "hard.wav"],
    ids=["same-name", "dot-slash", "via-parent", "symlink", "hard-link"],
)
def test_output_path_equal_to_the_input_is_refused(work: Path, media, output: str) -> None:
    src = media("take.wav", _wav, work)
    (work / "link.wav").symlink_to(src.name)
    os.link(src, work / "hard.wav")
    before = snapshot(work)
    result = CliRunner().invoke(app, ["enhance", "take.wav", "-o", output])
    assert result.exit_code == ExitCode.OUTPUT_IS_INPUT, result.stderr
    assert_one_error_line(result.stderr, Path(output).name, "choose another name with -o")
    assert snapshot(work) == before


# --------------------------------------------------------------------------- real subprocesses


def run_script(
    args: list[str],
    *,
    cwd: Path,
    env: dict[str, str] | None = None,
    prefix: list[str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    if not SCRIPT.exists():
        pytest.skip(f"{SCRIPT} is not installed (pip install -e .)")
    return subprocess.run(
        [*(prefix or []), str(SCRIPT), *args],
        cwd=cwd,
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(
    "case", [c for c in CASES if c.name in ("zero-byte", "truncated-mp4", "missing", "srt")], ids=lambda c: c.name
)
def test_bad_input_as_a_real_process(work: Path, media, case: Case, command: str) -> None:
    target = case.make(work, media)
    before = snapshot(work)
    proc = run_script([command, target.name], cwd=work)
    assert proc.returncode == case.code, proc.stderr
    assert_one_error_line(proc.stderr, target.name, case.fix)
    assert snapshot(work) == before


def _userns_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    try:
        return subprocess.run(["unshare", "--user", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder outside pytest's private (0700) tree that an unmapped user can enter."""
    d = Path(tempfile.mkdtemp(prefix="mediaenhancer-test-"))
    d.chmod(0o755)
    try:
        yield d
    finally:
        for p in d.rglob("*"):
            with_mode = stat.S_IMODE(p.lstat().st_mode)
            if not p.is_symlink():
                p.chmod(with_mode | 0o700)
        shutil.rmtree(d)


@pytest.mark.parametrize("command", COMMANDS)
def test_unreadable_file(shared_dir: Path, media, command: str) -> None:
    # As root, chmod 000 does not stop reads; in a user namespace without a root mapping the
    # process runs as "nobody" and the permission bits hold.
    if not _userns_works():
        pytest.skip("unshare --user is not available here")
    src = media("take.wav", _wav, shared_dir)
    digest = M.file_sha256(src)
    src.chmod(0)
    home = shared_dir / "home"
    for sub in ("config", "data", "cache", "temp"):
        (home / sub).mkdir(parents=True)
    home.chmod(0o777)
    for sub in home.iterdir():
        sub.chmod(0o777)
    env = dict(os.environ)
    env.update(
        {
            "MEDIAENHANCER_CONFIG_DIR": str(home / "config"),
            "MEDIAENHANCER_DATA_DIR": str(home / "data"),
            "MEDIAENHANCER_CACHE_DIR": str(home / "cache"),
            "MEDIAENHANCER_TEMP_DIR": str(home / "temp"),
        }
    )
    # the folder itself is writable for nobody, so only the file's permission can stop it
    shared_dir.chmod(0o777)
    proc = run_script([command, src.name], cwd=shared_dir, env=env, prefix=["unshare", "--user"])
    assert proc.returncode == ExitCode.INPUT_UNREADABLE, proc.stderr
    assert_one_error_line(proc.stderr, "take.wav", "chmod +r")
    assert sorted(p.name for p in shared_dir.iterdir()) == ["home", "take.wav"]
    assert list((home / "temp").iterdir()) == []
    assert M.file_sha256(src) == digest  # root reads it regardless of the bits


def _mount_tmpfs(mnt: Path, options: str) -> None:
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mnt)], check=True)


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 300 KiB tmpfs filled to the last byte by one filler file."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "full-disk"
    _mount_tmpfs(mnt, "size=300k")
    try:
        fd = os.open(mnt / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        assert shutil.disk_usage(mnt).free == 0
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.parametrize("name", ["take.wav", "clip.mp4"])
def test_full_disk_gives_disk_full_and_leaves_nothing(work: Path, full_disk: Path, media, name: str) -> None:
    src = media(name, _wav if name.endswith(".wav") else _clip, work)
    before = snapshot(work)
    proc = run_script(["enhance", src.name, "--out-dir", str(full_disk)], cwd=work)
    assert proc.returncode == ExitCode.DISK_FULL, proc.stderr
    assert_one_error_line(proc.stderr, name, "free some space")
    assert [p.name for p in full_disk.iterdir()] == ["filler"], "partial output left on the full disk"
    assert snapshot(work) == before


def test_read_only_output_folder_is_refused(work: Path, tmp_path: Path, media) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "read-only"
    _mount_tmpfs(mnt, "size=1m,ro")
    try:
        src = media("take.wav", _wav, work)
        before = snapshot(work)
        result = CliRunner().invoke(app, ["enhance", src.name, "--out-dir", str(mnt)])
        assert result.exit_code == ExitCode.OUTPUT_NOT_WRITABLE, result.stderr
        assert_one_error_line(result.stderr, mnt.name, "choose another output folder")
        assert list(mnt.iterdir()) == []
        assert snapshot(work) == before
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
