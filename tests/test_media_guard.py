"""Reading media never makes ffmpeg, ffprobe or PyAV fetch anything else (issue 12, item 1).

A playlist (HLS behind an ID3 tag, an ffconcat list) names other files and URLs; ffmpeg's probe
would follow them. Every way the project reads media is tried with such files, bypassing the
sniffer on purpose (the sniffer is a first line; these are the second): probing (ffprobe and
PyAV), identifying an upload from a path and from an HTTP URL (S3's presigned GET, the byte
window), thumbnails, ffmpeg runs with the system ffmpeg (5.1) and the bundled one (9.x), and a
local ``enhance``. A listener on loopback must receive nothing, and no output may show the
file on the machine the playlist points at. Media of every family the sniffer accepts must
still read, under the same rules, with both ffmpeg builds.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import subprocess
from pathlib import Path

import pytest

from mediaenhancer_core.engine.enhance import EnhanceJob, enhance_file
from mediaenhancer_core.engine.ffmpeg import guard_inputs, locate_ffmpeg, media_input, run
from mediaenhancer_core.engine.planner import EnhanceOptions
from mediaenhancer_core.engine.presets import get_preset
from mediaenhancer_core.engine.probe import probe
from mediaenhancer_core.engine.sniff import sniff_file
from mediaenhancer_core.errors import InputError, RenderError
from mediaenhancer_core.library.bytewindow import ByteWindow
from mediaenhancer_core.library.identify import MediaFacts, identify, identify_window, thumbnail_jpeg
from tests import media as M
from tests.ssrf_support import Listener, concat_list, playlist, served, server_secret


@pytest.fixture
def listener():
    lst = Listener()
    yield lst
    lst.close()


@pytest.fixture(scope="module")
def secret(tmp_path_factory) -> Path:
    return server_secret(tmp_path_factory.mktemp("server-private"))


@pytest.fixture
def pyav_tools(tools):
    return dataclasses.replace(tools, ffprobe=None)


def _bundled() -> Path | None:
    import imageio_ffmpeg

    found = sorted(glob.glob(str(Path(imageio_ffmpeg.__file__).parent / "binaries" / "ffmpeg-*")))
    return Path(found[0]) if found else None


FFMPEGS = {"system": lambda: Path(M.FFMPEG), "bundled": _bundled}


def _crafted(tmp_path: Path, secret: Path, listener: Listener) -> dict[str, Path]:
    """The playlists, under names ffmpeg 9 would accept a playlist by (.m3u8) and the upload's (.mp3)."""
    files = {
        "hls-http.mp3": playlist(listener.url("/a.ts")),
        "hls-file.mp3": playlist(f"file://{secret}"),
        "hls-http.m3u8": playlist(listener.url("/b.ts"), id3=False),
        "hls-file.m3u8": playlist(f"file://{secret}", id3=False),
        "list.ffconcat": concat_list(str(secret)),
    }
    out = {}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        out[name] = tmp_path / name
    return out


def test_probing_a_playlist_reads_nothing_else(tmp_path, tools, pyav_tools, secret, listener) -> None:
    for path in _crafted(tmp_path, secret, listener).values():
        for t in (tools, pyav_tools):
            with pytest.raises(InputError):
                probe(path, t)
            for family in ("mp3", None):
                with pytest.raises(InputError):
                    identify(str(path), t, family=family)
    assert listener.requests == []


def test_identifying_a_playlist_over_http_fetches_nothing_else(tools, pyav_tools, secret, listener) -> None:
    """The S3 path: ffprobe (and PyAV) read the object through a URL we built; the playlist's
    segments are on other URLs (and a file on the machine)."""
    for body in (
        playlist(listener.url("/s3.ts")),
        playlist(listener.url("/s3.ts"), id3=False),
        playlist(f"file://{secret}", listener.url("/s3b.ts")),
    ):
        with served(body, "media.m3u8") as url:
            for t in (tools, pyav_tools):
                with pytest.raises(InputError):
                    identify(url, t, family="mp3")
        # the byte window of an upload, served on loopback to ffprobe
        assert identify_window(ByteWindow(len(body), body), tools, family="mp3") is None
    assert listener.requests == []


def test_a_thumbnail_of_a_playlist_shows_no_file_of_the_machine(tmp_path, tools, secret, listener) -> None:
    facts = MediaFacts(file_type="video", mime_type="video/mp4", format_name="mp4", duration=2.0, width=64, height=48)
    for path in _crafted(tmp_path, secret, listener).values():
        with pytest.raises(RenderError):
            thumbnail_jpeg(str(path), tools, facts, width=64)
    with served(playlist(f"file://{secret}", listener.url("/t.ts")), "m.m3u8") as url, pytest.raises(RenderError):
        thumbnail_jpeg(url, tools, facts, width=64)
    assert listener.requests == []


@pytest.mark.parametrize("which", list(FFMPEGS))
def test_ffmpeg_runs_read_no_playlist(tmp_path, which, secret, listener) -> None:
    binary = FFMPEGS[which]()
    if binary is None:
        pytest.skip("no bundled ffmpeg (imageio-ffmpeg) installed")
    for path in _crafted(tmp_path, secret, listener).values():
        out = tmp_path / f"{path.name}.wav"
        with pytest.raises(RenderError):
            run([str(binary), "-y", "-i", str(path), "-map", "0:a", str(out)], what="decode")
        assert not out.exists() or out.stat().st_size < 1000  # no second of the secret's tone
    assert listener.requests == []


def test_local_enhance_of_a_playlist_fails_and_writes_nothing(tmp_path, tools, secret, listener) -> None:
    job = EnhanceJob(options=EnhanceOptions(preset=get_preset("podcast", None)), out_dir=tmp_path / "out")
    for path in _crafted(tmp_path, secret, listener).values():
        result = enhance_file(path, job, tools)
        assert result.status == "failed", result
        assert isinstance(result.exit_error, InputError)
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
    assert listener.requests == []


def test_a_forced_format_that_opens_other_files_is_refused() -> None:
    for fmt in ("hls", "concat", "dash", "image2", "sdp"):
        with pytest.raises(ValueError):
            guard_inputs(["ffmpeg", "-f", fmt, "-i", "list.txt", "-f", "null", "-"])
    # generated sources and raw pipes stay usable; paths become file: paths
    assert guard_inputs(["ffmpeg", "-f", "lavfi", "-i", "sine=d=1"])[1:] == [
        "-f",
        "lavfi",
        "-format_whitelist",
        "lavfi",
        "-i",
        "sine=d=1",
    ]
    opts, source = media_input("http:/weird/path.mp4")  # a path that looks like a URL is a path
    assert source == "file:http:/weird/path.mp4" and opts[:2] == ["-protocol_whitelist", "file"]
    opts, source = media_input("https://bucket.example/key?X-Amz-Signature=1")
    assert opts[:2] == ["-protocol_whitelist", "https,tls,tcp"] and "-max_redirects" in opts


# --------------------------------------------------------------------------- every accepted family still reads


def _gen(binary: Path, dest: Path, *args: str) -> Path:
    subprocess.run([str(binary), "-hide_banner", "-v", "error", "-y", *args, str(dest)], check=True)
    return dest


AV = ("-f", "lavfi", "-i", "testsrc2=s=96x64:r=25:d=1", "-f", "lavfi", "-i", "sine=f=440:d=1")
AUDIO = ("-f", "lavfi", "-i", "sine=f=440:d=1")
STILL = ("-f", "lavfi", "-i", "testsrc2=s=64x48:d=1", "-frames:v", "1")
FAMILIES: dict[str, tuple[str, tuple[str, ...], str]] = {
    # name: (family the sniffer says, ffmpeg arguments, which ffmpeg can write it)
    "clip.avi": ("avi", (*AV, "-c:v", "mpeg4", "-c:a", "mp3"), "system"),
    "tone.aiff": ("aiff", (*AUDIO, "-c:a", "pcm_s16be"), "system"),
    "tone-rf64.wav": ("wav", (*AUDIO, "-rf64", "always"), "system"),
    "clip.flv": ("flv", (*AV, "-c:v", "flv", "-c:a", "mp3", "-ar", "44100"), "system"),
    "clip.wmv": ("asf", (*AV, "-c:v", "wmv2", "-c:a", "wmav2"), "system"),
    "clip.mpg": ("mpegps", (*AV, "-c:v", "mpeg2video", "-c:a", "mp2", "-f", "vob"), "system"),
    "tone.caf": ("caf", (*AUDIO, "-c:a", "pcm_s16le"), "system"),
    "tone.amr": ("amr", (*AUDIO, "-ar", "8000", "-ac", "1", "-c:a", "libopencore_amrnb"), "bundled"),
    "id3.mp3": (
        "mp3",
        (*AUDIO, "-c:a", "libmp3lame", "-id3v2_version", "3", "-metadata", "title=" + "t" * 3000),
        "system",
    ),
    "clip.mp4": ("mp4", (*AV, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac"), "system"),
    "still.png": ("image", STILL, "system"),
    "still.jpg": ("image", STILL, "system"),
    "still.gif": ("image", STILL, "system"),
    "still.webp": ("image", (*STILL, "-c:v", "libwebp"), "system"),
    "still.avif": ("image", (*STILL, "-c:v", "libaom-av1", "-still-picture", "1"), "bundled"),
}


@pytest.mark.parametrize("name", list(FAMILIES))
def test_every_family_the_sniffer_accepts_still_reads(tmp_path, tools, pyav_tools, name: str) -> None:
    family, args, maker = FAMILIES[name]
    writer = FFMPEGS[maker]()
    if writer is None:
        pytest.skip("no bundled ffmpeg to write this format")
    path = _gen(writer, tmp_path / name, *args)
    assert sniff_file(path) == family
    for t in (tools, pyav_tools):
        facts = identify(str(path), t, family=family)
        assert facts.file_type == ("image" if family == "image" else "video" if "clip" in name else "audio")
        if family != "image":
            assert probe(path, t).duration > 0.5
    if family == "image":
        return
    for which in FFMPEGS:
        binary = FFMPEGS[which]()
        if binary is None:
            continue
        out = tmp_path / f"{which}.wav"
        run([str(binary), "-y", "-i", str(path), "-map", "0:a", str(out)], what="decode")
        assert out.stat().st_size > 10_000, which


def test_the_guard_needs_no_ffprobe_either(tmp_path, secret, listener) -> None:
    """Without ffprobe (the bundled ffmpeg only), probing goes through PyAV under the same rules."""
    bundled = _bundled()
    if bundled is None:
        pytest.skip("no bundled ffmpeg")
    tools = locate_ffmpeg(ffmpeg=bundled, path_env=os.defpath)
    tools = dataclasses.replace(tools, ffprobe=None)
    for name, body in (("x.m3u8", playlist(f"file://{secret}", id3=False)), ("y.m3u8", playlist(listener.url()))):
        path = tmp_path / name
        path.write_bytes(body)
        with pytest.raises(InputError):
            probe(path, tools)
    assert listener.requests == []


def test_only_ffmpeg_py_starts_processes_or_opens_media() -> None:
    """The rules above hold for ffmpeg runs added later only if they go through ffmpeg.py: run()
    (or guard_inputs() and popen_options() for a process of your own), probe_argv()/run_probe(),
    and open_av() for PyAV. A module that starts processes or opens media itself fails here."""
    import ast

    src = Path(__file__).resolve().parents[1] / "src"
    offenders = []
    for path in sorted(src.rglob("*.py")):
        if path.name == "ffmpeg.py" and path.parent.name == "engine":
            continue
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n.split(".")[0] in ("subprocess", "multiprocessing", "pty") for n in names):
                offenders.append(f"{path.relative_to(src)}:{node.lineno} imports {names}")
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and (
                    (node.value.id == "av" and node.attr == "open")
                    or (node.value.id == "os" and node.attr in ("system", "popen", "execv", "execvp", "spawnv", "fork"))
                    or node.attr in ("create_subprocess_exec", "create_subprocess_shell")
                )
            ):
                offenders.append(f"{path.relative_to(src)}:{node.lineno} calls {node.value.id}.{node.attr}")
    assert offenders == [], "start ffmpeg and open media through mediaenhancer_core.engine.ffmpeg:\n" + "\n".join(
        offenders
    )
