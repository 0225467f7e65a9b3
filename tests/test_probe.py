"""Probing: the ffprobe and PyAV backends agree, and containers are told apart by their bytes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from mediaenhancer_core.engine.probe import probe
from mediaenhancer_core.engine.sniff import sniff_bytes, sniff_file
from mediaenhancer_core.errors import CorruptMediaError, EmptyInputError, NoStreamsError, NotMediaError
from tests import media as M

H264 = ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
VP9 = ("-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "200k", "-pix_fmt", "yuv420p")


def _av(
    dest: Path,
    video: tuple[str, ...],
    audio: tuple[str, ...],
    *,
    size: str = "160x120",
    fps: int = 25,
    channels: int = 1,
    rate: int = 48000,
) -> Path:
    return M.make_video(
        dest, 2.0, size=size, fps=fps, video_args=video, audio_args=audio, level=0.05, channels=channels, rate=rate
    )


def _transcoded(dest: Path, video: tuple[str, ...], audio: tuple[str, ...], **kw) -> Path:
    # ffmpeg 5.1's libopus refuses the odd-sized frames a complex filtergraph hands it,
    # so Opus files are transcoded from an intermediate instead of made directly
    tmp = dest.with_name(dest.stem + ".src.mkv")
    _av(tmp, H264, ("-c:a", "pcm_s16le"), **kw)
    M.ffmpeg("-i", str(tmp), *video, *audio, str(dest))
    tmp.unlink()
    return dest


def _audio(dest: Path, codec: tuple[str, ...], *, channels: int = 1, rate: int = 48000) -> Path:
    return M.make_audio(dest, 2.0, codec, level=0.05, channels=channels, rate=rate)


# name -> (builder, expected (kind, codec) list, container family by bytes)
MEDIA: dict[str, tuple[Callable[[Path], Path], list[tuple[str, str]], str]] = {
    "clip.mp4": (lambda p: _av(p, H264, ("-c:a", "aac", "-b:a", "64k")), [("video", "h264"), ("audio", "aac")], "mp4"),
    "clip.mov": (lambda p: _av(p, H264, ("-c:a", "aac")), [("video", "h264"), ("audio", "aac")], "mov"),
    "opus.mkv": (
        lambda p: _transcoded(p, ("-c:v", "copy"), ("-c:a", "libopus", "-b:a", "64k"), channels=2, fps=24),
        [("video", "h264"), ("audio", "opus")],
        "matroska",
    ),
    "clip.webm": (
        lambda p: _transcoded(p, VP9, ("-c:a", "libopus", "-b:a", "48k"), size="176x144", fps=30),
        [("video", "vp9"), ("audio", "opus")],
        "matroska",
    ),
    "speech.wav": (lambda p: _audio(p, ("-c:a", "pcm_s16le"), channels=2, rate=44100), [("audio", "pcm_s16le")], "wav"),
    "speech.flac": (lambda p: _audio(p, ("-c:a", "flac")), [("audio", "flac")], "flac"),
    "speech.mp3": (lambda p: _audio(p, ("-c:a", "libmp3lame", "-q:a", "5"), rate=44100), [("audio", "mp3")], "mp3"),
    "speech.m4a": (lambda p: _audio(p, ("-c:a", "aac", "-b:a", "64k")), [("audio", "aac")], "m4a"),
    "speech.ogg": (lambda p: _audio(p, ("-c:a", "libvorbis")), [("audio", "vorbis")], "ogg"),
    "speech.aac": (lambda p: _audio(p, ("-c:a", "aac", "-f", "adts")), [("audio", "aac")], "aac"),
    "clip.ts": (lambda p: _av(p, H264, ("-c:a", "aac")), [("video", "h264"), ("audio", "aac")], "mpegts"),
}
BACKEND_CASES = [
    "clip.mp4",
    "speech.wav",
    "opus.mkv",
    "clip.webm",
    "speech.flac",
    "speech.m4a",
    "speech.ogg",
    "clip.mov",
]


@pytest.fixture
def pyav_tools(tools):
    return replace(tools, ffprobe=None)


def _file(media, tmp_path: Path, name: str) -> Path:
    return media(name, MEDIA[name][0], tmp_path)


# --------------------------------------------------------------------------- the two backends


@pytest.mark.parametrize("name", BACKEND_CASES)
def test_ffprobe_and_pyav_agree(media, tmp_path: Path, tools, pyav_tools, name: str) -> None:
    assert tools.ffprobe is not None, "the tests need ffprobe"
    path = _file(media, tmp_path, name)
    a = probe(path, tools)
    b = probe(path, pyav_tools)
    assert abs(a.duration - b.duration) <= 0.05
    assert a.format_name == b.format_name
    assert a.size == b.size == path.stat().st_size
    assert [(s.kind, s.codec) for s in a.streams] == [(s.kind, s.codec) for s in b.streams] == MEDIA[name][1]
    for sa, sb in zip(a.streams, b.streams):
        assert sa.index == sb.index
        if sa.kind == "audio":
            assert (sa.sample_rate, sa.channels) == (sb.sample_rate, sb.channels)
        else:
            assert (sa.width, sa.height) == (sb.width, sb.height)
            assert sa.fps is not None and sb.fps is not None and abs(sa.fps - sb.fps) < 0.01


@pytest.mark.parametrize("name", BACKEND_CASES)
def test_probe_matches_what_was_made(media, tmp_path: Path, tools, name: str) -> None:
    path = _file(media, tmp_path, name)
    info = probe(path, tools)
    truth = M.probe(path)
    assert abs(info.duration - 2.0) < 0.1
    assert abs(info.duration - float(truth["format"]["duration"])) < 0.01
    by_index = {s["index"]: s for s in truth["streams"]}
    for s in info.streams:
        t = by_index[s.index]
        assert s.codec == t["codec_name"]
        if s.kind == "audio":
            assert s.sample_rate == int(t["sample_rate"]) and s.channels == t["channels"]
        else:
            assert (s.width, s.height) == (t["width"], t["height"])
    expected_video = {"clip.mp4": (160, 120, 25.0), "opus.mkv": (160, 120, 24.0), "clip.webm": (176, 144, 30.0)}
    if name in expected_video:
        v = info.video
        assert v is not None and (v.width, v.height, round(v.fps or 0, 2)) == expected_video[name]
    if name == "speech.wav":
        assert (info.audio.sample_rate, info.audio.channels) == (44100, 2)
    if name == "opus.mkv":
        assert (info.audio.sample_rate, info.audio.channels) == (48000, 2)


def test_media_info_round_trips_through_a_dict(media, tmp_path: Path, tools) -> None:
    from mediaenhancer_core.engine.probe import MediaInfo

    info = probe(_file(media, tmp_path, "clip.mp4"), tools)
    assert MediaInfo.from_dict(info.to_dict()) == info


# --------------------------------------------------------------------------- bad input, both backends


def _cut(src: Path) -> Path:
    data = src.read_bytes()
    src.write_bytes(data[: len(data) // 2])
    return src


def _written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _png(path: Path) -> Path:
    M.ffmpeg("-f", "lavfi", "-i", "testsrc2=s=32x32:d=1", "-frames:v", "1", str(path))
    return path


BAD = {
    "empty": (lambda d, mm: _written(d / "e.mp4", b""), EmptyInputError),
    "text": (lambda d, mm: _written(d / "t.mp4", b"hello\n" * 50), NotMediaError),
    "truncated-mp4": (lambda d, mm: _cut(_file(mm, d, "clip.mp4")), CorruptMediaError),
    "png": (lambda d, mm: _png(d / "p.png"), NoStreamsError),
}


@pytest.mark.parametrize("backend", ["ffprobe", "pyav"])
@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_classified_the_same_by_both_backends(
    media, tmp_path: Path, tools, pyav_tools, backend: str, case: str
) -> None:
    make, error = BAD[case]
    path = make(tmp_path, media)
    with pytest.raises(error) as info:
        probe(path, tools if backend == "ffprobe" else pyav_tools)
    assert path.name in str(info.value)
    assert info.value.path == path


# --------------------------------------------------------------------------- sniffing


@pytest.mark.parametrize("name", sorted(MEDIA))
def test_containers_are_identified_by_their_bytes(media, tmp_path: Path, name: str) -> None:
    path = _file(media, tmp_path, name)
    assert sniff_file(path) == MEDIA[name][2]
    # the name plays no part
    renamed = path.rename(tmp_path / "no-extension")
    assert sniff_file(renamed) == MEDIA[name][2]


def test_images_and_text_are_not_taken_for_media(tmp_path: Path) -> None:
    assert sniff_file(_png(tmp_path / "p.png")) == "image"
    assert sniff_file(_png(tmp_path / "p.jpg")) == "image"
    text = tmp_path / "notes.mp4"
    text.write_text("Not a video, despite the name.\n")
    assert sniff_file(text) is None
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    assert sniff_file(empty) is None


@pytest.mark.parametrize(
    ("head", "family"),
    [
        (b"", None),
        (b"\x00\x00", None),
        (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", "mp4"),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00", "mov"),
        (b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00", "m4a"),
        (b"\x00\x00\x00\x1cftypheic\x00\x00\x00\x00", "image"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "wav"),
        (b"RIFF\x24\x00\x00\x00AVI LIST", "avi"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image"),
        (b"fLaC\x00\x00\x00\x22", "flac"),
        (b"OggS\x00\x02\x00\x00", "ogg"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81", "matroska"),
        # an ID3 tag counts only for the audio frame behind it (issue 12: a playlist hid there)
        (b"ID3\x04\x00\x00\x00\x00\x00\x00\xff\xfb\x90\x00\x00\x00\x00\x00\x00\x00", "mp3"),
        (b"ID3\x03\x00\x00\x00\x00\x00\x02\x00\x00\xff\xf1\x50\x80\x00\x1f\x00\x00\x00\x00", "aac"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00fLaC\x00\x00\x00\x22\x00\x00", "flac"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00#EXTM3U\n#EXT-X-TARGETDURATION:2\n", None),
        (b"ID3\x04\x00\x00\x00\x00", None),  # a cut-off tag header
        (b"ID3\x04\x00\x00\x00\x00\x00\x05", None),  # a tag that runs past the bytes given
        (b"\xff\xfb\x90\x00\x00\x00", "mp3"),
        (b"\xff\xf1\x50\x80\x00\x1f", "aac"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "image"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image"),
        (b"GIF89a\x01\x00", "image"),
        (b"<html><body>", None),
        (b"1\n00:00:00,000 --> 00:00:01,000\n", None),
    ],
    ids=lambda v: v if isinstance(v, str) or v is None else None,
)
def test_sniff_bytes(head: bytes, family: str | None) -> None:
    assert sniff_bytes(head) == family


def _id3_tag(size: int) -> bytes:
    return (
        b"ID3\x04\x00\x00"
        + bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
        + b"T" * size
    )


@pytest.mark.parametrize(
    ("data", "family"),
    [
        (_id3_tag(300_000) + b"\xff\xfb\x90\x64" + b"\x00" * 1200, "mp3"),  # a cover picture in the tag
        (_id3_tag(1000)[:-200] + b"\x00" * 500 + b"\xff\xfb\x90\x64" + b"\x00" * 600, "mp3"),  # zero padding after it
        (_id3_tag(50) + _id3_tag(70) + b"\xff\xf1\x50\x80" + b"\x00" * 600, "aac"),  # two tags
        (_id3_tag(300_000) + b"#EXTM3U\n" * 200, None),  # a playlist behind a long tag
        (_id3_tag(20) + b"\x00" * 10_000, None),  # nothing but zeros after it
        (_id3_tag(300_000), None),  # a tag and nothing else
    ],
    ids=["long-tag", "padding", "two-tags", "playlist", "zeros", "only-a-tag"],
)
def test_an_id3_file_is_judged_by_what_follows_the_tag_however_it_arrives(
    tmp_path: Path, data: bytes, family: str | None
) -> None:
    from mediaenhancer_core.engine.sniff import Sniffer, sniff_reader

    path = tmp_path / "x.mp3"
    path.write_bytes(data)
    assert sniff_file(path) == family
    assert sniff_reader(lambda offset, n: data[offset : offset + n]) == family
    for chunk in (1, 7, 511, 4096, 65536, 1 << 20):  # as an upload streams in
        sniffer = Sniffer()
        for i in range(0, len(data), chunk):
            if sniffer.feed(data[i : i + chunk]):
                break
        assert sniffer.finish() == family, chunk
