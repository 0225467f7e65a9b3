"""Transcription and subtitles: timing rules, SRT/WebVTT, chunking in pauses, offsets, burn-in.

The end-to-end tests transcribe generated audio whose speech and silence spans are
known. The stand-in plays the speech recogniser: it decodes each chunk it receives and
answers the bursts of sound it finds, timed from the start of THAT chunk, so the final
timings are right only if every chunk's offset is applied.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from mediaenhancer_core.ai.chapters import normalize_chapters
from mediaenhancer_core.ai.gemini import GeminiClient, GeminiConfig
from mediaenhancer_core.ai.times import parse_time
from mediaenhancer_core.ai.transcribe import plan_chunks, transcribe_file, transcript_for_output
from mediaenhancer_core.engine.analysis import analyze
from mediaenhancer_core.engine.planner import EnhanceOptions, MeasurementPlanner
from mediaenhancer_core.engine.presets import get_preset
from mediaenhancer_core.engine.probe import probe
from mediaenhancer_core.engine.subtitles import (
    Chapter,
    Segment,
    Transcript,
    burn_in_filter,
    map_time,
    normalize,
    output_paths,
    retime_for_trim,
    retime_transcript,
    srt_time,
    to_cues,
    to_srt,
    to_vtt,
    vtt_time,
    write_burn_in_file,
    write_transcript,
)
from mediaenhancer_core.errors import AIQuotaError, AIResponseError, NoStreamsError
from tests import media as M
from tests.gemini_standin import Call, GeminiStandIn, Reply, error_answer, json_answer

# speech (sound) spans of the generated recording; everything else is digital silence
SPEECH = [(0.5, 3.0), (4.2, 7.9), (9.5, 12.0), (13.0, 16.5), (18.2, 21.0)]
DURATION = 22.0
TOLERANCE = 0.1  # seconds: Opus frames are 20 ms, AAC adds a little
MAX_GAP = 0.45  # longest quiet stretch inside one phrase (between words)


def make_speech(dest: Path, spans=SPEECH, duration: float = DURATION) -> Path:
    """Real read speech (several voices from tests/data/media) in exactly ``spans``, digital silence between."""
    from tests import audio_meters as A

    rate = 16000
    out = np.zeros(int(duration * rate))
    used: set[tuple[int, int]] = set()
    for a, b in spans:
        seg = A.phrase(b - a, used, rate=rate, max_gap=MAX_GAP)
        out[int(round(a * rate)) : int(round(a * rate)) + len(seg)] = seg
    A.write(dest.with_suffix(".src.wav"), out, rate=rate)
    M.ffmpeg("-i", str(dest.with_suffix(".src.wav")), "-c:a", "aac", "-b:a", "64k", str(dest))
    dest.with_suffix(".src.wav").unlink()
    return dest


def sound_spans(
    audio: bytes, *, threshold: float = 0.01, gap: float = MAX_GAP + 0.1
) -> tuple[list[tuple[float, float]], float]:
    """Bursts of sound in an encoded audio file (decoded with ffmpeg), and its duration."""
    pcm = subprocess.run(
        [M.FFMPEG, "-v", "error", "-i", "pipe:0", "-f", "f32le", "-ac", "1", "-ar", "16000", "pipe:1"],
        input=audio,
        capture_output=True,
        check=True,
    ).stdout
    x = np.frombuffer(pcm, dtype=np.float32)
    hop = 160  # 10 ms
    frames = len(x) // hop
    rms = np.sqrt(np.mean(x[: frames * hop].reshape(frames, hop) ** 2, axis=1))
    loud = rms > threshold
    spans: list[list[float]] = []
    for i in np.flatnonzero(loud):
        t = i * hop / 16000
        if spans and t - spans[-1][1] <= gap:
            spans[-1][1] = t + hop / 16000
        else:
            spans.append([t, t + hop / 16000])
    return [(round(a, 3), round(b, 3)) for a, b in spans], len(x) / 16000


class FakeRecogniser:
    """Answers transcription calls with the sound bursts of the chunk, chapter calls with two chapters."""

    def __init__(self, *, clock: bool = False) -> None:
        self.clock = clock  # answer times as "MM:SS.mmm" strings, as models sometimes do
        self.chunks: list[tuple[list[tuple[float, float]], float]] = []

    def __call__(self, call: Call) -> Reply:
        if "chapters" in call.generation_config["responseJsonSchema"]["properties"]:
            return json_answer(
                {
                    "summary": "Five phrases with pauses.",
                    "chapters": [{"start": 0.4, "title": "Opening"}, {"start": "00:12.9", "title": "Second half"}],
                }
            )
        [(mime, data, _)] = call.media()
        assert mime == "audio/ogg"
        spans, length = sound_spans(data)
        self.chunks.append((spans, length))
        fmt = (lambda t: f"{int(t // 60):02d}:{t % 60:06.3f}") if self.clock else (lambda t: t)
        return json_answer(
            {
                "language": "en",
                "segments": [
                    {"start": fmt(a), "end": fmt(b), "text": f"phrase of {b - a:.1f} seconds"} for a, b in spans
                ],
            }
        )


@pytest.fixture(scope="module")
def server() -> Iterator[GeminiStandIn]:
    with GeminiStandIn() as s:
        yield s


@pytest.fixture
def standin(server: GeminiStandIn) -> GeminiStandIn:
    server.reset()
    return server


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory, tools) -> tuple[Path, object]:
    path = make_speech(tmp_path_factory.mktemp("speech") / "talk.m4a")
    info = probe(path, tools)
    return path, analyze(path, info, tools, video=False)


def client_for(standin: GeminiStandIn, **kw: object) -> GeminiClient:
    return GeminiClient(
        GeminiConfig(
            **{"api_key": "test-key", "base_url": standin.base_url, "timeout_seconds": 10.0, "retries": 0, **kw}
        ),
        sleep=lambda s: None,
    )  # type: ignore[arg-type]


# --------------------------------------------------------------------------- end to end


def test_long_audio_is_cut_in_pauses_and_every_chunk_offset_is_applied(standin, tools, speech, tmp_path) -> None:
    path, analysis = speech
    recogniser = FakeRecogniser()
    standin.handler = recogniser
    with client_for(standin) as client:
        transcript = transcribe_file(path, tools, client, analysis=analysis, chunk_seconds=8.0, concurrency=2)

    # cut into several chunks, every cut in a pause between two phrases
    assert len(transcript.chunks) >= 4
    assert all(b - a <= 8.0 + 0.05 for a, b in transcript.chunks)
    for _, cut in transcript.chunks[:-1]:
        assert not any(a - 0.05 < cut < b + 0.05 for a, b in SPEECH), f"cut at {cut} is inside speech"
    # the recogniser saw chunk-relative times only (each chunk starts near 0)...
    assert all(length <= 8.1 for _, length in recogniser.chunks)
    assert sum(len(spans) for spans, _ in recogniser.chunks) == len(SPEECH)
    # ...and the transcript has the true times of the speech in the recording
    got = [(s.start, s.end) for s in transcript.segments]
    assert len(got) == len(SPEECH)
    for (a, b), (ga, gb) in zip(SPEECH, got, strict=True):
        assert abs(ga - a) <= TOLERANCE and abs(gb - b) <= TOLERANCE, (got, SPEECH)
    assert transcript.language == "en"
    # chapters: snapped to segment starts, the first at 0, each ending where the next begins
    assert [(c.title, c.start) for c in transcript.chapters] == [("Opening", 0.0), ("Second half", got[3][0])]
    assert transcript.chapters[0].end == transcript.chapters[1].start and transcript.chapters[1].end == pytest.approx(
        DURATION, abs=0.1
    )
    assert transcript.summary == "Five phrases with pauses."

    # the files: SRT with commas, WebVTT with dots, in order and without overlaps
    paths = output_paths(path.with_name("out.m4a"), ["srt", "vtt", "json"])
    write_transcript(transcript, paths)
    srt = paths["srt"].read_text("utf-8")
    blocks = [b.split("\n") for b in srt.strip().split("\n\n")]
    assert [b[0] for b in blocks] == [str(i) for i in range(1, len(SPEECH) + 1)]
    assert blocks[1][1] == f"{srt_time(got[1][0])} --> {srt_time(got[1][1])}"
    assert blocks[1][1].startswith("00:00:04,") or blocks[1][1].startswith("00:00:03,9")
    vtt = paths["vtt"].read_text("utf-8")
    assert vtt.startswith("WEBVTT\nLanguage: en\n\n") and f"{vtt_time(got[4][0])} --> {vtt_time(got[4][1])}" in vtt
    data = json.loads(paths["json"].read_text("utf-8"))
    assert [s["start"] for s in data["segments"]] == [a for a, _ in got] and data["chapters"][1][
        "title"
    ] == "Second half"


def test_uploaded_chunks_and_clock_times_give_the_same_timings(standin, tools, speech) -> None:
    path, analysis = speech
    standin.handler = FakeRecogniser(clock=True)
    with client_for(standin, inline_max_bytes=500) as client:  # every chunk through the Files API
        transcript = transcribe_file(
            path, tools, client, analysis=analysis, chunk_seconds=8.0, concurrency=2, chapters=False
        )
        assert client.uploaded_bytes > 0 and client.inline_bytes == 0
    started = [h for _, h, _ in standin.uploads if h.get("x-goog-upload-command") == "start"]
    assert len(standin.deleted) == len(transcript.chunks) == len(started)
    got = [(s.start, s.end) for s in transcript.segments]
    assert len(got) == len(SPEECH)
    assert all(
        abs(ga - a) <= TOLERANCE and abs(gb - b) <= TOLERANCE for (a, b), (ga, gb) in zip(SPEECH, got, strict=True)
    )
    assert transcript.chapters == [] and transcript.summary is None


def test_silent_chunks_are_not_sent(standin, tools, tmp_path) -> None:
    path = make_speech(tmp_path / "gap.m4a", spans=[(0.5, 3.0), (36.0, 38.0)], duration=40.0)
    analysis = analyze(path, probe(path, tools), tools, video=False)
    recogniser = FakeRecogniser()
    standin.handler = recogniser
    with client_for(standin) as client:
        transcript = transcribe_file(path, tools, client, analysis=analysis, chunk_seconds=10.0, chapters=False)
    assert len(transcript.chunks) >= 4 and len(recogniser.chunks) == 2
    assert "silent chunks were not sent" in " ".join(transcript.notes)
    assert [(round(s.start, 1), round(s.end, 1)) for s in transcript.segments] == [(0.5, 3.0), (36.0, 38.0)]


def test_nonsense_times_are_dropped_and_overlaps_resolved(standin, tools, speech) -> None:
    path, analysis = speech
    standin.answer(
        json_answer(
            {
                "segments": [
                    {"start": 2.0, "end": 4.0, "text": "second"},
                    {"start": 0.5, "end": 2.5, "text": "first, overlapping the second"},
                    {"start": 30.0, "end": 31.0, "text": "far past the end of this audio"},
                    {"start": "soon", "end": 1.0, "text": "no time"},
                    {"start": 5.0, "end": 6.0, "text": "   "},
                ]
            }
        )
    )
    with client_for(standin) as client:
        transcript = transcribe_file(path, tools, client, analysis=analysis, chunk_seconds=60.0, chapters=False)
    assert [(s.start, s.end, s.text) for s in transcript.segments] == [
        (0.5, 2.0, "first, overlapping the second"),
        (2.0, 4.0, "second"),
    ]
    assert "3 segments with unusable times or no text were dropped" in transcript.notes


def test_transcription_has_no_fallback(standin, tools, speech) -> None:
    path, analysis = speech
    standin.answer(error_answer(429, "RESOURCE_EXHAUSTED", "Quota exceeded"))
    with client_for(standin) as client, pytest.raises(AIQuotaError):
        transcribe_file(path, tools, client, analysis=analysis, chunk_seconds=8.0, chapters=False)


def test_a_segment_of_the_wrong_type_is_refused_in_one_line(standin, tools, speech) -> None:
    path, analysis = speech
    standin.answer(
        json_answer(
            {
                "language": "en",
                "segments": [
                    {"start": 0.5, "end": 3.0, "text": "fine"},
                    {"start": 4.2, "end": 7.9, "text": ["not", "a", "string"]},
                ],
            }
        )
    )
    with client_for(standin) as client, pytest.raises(AIResponseError) as caught:
        transcribe_file(path, tools, client, analysis=analysis, chunk_seconds=60.0, chapters=False)
    assert caught.value.message == (
        "Gemini's transcript does not fit the schema: $.segments[1].text should be string, got array"
    )


def test_a_file_without_sound_cannot_be_transcribed(standin, tools, tmp_path) -> None:
    video = tmp_path / "silent.mp4"
    M.ffmpeg("-f", "lavfi", "-i", "testsrc2=s=160x120:d=1", "-c:v", "libx264", "-preset", "ultrafast", str(video))
    with client_for(standin) as client, pytest.raises(NoStreamsError, match="no sound to transcribe"):
        transcribe_file(video, tools, client)
    assert standin.requests == []


def test_enhance_subtitles_are_timed_to_the_trimmed_output(standin, tools, speech) -> None:
    path, analysis = speech
    standin.handler = FakeRecogniser()
    plan = MeasurementPlanner().plan(analysis, EnhanceOptions(preset=get_preset("podcast", None), trim_silence=True))
    assert plan.trim is not None
    with client_for(standin) as client:
        transcript = transcript_for_output(path, analysis, plan, tools, client, chunk_seconds=8.0)
    expected = [(map_time(a, plan.trim.keep), map_time(b, plan.trim.keep)) for a, b in SPEECH]
    got = [(s.start, s.end) for s in transcript.segments]
    assert all(
        abs(ga - a) <= TOLERANCE and abs(gb - b) <= TOLERANCE for (a, b), (ga, gb) in zip(expected, got, strict=True)
    )
    assert got[-1][1] < SPEECH[-1][1] - 2.0  # pauses were removed before it
    assert transcript.duration == pytest.approx(sum(b - a for a, b in plan.trim.keep), abs=0.01)


def test_burn_in_draws_the_subtitles_into_the_picture(tools, tmp_path) -> None:
    folder = tmp_path / "it's: a, [folder]"  # characters the filtergraph would otherwise choke on
    folder.mkdir()
    transcript = Transcript("x", 4.0, "en", "m", [Segment(1.0, 2.5, "Hello subtitles")])
    srt = write_burn_in_file(transcript, folder)
    out = tmp_path / "burned.mp4"
    M.ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "color=black:s=320x240:r=10:d=4",
        "-vf",
        burn_in_filter(srt),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-qp",
        "0",
        str(out),
    )
    luma = subprocess.run(
        [
            M.FFMPEG,
            "-i",
            str(out),
            "-vf",
            "signalstats,metadata=mode=print:key=lavfi.signalstats.YMAX",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    ymax = [float(line.split("=")[-1]) for line in luma.splitlines() if "YMAX=" in line]
    assert len(ymax) == 40
    assert max(ymax[:8]) < 40 and max(ymax[12:24]) > 200 and max(ymax[28:]) < 40  # white text only from 1.0 to 2.5 s


# --------------------------------------------------------------------------- timing rules


def test_timestamps() -> None:
    assert srt_time(0) == "00:00:00,000" and vtt_time(0) == "00:00:00.000"
    assert srt_time(3661.2346) == "01:01:01,235" and vtt_time(59.9996) == "00:01:00.000"
    assert srt_time(-0.2) == "00:00:00,000" and vtt_time(36000.5) == "10:00:00.500"


def test_srt_and_vtt_text() -> None:
    segments = [Segment(4.0, 5.0, "Second <b> & --> third"), Segment(1.0, 2.0, "  First\nline  ")]
    assert to_srt(segments) == (
        "1\n00:00:01,000 --> 00:00:02,000\nFirst line\n\n2\n00:00:04,000 --> 00:00:05,000\nSecond <b> & -> third\n"
    )
    assert to_vtt(segments) == (
        "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nFirst line\n\n"
        "00:00:04.000 --> 00:00:05.000\nSecond &lt;b&gt; &amp; --&gt; third\n"
    )


def test_normalize_orders_clamps_and_removes_overlaps() -> None:
    got = normalize(
        [
            Segment(5, 9, "c"),
            Segment(-1, 2, "a"),
            Segment(1.5, 6, "b"),
            Segment(3, 3, "empty time"),
            Segment(7, 8, ""),
            Segment(9.5, 12, "d"),
        ],
        duration=10.0,
    )
    assert [(s.start, s.end, s.text) for s in got] == [(0, 1.5, "a"), (1.5, 5, "b"), (5, 9, "c"), (9.5, 10, "d")]
    assert all(a.end <= b.start for a, b in pairwise(got))
    same = normalize([Segment(1, 2, "x"), Segment(1, 3, "y")])
    assert [(s.start, s.end, s.text) for s in same] == [(1, 3, "x y")]


def test_long_segments_become_readable_cues() -> None:
    text = " ".join(f"word{i:02d}" for i in range(40))  # 279 characters
    cues = to_cues([Segment(10.0, 22.0, text)])
    assert len(cues) >= 3 and all(len(c.text) <= 84 for c in cues)
    assert cues[0].start == 10.0 and cues[-1].end == 22.0
    assert all(a.end == b.start for a, b in pairwise(cues))
    assert " ".join(c.text for c in cues) == text
    slow = to_cues([Segment(0.0, 20.0, "a few words spoken very slowly indeed")])
    assert len(slow) >= 3 and all(c.end - c.start <= 7.5 for c in slow)
    assert all(len(line) <= 42 for c in cues for line in to_srt([c]).splitlines()[2:])


def test_plan_chunks_cuts_in_the_middle_of_pauses() -> None:
    silence = [(9.0, 10.0), (14.0, 16.0), (27.0, 27.6), (33.0, 34.0)]
    assert plan_chunks(40.0, silence, 20.0) == [(0.0, 15.0), (15.0, 33.5), (33.5, 40.0)]
    assert plan_chunks(45.0, [], 20.0) == [(0.0, 20.0), (20.0, 40.0), (40.0, 45.0)]  # no pause: exact cuts
    assert plan_chunks(12.0, silence, 20.0) == [(0.0, 12.0)]
    chunks = plan_chunks(3600.0, [(t, t + 0.8) for t in range(7, 3600, 13)], 300.0)
    assert all(b - a <= 300.0 for a, b in chunks) and chunks[-1][1] == 3600.0
    assert all(end == start for (_, end), (start, _) in pairwise(chunks))  # contiguous


def test_retiming_for_trimmed_output() -> None:
    keep = [(0.0, 3.2), (4.0, 8.1), (9.3, 20.0)]
    assert map_time(1.0, keep) == 1.0 and map_time(5.0, keep) == 4.2 and map_time(3.5, keep) == 3.2
    assert map_time(25.0, keep) == pytest.approx(18.0)
    got = retime_for_trim(
        [Segment(0.5, 3.0, "a"), Segment(4.2, 7.9, "b"), Segment(3.3, 3.9, "gone"), Segment(8.0, 10.0, "across a cut")],
        keep,
    )
    assert [(s.start, s.end, s.text) for s in got] == [(0.5, 3.0, "a"), (3.4, 7.1, "b"), (7.2, 8.0, "across a cut")]
    t = Transcript(
        "x", 20.0, "en", "m", [Segment(9.5, 12, "c")], chapters=[Chapter(0, 9.5, "A"), Chapter(9.5, 20, "B")]
    )
    retime_transcript(t, keep)
    assert [(c.start, c.end) for c in t.chapters] == [(0.0, 7.5), (7.5, 18.0)] and t.duration == 18.0


def test_parse_time() -> None:
    assert parse_time(12.5) == 12.5 and parse_time("12.5") == 12.5 and parse_time("12.5s") == 12.5
    assert parse_time("01:02.250") == 62.25 and parse_time("1:01:02,5") == 3662.5
    assert (
        parse_time(-1) is None and parse_time("soon") is None and parse_time(True) is None and parse_time(None) is None
    )


def test_chapters_snap_to_segments_and_never_crowd() -> None:
    segments = [Segment(t, t + 4, "x") for t in (0.8, 20.0, 41.0, 45.0, 70.0)]
    raw = [
        {"start": 44, "title": "Third"},
        {"start": 19, "title": " Second "},
        {"start": 3, "title": "First"},
        {"start": 46, "title": "Too close"},
        {"start": 500, "title": "After the end"},
        {"start": 60, "title": ""},
    ]
    chapters = normalize_chapters(raw, segments, 80.0)
    assert [(c.start, c.end, c.title) for c in chapters] == [
        (0.0, 20.0, "First"),
        (20.0, 45.0, "Second"),
        (45.0, 80.0, "Third"),
    ]


def test_output_paths() -> None:
    src = Path("/media/talk.mp4")
    assert output_paths(src, ["srt", "vtt", "json"]) == {
        "srt": Path("/media/talk.srt"),
        "vtt": Path("/media/talk.vtt"),
        "json": Path("/media/talk.transcript.json"),
    }
    assert output_paths(src, ["vtt"], Path("/out/x.vtt")) == {"vtt": Path("/out/x.vtt")}
    assert output_paths(src, ["srt", "json"], Path("/out/x.srt")) == {
        "srt": Path("/out/x.srt"),
        "json": Path("/out/x.transcript.json"),
    }
    assert output_paths(src, ["srt"], out_dir=Path("/o")) == {"srt": Path("/o/talk.srt")}


def test_subtitle_job_for_enhance_writes_sidecars_beside_the_output(standin, tools, speech, tmp_path) -> None:
    from mediaenhancer_core.ai.transcribe import SubtitleJob
    from mediaenhancer_core.errors import AINotConfiguredError
    from mediaenhancer_core.settings import Settings

    with pytest.raises(AINotConfiguredError, match="GEMINI_API_KEY"):
        SubtitleJob.from_settings(Settings.load({}))
    path, analysis = speech
    standin.handler = FakeRecogniser()
    settings = Settings.load(
        {
            "GEMINI_API_KEY": "test-key",
            "MEDIAENHANCER_GEMINI_BASE_URL": standin.base_url,
            "MEDIAENHANCER_TRANSCRIBE_CHUNK_SECONDS": "30",
        }
    )
    job = SubtitleJob.from_settings(settings, language="en")
    try:
        plan = MeasurementPlanner().plan(analysis, EnhanceOptions(preset=get_preset("podcast", None)))
        transcript = job.transcript(path, analysis, plan, tools)
        written = job.write(transcript, tmp_path / "talk.enhanced.m4a")
    finally:
        job.close()
    assert written == {"srt": tmp_path / "talk.enhanced.srt", "vtt": tmp_path / "talk.enhanced.vtt"}
    assert written["srt"].read_text("utf-8").count(" --> ") == len(SPEECH)
    assert len(standin.calls) == 1  # 22 s in one chunk; no chapters without the json format
