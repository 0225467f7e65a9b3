"""Finding ffmpeg: the system one first, else the bundled one; a missing, too-old or
incomplete ffmpeg is an FFMPEG error that names the fix (issue 2, Foundation)."""

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
from mediaenhancer_core.engine.ffmpeg import MIN_VERSION, REQUIRED_FILTERS, locate_ffmpeg
from mediaenhancer_core.engine.probe import probe
from mediaenhancer_core.errors import FFmpegNotFoundError, FFmpegTooOldError
from mediaenhancer_core.exit_codes import ExitCode
from tests import media as M

SCRIPT = Path(sys.executable).with_name("mediaenhancer")


def cli(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.stderr
    return result


def _fake_ffmpeg(folder: Path, version_line: str, filters: set[str] | frozenset[str]) -> Path:
    """A shell script that answers -version and -filters like ffmpeg does."""
    folder.mkdir(parents=True, exist_ok=True)
    listing = "\n".join(f" T.C {name:<18} A->A       The {name} filter." for name in sorted(filters))
    script = folder / "ffmpeg"
    script.write_text(
        "#!/bin/sh\n"
        'case "$*" in\n'
        "  *-filters*) cat <<'EOF'\nFilters:\n  T.. = Timeline support\n  .S. = Slice threading\n"
        f"{listing}\nEOF\n;;\n"
        f"  *) echo '{version_line}'; echo 'built with gcc 12'; ;;\n"
        "esac\n"
    )
    script.chmod(0o755)
    return script


@pytest.fixture
def no_ffmpeg_path(tmp_path: Path) -> str:
    """A PATH with no ffmpeg and no ffprobe on it."""
    d = tmp_path / "empty-bin"
    d.mkdir()
    return str(d)


@pytest.fixture
def wav(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, media) -> Path:
    monkeypatch.chdir(tmp_path)
    return media("speech.wav", lambda p: M.make_audio(p, 3.0, ("-c:a", "pcm_s16le"), level=0.03, noise=0.003), tmp_path)


# --------------------------------------------------------------------------- which ffmpeg


def test_system_ffmpeg_on_path_is_preferred(tools) -> None:
    system = shutil.which("ffmpeg")
    assert system, "the tests need a system ffmpeg"
    assert tools.source == "path"
    assert tools.ffmpeg == Path(system)
    assert tools.ffprobe is not None and tools.ffprobe.name == "ffprobe"
    assert tools.version >= MIN_VERSION


def test_without_ffmpeg_on_path_the_bundled_one_is_used_and_probing_uses_pyav(
    no_ffmpeg_path: str, tmp_path: Path
) -> None:
    import imageio_ffmpeg

    found = locate_ffmpeg(path_env=no_ffmpeg_path, cache_dir=tmp_path / "cache")
    assert found.source == "bundled"
    assert Path(imageio_ffmpeg.__file__).parent in found.ffmpeg.parents
    assert found.ffprobe is None
    assert found.version >= MIN_VERSION
    assert "PyAV" in found.describe()
    # and probing still works, through PyAV
    clip = M.make_video(tmp_path / "c.mp4", 1.0, size="64x48")
    info = probe(clip, found)
    assert [s.kind for s in info.streams] == ["video", "audio"]
    assert abs(info.duration - 1.0) < 0.1


def test_an_explicit_setting_wins_over_path(tmp_path: Path) -> None:
    system = Path(shutil.which("ffmpeg") or "ffmpeg")
    found = locate_ffmpeg(system, path_env=str(tmp_path), cache_dir=tmp_path / "cache")
    assert found.source == "setting" and found.ffmpeg == system
    assert found.ffprobe == system.with_name("ffprobe")  # the ffprobe beside it


def test_the_bundled_ffmpeg_enhances_end_to_end(no_ffmpeg_path: str, tmp_path: Path, media) -> None:
    """A machine with only `pip install mediaenhancer`: no ffmpeg or ffprobe on PATH at all."""
    if not SCRIPT.exists():
        pytest.skip(f"{SCRIPT} is not installed")
    work = tmp_path / "work"
    work.mkdir()
    media("speech.wav", lambda p: M.make_audio(p, 3.0, ("-c:a", "pcm_s16le"), level=0.03, noise=0.003), work)
    media("clip.mp4", lambda p: M.make_video(p, 2.0, size="160x120", dim=True, level=0.03), work)
    env = {k: v for k, v in os.environ.items() if k not in ("PATH",)}
    env["PATH"] = no_ffmpeg_path

    doctor = subprocess.run([str(SCRIPT), "doctor"], cwd=work, env=env, capture_output=True, text=True, timeout=60)
    assert doctor.returncode == 0, doctor.stderr
    assert "bundled" in doctor.stdout and "PyAV" in doctor.stdout

    proc = subprocess.run(
        [str(SCRIPT), "enhance", "--json", "speech.wav", "clip.mp4"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    results = [json.loads(ln) for ln in proc.stdout.splitlines()]
    assert [r["status"] for r in results] == ["enhanced", "enhanced"]
    for name in ("speech.enhanced.wav", "clip.enhanced.mp4"):
        assert abs(M.loudness(work / name) - (-16.0)) <= 0.5, name
    streams = {s["codec_type"]: s for s in M.probe(work / "clip.enhanced.mp4")["streams"]}
    assert sorted(streams) == ["audio", "video"]
    assert (streams["video"]["width"], streams["video"]["height"]) == (160, 120)


# --------------------------------------------------------------------------- unusable ffmpeg


def test_setting_pointing_nowhere_names_the_setting(wav: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "opt" / "ffmpeg"
    monkeypatch.setenv("MEDIAENHANCER_FFMPEG", str(missing))
    for command in ("analyze", "enhance", "doctor"):
        args = [command] if command == "doctor" else [command, wav.name]
        result = cli(*args)
        assert result.exit_code == ExitCode.FFMPEG, (command, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "MEDIAENHANCER_FFMPEG" in lines[0] and str(missing) in lines[0], lines
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".wav") == ["speech.wav"]


def test_setting_pointing_to_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FFmpegNotFoundError, match="MEDIAENHANCER_FFMPEG"):
        locate_ffmpeg(tmp_path, path_env=str(tmp_path))


def test_ffprobe_setting_pointing_nowhere_names_the_setting(tmp_path: Path) -> None:
    system = Path(shutil.which("ffmpeg") or "ffmpeg")
    with pytest.raises(FFmpegNotFoundError, match="MEDIAENHANCER_FFPROBE"):
        locate_ffmpeg(system, tmp_path / "no-ffprobe", path_env=str(tmp_path), cache_dir=tmp_path / "cache")


def test_too_old_ffmpeg_names_the_fix(wav: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _fake_ffmpeg(
        tmp_path / "old", "ffmpeg version 4.2.1 Copyright (c) 2000-2019 the FFmpeg developers", REQUIRED_FILTERS
    )
    monkeypatch.setenv("MEDIAENHANCER_FFMPEG", str(fake))
    result = cli("enhance", wav.name)
    assert result.exit_code == ExitCode.FFMPEG
    line = result.stderr.strip()
    assert "4.2.1" in line and "too old" in line and str(fake) in line
    assert "5.1 or newer" in line and "MEDIAENHANCER_FFMPEG" in line  # how to fix it
    assert not (tmp_path / "speech.enhanced.wav").exists()


def test_too_old_ffmpeg_on_path_is_refused_too(tmp_path: Path) -> None:
    fake = _fake_ffmpeg(
        tmp_path / "bin", "ffmpeg version 4.4.2-0ubuntu0.22.04.1 Copyright (c) 2000-2021", REQUIRED_FILTERS
    )
    with pytest.raises(FFmpegTooOldError, match="too old"):
        locate_ffmpeg(path_env=str(fake.parent), cache_dir=tmp_path / "cache")


def test_ffmpeg_lacking_filters_lists_them(wav: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lacking = {"ebur128", "afftdn", "freezedetect"}
    fake = _fake_ffmpeg(tmp_path / "slim", "ffmpeg version 6.0 Copyright (c) 2000-2023", REQUIRED_FILTERS - lacking)
    monkeypatch.setenv("MEDIAENHANCER_FFMPEG", str(fake))
    result = cli("analyze", wav.name)
    assert result.exit_code == ExitCode.FFMPEG
    line = result.stderr.strip()
    assert "afftdn, ebur128, freezedetect" in line, line
    assert "lacks the filters" in line and "install ffmpeg" in line


def test_git_builds_without_a_release_number_are_accepted_when_complete(tmp_path: Path) -> None:
    fake = _fake_ffmpeg(
        tmp_path / "git",
        "ffmpeg version N-112233-gabcdef0 Copyright (c) 2000-2024",
        REQUIRED_FILTERS | {"vidstabdetect", "vidstabtransform"},
    )
    found = locate_ffmpeg(fake, path_env=str(tmp_path), cache_dir=tmp_path / "cache")
    assert found.source == "setting" and found.has_vidstab


def test_the_capability_cache_notices_a_replaced_binary(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    fake = _fake_ffmpeg(tmp_path / "bin", "ffmpeg version 4.2.1", REQUIRED_FILTERS)
    with pytest.raises(FFmpegTooOldError):
        locate_ffmpeg(fake, path_env=str(tmp_path), cache_dir=cache)
    assert list(cache.glob("ffmpeg-*.json")), "the capability check was not cached"
    st = fake.stat()
    _fake_ffmpeg(tmp_path / "bin", "ffmpeg version 6.1.1", REQUIRED_FILTERS)  # upgraded in place
    os.utime(fake, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert locate_ffmpeg(fake, path_env=str(tmp_path), cache_dir=cache).version == (6, 1, 1)


def test_a_file_that_is_not_ffmpeg_is_refused(tmp_path: Path) -> None:
    not_ffmpeg = tmp_path / "ffmpeg"
    not_ffmpeg.write_text("#!/bin/sh\necho hello\n")
    not_ffmpeg.chmod(0o755)
    with pytest.raises((FFmpegTooOldError, FFmpegNotFoundError)) as info:
        locate_ffmpeg(not_ffmpeg, path_env=str(tmp_path), cache_dir=tmp_path / "cache")
    assert "install ffmpeg" in str(info.value)
