"""Transcripts and subtitles: timed segments, SRT, WebVTT, JSON, burn-in, and retiming.

Pure functions over :class:`Segment` lists (no ffmpeg, no network), so every timing
rule is unit-tested:

* :func:`normalize` orders segments, clamps them to the media, and removes overlaps
  (a segment that starts before the previous one ends cuts the previous one short);
* :func:`to_cues` splits long segments into cues of at most two 42-character lines and
  7 seconds, dividing the time in proportion to the text;
* :func:`to_srt` writes ``HH:MM:SS,mmm`` times, :func:`to_vtt` ``HH:MM:SS.mmm``;
* :func:`retime_for_trim` maps input times onto an output shortened by ``--trim-silence``;
* :func:`burn_in_filter` is the ffmpeg ``subtitles`` filter (libass) that draws a
  subtitle file into the picture, with the path escaped for the filtergraph.
"""

from __future__ import annotations

import json
import math
import re
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mediaenhancer_core.engine.filtergraph import filter_str
from mediaenhancer_core.files import atomic_write_text

__all__ = [
    "Segment",
    "Chapter",
    "Transcript",
    "normalize",
    "to_cues",
    "to_srt",
    "to_vtt",
    "to_json",
    "srt_time",
    "vtt_time",
    "retime_for_trim",
    "retime_transcript",
    "map_time",
    "burn_in_filter",
    "write_burn_in_file",
    "output_paths",
    "write_transcript",
    "is_language_code",
    "FORMATS",
    "LINE_CHARS",
    "CUE_SECONDS",
]

FORMATS = ("srt", "vtt", "json")
LINE_CHARS = 42  # characters per subtitle line (common broadcast guideline)
CUE_LINES = 2
CUE_SECONDS = 7.0
MIN_CUE_SECONDS = 0.3
TRANSCRIPT_VERSION = 1
_LANGUAGE_CODE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*")


def is_language_code(text: str) -> bool:
    """A BCP-47-like code: ``en``, ``deu``, ``pt-BR``, ``zh-Hant-TW``."""
    return bool(_LANGUAGE_CODE.fullmatch(text))


@dataclass
class Segment:
    start: float
    end: float
    text: str
    speaker: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"start": round(self.start, 3), "end": round(self.end, 3), "text": self.text}
        if self.speaker:
            out["speaker"] = self.speaker
        return out


@dataclass
class Chapter:
    start: float
    end: float
    title: str

    def to_dict(self) -> dict[str, Any]:
        return {"start": round(self.start, 3), "end": round(self.end, 3), "title": self.title}


@dataclass
class Transcript:
    source: str
    duration: float
    language: str | None
    model: str
    segments: list[Segment]
    chapters: list[Chapter] = field(default_factory=list)
    summary: str | None = None
    chunks: list[tuple[float, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": TRANSCRIPT_VERSION,
            "file": self.source,
            "duration": round(self.duration, 3),
            "language": self.language,
            "model": self.model,
            "summary": self.summary,
            "chapters": [c.to_dict() for c in self.chapters],
            "segments": [s.to_dict() for s in self.segments],
            "chunks": [[round(a, 3), round(b, 3)] for a, b in self.chunks],
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Transcript:
        return cls(
            source=str(data["file"]),
            duration=float(data["duration"]),
            language=data.get("language"),
            model=str(data.get("model", "")),
            segments=[
                Segment(float(s["start"]), float(s["end"]), str(s["text"]), s.get("speaker")) for s in data["segments"]
            ],
            chapters=[Chapter(float(c["start"]), float(c["end"]), str(c["title"])) for c in data.get("chapters", [])],
            summary=data.get("summary"),
            chunks=[(float(a), float(b)) for a, b in data.get("chunks", [])],
            notes=[str(n) for n in data.get("notes", [])],
        )


# --------------------------------------------------------------------------- timing


def _clean_text(text: str) -> str:
    return " ".join(str(text).split())


def normalize(segments: Iterable[Segment], duration: float | None = None) -> list[Segment]:
    """Ordered, inside [0, duration], non-empty, and never overlapping."""
    cleaned: list[Segment] = []
    for s in segments:
        text = _clean_text(s.text)
        start, end = float(s.start), float(s.end)
        if not text or not math.isfinite(start) or not math.isfinite(end):
            continue
        start = max(0.0, start)
        if duration is not None:
            start, end = min(start, duration), min(end, duration)
        if end <= start:
            continue
        cleaned.append(Segment(round(start, 3), round(end, 3), text, s.speaker))
    cleaned.sort(key=lambda s: (s.start, s.end))
    out: list[Segment] = []
    for s in cleaned:
        if out and s.start < out[-1].end:
            prev = out[-1]
            if s.start - prev.start >= MIN_CUE_SECONDS / 2:
                prev.end = s.start  # the earlier one gives way
            else:  # both start together: one line of text over the longer span
                prev.text = f"{prev.text} {s.text}"
                prev.end = max(prev.end, s.end)
                continue
        out.append(s)
    return out


def to_cues(
    segments: Sequence[Segment],
    *,
    line_chars: int = LINE_CHARS,
    lines: int = CUE_LINES,
    max_seconds: float = CUE_SECONDS,
) -> list[Segment]:
    """Split segments too long to read into several cues: at most ``lines`` x ``line_chars`` characters
    and ``max_seconds`` each, split between words, the time divided in proportion to the text."""
    cues: list[Segment] = []
    limit = line_chars * lines
    for s in segments:
        words = s.text.split()
        span = s.end - s.start
        n = 1
        while True:
            pieces = _balanced(words, n)
            texts = [" ".join(p) for p in pieces]
            weights = [len(t) + 1 for t in texts]
            total = sum(weights)
            fits = all(len(t) <= limit for t in texts) and all(span * w / total <= max_seconds for w in weights)
            if fits or n >= len(words):
                break
            n += 1
        t = s.start
        for i, (text, w) in enumerate(zip(texts, weights, strict=True)):
            end = s.end if i == len(texts) - 1 else round(t + span * w / total, 3)
            cues.append(Segment(round(t, 3), end, text, s.speaker))
            t = end
    return cues


def _balanced(words: list[str], n: int) -> list[list[str]]:
    """``words`` in ``n`` consecutive groups of about the same number of characters."""
    if n <= 1 or len(words) <= 1:
        return [words]
    total = sum(len(w) + 1 for w in words)
    groups: list[list[str]] = [[]]
    done = 0
    for i, w in enumerate(words):
        left_words, left_groups = len(words) - i, n - len(groups)
        target = total * len(groups) / n
        if groups[-1] and left_groups > 0 and (done + (len(w) + 1) / 2 > target or left_words <= left_groups):
            groups.append([])
        groups[-1].append(w)
        done += len(w) + 1
    return groups


def _hms(t: float, sep: str) -> str:
    ms = max(0, round(t * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def srt_time(t: float) -> str:
    """``HH:MM:SS,mmm`` (SubRip)."""
    return _hms(t, ",")


def vtt_time(t: float) -> str:
    """``HH:MM:SS.mmm`` (WebVTT)."""
    return _hms(t, ".")


def _lines(text: str, line_chars: int) -> str:
    return "\n".join(textwrap.wrap(text, width=line_chars, break_long_words=True, break_on_hyphens=False)) or text


def to_srt(segments: Sequence[Segment], *, line_chars: int = LINE_CHARS) -> str:
    blocks = []
    for i, c in enumerate(to_cues(normalize(segments), line_chars=line_chars), 1):
        text = _lines(c.text.replace("-->", "->"), line_chars)
        blocks.append(f"{i}\n{srt_time(c.start)} --> {srt_time(c.end)}\n{text}\n")
    return "\n".join(blocks)


_VTT_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def to_vtt(segments: Sequence[Segment], *, line_chars: int = LINE_CHARS, language: str | None = None) -> str:
    head = "WEBVTT" + (f"\nLanguage: {language}" if language and is_language_code(language) else "")
    blocks = [head + "\n"]
    for c in to_cues(normalize(segments), line_chars=line_chars):
        text = "".join(_VTT_ESCAPES.get(ch, ch) for ch in c.text)
        blocks.append(f"{vtt_time(c.start)} --> {vtt_time(c.end)}\n{_lines(text, line_chars)}\n")
    return "\n".join(blocks)


def to_json(transcript: Transcript) -> str:
    return json.dumps(transcript.to_dict(), indent=2, ensure_ascii=False) + "\n"


def retime_for_trim(segments: Sequence[Segment], keep: Sequence[tuple[float, float]]) -> list[Segment]:
    """Input times → times in an output that keeps only ``keep`` spans (``--trim-silence``).

    Parts of a segment inside removed spans disappear; a segment left with nothing is dropped.
    """
    offsets = []
    pos = 0.0
    for a, b in keep:
        offsets.append((a, b, pos))
        pos += b - a
    out = []
    for s in segments:
        mapped = [
            (max(s.start, a) - a + o, min(s.end, b) - a + o) for a, b, o in offsets if min(s.end, b) > max(s.start, a)
        ]
        if not mapped:
            continue
        start, end = mapped[0][0], mapped[-1][1]
        if end - start >= 0.05:
            out.append(Segment(round(start, 3), round(end, 3), s.text, s.speaker))
    return normalize(out)


def map_time(t: float, keep: Sequence[tuple[float, float]]) -> float:
    """An input moment's time in the trimmed output (a moment inside a cut maps to where the cut is)."""
    pos = 0.0
    for a, b in keep:
        if t < a:
            return round(pos, 3)
        if t <= b:
            return round(pos + t - a, 3)
        pos += b - a
    return round(pos, 3)


def retime_transcript(transcript: Transcript, keep: Sequence[tuple[float, float]]) -> None:
    """Map a whole transcript (segments and chapters) onto the output of ``--trim-silence``."""
    duration = round(sum(b - a for a, b in keep), 3)
    transcript.segments = retime_for_trim(transcript.segments, keep)
    chapters: list[Chapter] = []
    for c in transcript.chapters:
        start = map_time(c.start, keep)
        if chapters and start - chapters[-1].start < 1.0:
            continue
        chapters.append(Chapter(start, duration, c.title))
    for i in range(len(chapters) - 1):
        chapters[i].end = chapters[i + 1].start
    transcript.chapters = chapters
    transcript.duration = duration
    transcript.notes.append("timed to the trimmed output (--trim-silence)")


# --------------------------------------------------------------------------- burn-in

DEFAULT_STYLE = "FontName=DejaVu Sans,FontSize=18,PrimaryColour=&H00FFFFFF,OutlineColour=&H80000000,BorderStyle=1,Outline=1.2,Shadow=0,MarginV=22"


def burn_in_filter(subtitle_file: Path, *, style: str = DEFAULT_STYLE) -> str:
    """The ``subtitles`` filter drawing ``subtitle_file`` (SRT or WebVTT) onto the picture.

    Put it last in the video chain (after scaling, so the text is sized for the output).
    Every value is escaped at both filtergraph levels, so any path is safe.
    """
    return filter_str("subtitles", {"filename": str(subtitle_file), "force_style": style})


def write_burn_in_file(transcript: Transcript, workdir: Path) -> Path:
    """The SRT that :func:`burn_in_filter` draws, in the render's work folder (not an output)."""
    path = workdir / "burn-in.srt"
    path.write_text(to_srt(transcript.segments), "utf-8")
    return path


# --------------------------------------------------------------------------- files


def output_paths(
    src: Path, formats: Sequence[str], output: Path | None = None, out_dir: Path | None = None
) -> dict[str, Path]:
    """Where each format goes: ``NAME.srt``, ``NAME.vtt``, ``NAME.transcript.json`` beside the input.

    ``output`` with one format is that file; with several, its suffix is replaced per format.
    """
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        from mediaenhancer_core.errors import ValidationError  # noqa: PLC0415

        raise ValidationError(f"--format: unknown subtitle format {unknown[0]!r}; use srt, vtt or json", field="format")
    suffix = {"srt": ".srt", "vtt": ".vtt", "json": ".transcript.json"}
    if output is not None and len(formats) == 1:
        return {formats[0]: output}
    if output is not None:
        base = output.with_suffix("") if output.suffix.lower() in (".srt", ".vtt", ".json") else output
        base = base.with_name(base.name.removesuffix(".transcript"))
        return {f: base.with_name(base.name + suffix[f]) for f in formats}
    folder = out_dir if out_dir is not None else src.parent
    return {f: folder / (src.stem + suffix[f]) for f in formats}


def write_transcript(transcript: Transcript, paths: Mapping[str, Path]) -> list[Path]:
    """Write each format atomically (a hidden temporary file renamed into place)."""
    written = []
    for fmt, path in paths.items():
        if fmt == "srt":
            text = to_srt(transcript.segments)
        elif fmt == "vtt":
            text = to_vtt(transcript.segments, language=transcript.language)
        else:
            text = to_json(transcript)
        atomic_write_text(path, text)
        written.append(path)
    return written
