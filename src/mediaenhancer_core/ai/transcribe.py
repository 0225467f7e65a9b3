"""Transcription with Gemini: long files split in pauses, each chunk's offset applied.

:func:`transcribe_file` takes the silence spans of the analysis (one decode pass; the
``enhance`` pipeline passes the analysis it already made), cuts the audio at the middle
of pauses into chunks of at most ``chunk_seconds`` (:func:`plan_chunks`), encodes all
chunks in ONE ffmpeg run (16 kHz mono Opus, the segment muxer, whose list gives the
exact start of every chunk), asks Gemini for timed segments of each chunk
(:class:`~.answers.TranscriptAnswer`; times relative to the chunk), adds each chunk's start, and
normalises the result (ordered, clamped, no overlaps). Chunks the analysis found
silent are not sent. Optionally a second, text-only request writes chapters and a
summary (``chapters.py``).

Transcription has no offline fallback: Gemini's errors (:class:`AIError`) propagate.
"""

from __future__ import annotations

import csv
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mediaenhancer_core.ai.chapters import summarize
from mediaenhancer_core.ai.gemini import GeminiClient, GeminiConfig, JsonModel, MediaPart, answers
from mediaenhancer_core.ai.times import parse_time
from mediaenhancer_core.engine.analysis import Analysis, analyze
from mediaenhancer_core.engine.ffmpeg import CancelToken, FFmpegTools, run
from mediaenhancer_core.engine.plan import Plan
from mediaenhancer_core.engine.probe import MediaInfo, probe
from mediaenhancer_core.engine.subtitles import (
    Segment,
    Transcript,
    normalize,
    output_paths,
    retime_transcript,
    write_transcript,
)
from mediaenhancer_core.engine.workdirs import make_workdir, remove_workdir
from mediaenhancer_core.errors import CancelledError, NoStreamsError

if TYPE_CHECKING:
    from mediaenhancer_core.settings import Settings

__all__ = [
    "Chunk",
    "plan_chunks",
    "split_audio",
    "transcribe_chunk",
    "transcribe_file",
    "transcript_for_output",
    "SubtitleJob",
    "CHUNK_SECONDS",
]

CHUNK_SECONDS = 300.0
CHUNK_RATE = 16000
CHUNK_BITRATE = "32k"
LATE_TOLERANCE = 1.0  # seconds a segment may run past its chunk before it is dropped as nonsense

SYSTEM = (
    "You are a careful transcriber. Transcribe the speech in the audio verbatim (no summaries, no translation), "
    "as segments of one sentence or phrase each, at most about 7 seconds long. Times are seconds from the start "
    "of THIS audio, with millisecond precision, and follow the audio exactly. Answer only with JSON that fits the "
    "response schema; an audio without speech has an empty segments list."
)


@dataclass
class Chunk:
    index: int
    start: float  # in the input, seconds
    end: float
    path: Path | None = None
    speech_seconds: float = 0.0

    @property
    def duration(self) -> float:
        return self.end - self.start


def plan_chunks(
    duration: float, silence: Sequence[tuple[float, float]], max_seconds: float = CHUNK_SECONDS
) -> list[tuple[float, float]]:
    """Cut [0, duration] into spans of at most ``max_seconds``, cutting in the middle of pauses.

    Each cut is the longest pause in the second half of the window (else the latest pause in
    it, else — speech without any pause — exactly at the window's end).
    """
    spans: list[tuple[float, float]] = []
    pos = 0.0
    while duration - pos > max_seconds:
        limit = pos + max_seconds
        inside = [(s, e) for s, e in silence if pos + max_seconds * 0.1 < (s + e) / 2 <= limit]
        late = [(s, e) for s, e in inside if (s + e) / 2 >= pos + max_seconds / 2]
        if late:
            s, e = max(late, key=lambda p: (round(p[1] - p[0], 2), p[0]))
            cut = (s + e) / 2
        elif inside:
            s, e = inside[-1]
            cut = (s + e) / 2
        else:
            cut = limit
        cut = round(min(cut, limit), 3)
        spans.append((round(pos, 3), cut))
        pos = cut
    spans.append((round(pos, 3), round(duration, 3)))
    return spans


def split_audio(
    src: Path,
    info: MediaInfo,
    tools: FFmpegTools,
    workdir: Path,
    spans: Sequence[tuple[float, float]],
    *,
    cancel: CancelToken | None = None,
) -> list[Chunk]:
    """Encode every span as a small Opus file in ONE ffmpeg run; chunk starts come from the segment list."""
    assert info.audio is not None
    cuts = [b for _, b in spans[:-1]]
    listing = workdir / "chunks.csv"
    args = [
        str(tools.ffmpeg),
        "-y",
        "-v",
        "error",
        "-i",
        str(src),
        "-map",
        f"0:{info.audio.index}",
        "-vn",
        "-sn",
        "-dn",
        "-ac",
        "1",
        "-ar",
        str(CHUNK_RATE),
        "-c:a",
        "libopus",
        "-b:a",
        CHUNK_BITRATE,
        "-application",
        "voip",
        "-map_metadata",
        "-1",
        "-f",
        "segment",
        "-segment_format",
        "ogg",
        "-reset_timestamps",
        "1",
        "-segment_list",
        str(listing),
        "-segment_list_type",
        "csv",
    ]
    if cuts:
        args += ["-segment_times", ",".join(f"{c:.3f}" for c in cuts)]
    else:  # one chunk: the muxer would otherwise cut every 2 s
        args += ["-segment_time", "1000000"]
    args.append(str(workdir / "chunk%04d.ogg"))
    run(args, cancel=cancel, what="audio chunks for transcription", path=src)
    chunks = []
    with open(listing, newline="", encoding="utf-8") as fh:
        for i, row in enumerate(csv.reader(fh)):
            if len(row) >= 3:
                chunks.append(Chunk(i, float(row[1]), float(row[2]), workdir / row[0]))
    return chunks


def _prompt(chunk: Chunk, language: str | None) -> str:
    lang = f"The speech is in {language}. " if language else "Detect the spoken language. "
    return (
        f"{lang}This audio is {chunk.duration:.2f} s long. Transcribe it as timed segments; every start and end "
        f"is between 0 and {chunk.duration:.2f} seconds from the start of this audio."
    )


def transcribe_chunk(
    model: JsonModel, chunk: Chunk, *, language: str | None = None, timeout: float | None = None
) -> tuple[list[Segment], str | None, int]:
    """Segments of one chunk in INPUT time (chunk start added), its language, and how many were dropped."""
    assert chunk.path is not None
    part = MediaPart(mime_type="audio/ogg", label=f"audio {chunk.start:.1f}-{chunk.end:.1f} s", path=chunk.path)
    answer = model.generate_json(
        prompt=_prompt(chunk, language),
        schema=answers().TranscriptAnswer,
        media=[part],
        system=SYSTEM,
        timeout=timeout,
        what="transcript",
    )
    segments, dropped = [], 0
    for item in answer.get("segments") or []:
        start, end = parse_time(item.get("start")), parse_time(item.get("end"))
        text = " ".join(str(item.get("text", "")).split())
        if start is None or end is None or not text:
            dropped += 1
            continue
        if start > chunk.duration + LATE_TOLERANCE or end < start:
            dropped += 1  # times outside this chunk: not usable
            continue
        end = min(end, chunk.duration)
        start = min(start, end)
        speaker = item.get("speaker") if isinstance(item.get("speaker"), str) else None
        segments.append(Segment(round(chunk.start + start, 3), round(chunk.start + end, 3), text, speaker))
    language_found = answer.get("language") if isinstance(answer.get("language"), str) else None
    return segments, language_found, dropped


def _speech_seconds(start: float, end: float, silence: Sequence[tuple[float, float]]) -> float:
    quiet = sum(max(0.0, min(end, e) - max(start, s)) for s, e in silence)
    return max(0.0, end - start - quiet)


def transcribe_file(
    src: Path,
    tools: FFmpegTools,
    model: JsonModel,
    *,
    info: MediaInfo | None = None,
    analysis: Analysis | None = None,
    language: str | None = None,
    chunk_seconds: float = CHUNK_SECONDS,
    concurrency: int = 2,
    chapters: bool = True,
    timeout: float | None = None,
    temp_dir: Path | None = None,
    cancel: CancelToken | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> Transcript:
    """Transcribe ``src``. ``analysis`` (with audio measurements) saves the analysis pass."""
    src = Path(src)
    info = info or (analysis.info if analysis else probe(src, tools))
    if not info.has_audio:
        raise NoStreamsError(f"{src}: has no sound to transcribe; pass a file with an audio stream", path=src)
    if analysis is None or analysis.audio is None:
        analysis = analyze(src, info, tools, video=False, cancel=cancel)
    silence = analysis.audio.silence_spans if analysis.audio else []
    spans = plan_chunks(info.duration, silence, chunk_seconds)
    workdir = make_workdir("mediaenhancer-transcribe-", temp_dir)
    try:
        chunks = split_audio(src, info, tools, workdir, spans, cancel=cancel)
        for c in chunks:
            c.speech_seconds = _speech_seconds(c.start, c.end, silence)
        todo = [c for c in chunks if c.speech_seconds >= 0.3]
        results = _run_chunks(model, todo, language, timeout, concurrency, cancel, on_progress)
    finally:
        remove_workdir(workdir)
    segments: list[Segment] = []
    languages: dict[str, float] = {}  # seconds of speech per language
    dropped = 0
    for segs, lang, lost in results:
        segments += segs
        dropped += lost
        if lang:
            key = lang.strip()
            languages[key] = languages.get(key, 0.0) + (sum(s.end - s.start for s in segs) or 0.01)
    notes = []
    if dropped:
        notes.append(f"{dropped} segments with unusable times or no text were dropped")
    if len(todo) < len(chunks):
        notes.append(f"{len(chunks) - len(todo)} silent chunks were not sent")
    transcript = Transcript(
        source=str(src),
        duration=info.duration,
        language=language or (max(languages, key=languages.__getitem__) if languages else None),
        model=model.model,
        segments=normalize(segments, info.duration),
        chunks=[(c.start, c.end) for c in chunks],
        notes=notes,
    )
    if chapters and transcript.segments:
        if cancel is not None and cancel.cancelled:
            raise CancelledError(f"transcription {cancel.reason}", path=src)
        transcript.summary, transcript.chapters = summarize(
            model, transcript.segments, info.duration, language=transcript.language, timeout=timeout
        )
    return transcript


def _run_chunks(
    model: JsonModel,
    chunks: list[Chunk],
    language: str | None,
    timeout: float | None,
    concurrency: int,
    cancel: CancelToken | None,
    on_progress: Callable[[int, int], None] | None,
) -> list[tuple[list[Segment], str | None, int]]:
    done = 0
    lock = threading.Lock()

    def one(chunk: Chunk) -> tuple[list[Segment], str | None, int]:
        nonlocal done
        if cancel is not None and cancel.cancelled:
            raise CancelledError(f"transcription {cancel.reason}")
        result = transcribe_chunk(model, chunk, language=language, timeout=timeout)
        with lock:
            done += 1
            if on_progress:
                on_progress(done, len(chunks))
        return result

    if concurrency <= 1 or len(chunks) <= 1:
        return [one(c) for c in chunks]
    pool = ThreadPoolExecutor(max_workers=min(concurrency, len(chunks)), thread_name_prefix="transcribe")
    futures: list[Future[tuple[list[Segment], str | None, int]]] = []
    interrupted = False
    try:
        futures = [pool.submit(one, c) for c in chunks]
        finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for f in futures:
            if f in finished and (error := f.exception()) is not None:
                raise error
        return [f.result() for f in futures]
    except BaseException as exc:
        interrupted = not isinstance(exc, Exception)  # Ctrl-C: do not wait for requests in flight
        raise
    finally:
        pool.shutdown(wait=not interrupted, cancel_futures=True)


def transcript_for_output(
    src: Path,
    analysis: Analysis | None,
    plan: Plan,
    tools: FFmpegTools,
    model: JsonModel,
    *,
    language: str | None = None,
    chapters: bool = False,
    chunk_seconds: float = CHUNK_SECONDS,
    concurrency: int = 2,
    timeout: float | None = None,
    temp_dir: Path | None = None,
    cancel: CancelToken | None = None,
) -> Transcript:
    """``enhance --subtitles``: transcribe with the analysis already made (if any), timed to the OUTPUT.

    ``--trim-silence`` moves everything after a cut: segments and chapters are mapped through
    ``plan.trim``. Call it after planning and before rendering; write the burn-in file with
    :func:`~mediaenhancer_core.engine.subtitles.write_burn_in_file` into the work folder, and the
    sidecars with :func:`~mediaenhancer_core.engine.subtitles.write_transcript` only once the render
    succeeded (no partial output).
    """
    usable = analysis if analysis is not None and analysis.audio is not None else None
    transcript = transcribe_file(
        src,
        tools,
        model,
        analysis=usable,
        language=language,
        chunk_seconds=chunk_seconds,
        concurrency=concurrency,
        chapters=chapters,
        timeout=timeout,
        temp_dir=temp_dir,
        cancel=cancel,
    )
    if plan.trim is not None:
        retime_transcript(transcript, plan.trim.keep)
    return transcript


@dataclass
class SubtitleJob:
    """What ``enhance --subtitles`` needs besides the plan: the model and how to transcribe.

    ``enhance_file`` calls :meth:`transcript` after planning and before rendering (so the
    burn-in file exists for the render pass, and a Gemini failure fails the file before
    anything is written), then :meth:`write` once the output is in place.
    """

    model: JsonModel
    formats: tuple[str, ...] = ("srt", "vtt")
    language: str | None = None
    chunk_seconds: float = CHUNK_SECONDS
    concurrency: int = 2
    timeout: float | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, *, language: str | None = None, formats: Sequence[str] = ("srt", "vtt")
    ) -> SubtitleJob:
        """Raises :class:`AINotConfiguredError` (naming GEMINI_API_KEY) when there is no key, and
        MissingExtraError without the [ai] extra: checked before any work."""
        from mediaenhancer_core.extras import require_extra  # noqa: PLC0415

        config = GeminiConfig.from_settings(settings)
        config.require_key()
        require_extra("ai", "Gemini (transcription, subtitles, the AI planner)")
        return cls(
            GeminiClient(config),
            tuple(formats),
            language,
            settings.transcribe_chunk_seconds,
            settings.transcribe_concurrency,
            settings.gemini_timeout_seconds,
        )

    def transcript(
        self,
        src: Path,
        analysis: Analysis | None,
        plan: Plan,
        tools: FFmpegTools,
        *,
        temp_dir: Path | None = None,
        cancel: CancelToken | None = None,
    ) -> Transcript:
        return transcript_for_output(
            src,
            analysis,
            plan,
            tools,
            self.model,
            language=self.language,
            chapters="json" in self.formats,
            chunk_seconds=self.chunk_seconds,
            concurrency=self.concurrency,
            timeout=self.timeout,
            temp_dir=temp_dir,
            cancel=cancel,
        )

    def write(self, transcript: Transcript, dest: Path) -> dict[str, Path]:
        """``DEST-STEM.srt`` / ``.vtt`` / ``.transcript.json`` beside the output, written atomically."""
        paths = output_paths(dest, list(self.formats), out_dir=dest.parent)
        write_transcript(transcript, paths)
        return paths

    def close(self) -> None:
        close = getattr(self.model, "close", None)
        if close is not None:
            close()
