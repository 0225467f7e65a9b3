"""The first and last bytes of an upload (mediaenhancer_core.library.bytewindow) and identifying a file from
them: a window gives exactly the answer the whole file gives, or none."""

from __future__ import annotations

import os
import random
from pathlib import Path

import httpx
import pytest

from mediaenhancer_core.engine.ffmpeg import locate_ffmpeg
from mediaenhancer_core.engine.sniff import sniff_bytes
from mediaenhancer_core.library.bytewindow import (
    HEAD_BYTES,
    TAIL_BYTES,
    ByteWindow,
    WindowCollector,
    serve,
)
from mediaenhancer_core.library.identify import identify, identify_window
from tests.media import ffmpeg


def _collect(data: bytes, head: int, tail: int, *, seed: int = 1) -> ByteWindow:
    collector, rng, at = WindowCollector(head, tail), random.Random(seed), 0
    while at < len(data):
        n = rng.randint(1, 70_000)
        collector.add(data[at : at + n])
        at += n
    return collector.window()


def test_the_window_is_the_first_and_last_bytes_whatever_the_chunks() -> None:
    data = os.urandom(1_000_003)
    for seed in range(5):
        w = _collect(data, 100_000, 50_000, seed=seed)
        assert w.size == len(data) and w.head == data[:100_000]
        assert len(w.tail) >= 50_000 and w.tail == data[-len(w.tail) :]
        assert w.span(99_999) == data[99_999:100_000]  # up to the first unknown byte
        assert w.span(100_000) is None and w.span(w.tail_start - 1) is None
        assert w.span(w.tail_start) == w.tail and w.span(len(data)) is None
    small = _collect(data[:120_000], 100_000, 50_000)
    assert small.head == data[:120_000] and small.tail == b""  # head and tail meet: the whole file
    assert small.span(110_000) == data[110_000:120_000]


def test_chunks_that_are_views_of_a_reused_buffer_are_copied() -> None:
    buffer = bytearray(b"a" * 1000)
    collector = WindowCollector(10, 100)
    collector.add(buffer)
    collector.add(bytes(b"b" * 1000))
    buffer[:] = b"z" * 1000  # the caller reuses its buffer
    w = collector.window()
    assert w.head == b"a" * 10 and w.tail.count(b"z") == 0 and w.tail.endswith(b"b" * 100)


def test_the_server_answers_ranges_it_holds_and_refuses_the_others() -> None:
    data = os.urandom(300_000)
    w = ByteWindow(len(data), data[:1000], data[-2000:])
    with serve(w) as served:

        def get(rng: str | None, path: str = "") -> httpx.Response:
            url = served.url + path
            return httpx.get(url, headers={"Range": rng} if rng else {})

        r = get("bytes=10-")  # runs into the gap: cut short where the window ends, and says so
        assert r.status_code == 206 and r.content == data[10:1000]
        assert r.headers["content-range"] == f"bytes 10-999/{len(data)}"
        r = get(f"bytes={len(data) - 500}-{len(data) - 101}")
        assert r.status_code == 206 and r.content == data[-500:-100]
        assert get(None).content == data[:1000]
        assert served.refused == []
        assert get("bytes=5000-").status_code == 416  # starts in the gap
        assert get(f"bytes={len(data)}-").status_code == 416  # past the end
        assert len(served.refused) == 2
        assert get("bytes=0-", path="x").status_code == 404  # only its own random path
    with pytest.raises(httpx.TransportError):
        httpx.get(served.url, timeout=2)  # gone with the block


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("window-media")
    made = {
        "wav": ("-f", "lavfi", "-i", "sine=f=440:d=20", "-ac", "2", "-c:a", "pcm_s16le"),
        "mp3": ("-f", "lavfi", "-i", "sine=f=440:d=20", "-c:a", "libmp3lame"),
        "flac": ("-f", "lavfi", "-i", "sine=f=440:d=20", "-c:a", "flac"),
        "mkv": (
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=320x240:d=8",
            "-f",
            "lavfi",
            "-i",
            "sine=d=8",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
            "-shortest",
        ),
        "ts": (
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=320x240:d=8",
            "-f",
            "lavfi",
            "-i",
            "sine=d=8",
            "-c:v",
            "mpeg2video",
            "-c:a",
            "mp2",
            "-shortest",
        ),
        "mp4": (
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=320x240:d=8",
            "-f",
            "lavfi",
            "-i",
            "sine=d=8",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
            "-shortest",
        ),  # moov written last
    }
    out = {}
    for ext, args in made.items():
        out[ext] = folder / f"sample.{ext}"
        ffmpeg(*args, str(out[ext]))
    out["faststart.mp4"] = folder / "faststart.mp4"
    ffmpeg("-i", str(out["mp4"]), "-c", "copy", "-movflags", "+faststart", str(out["faststart.mp4"]))
    return out


@pytest.mark.slow
def test_a_window_gives_the_whole_files_answer_or_none(samples: dict[str, Path]) -> None:
    tools = locate_ffmpeg(None, None)
    for kind, path in samples.items():
        data = path.read_bytes()
        family = sniff_bytes(data[:4096])
        whole = identify(str(path), tools, family=family)
        answers = {}
        for head, tail in ((512, 0), (4096, 4096), (65536, 65536), (HEAD_BYTES, TAIL_BYTES)):
            got = identify_window(_collect(data, head, tail), tools, family=family)
            assert got is None or got == whole, (kind, head, tail, got, whole)
            answers[head] = got
        assert answers[512] is None, kind  # nothing readable in 512 bytes: never a guess
        assert answers[HEAD_BYTES] == whole, kind  # the default window holds what ffprobe reads of these
    # a moov written last that does not fit in the tail: refused ranges, no answer
    data = samples["mp4"].read_bytes()
    moov = len(data) - data.rindex(b"moov") + 4
    cut = ByteWindow(len(data), data[:65536], data[-(moov // 2) :])
    assert identify_window(cut, tools, family="mp4") is None
