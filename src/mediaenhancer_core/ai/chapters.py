"""Chapters and a short summary from a transcript (one text-only Gemini request).

The model sees the timed transcript lines and answers :class:`~.answers.ChaptersAnswer`.
:func:`normalize_chapters` makes its chapters safe to use: inside the media, ordered,
snapped to the start of the segment nearest to each (so a chapter never begins
mid-sentence), at least ``MIN_CHAPTER_SECONDS`` apart, the first at 0, each ending
where the next begins.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

from mediaenhancer_core.ai.gemini import JsonModel, answers
from mediaenhancer_core.ai.times import parse_time
from mediaenhancer_core.engine.subtitles import Chapter, Segment

__all__ = ["summarize", "normalize_chapters", "MIN_CHAPTER_SECONDS"]

MIN_CHAPTER_SECONDS = 10.0
MAX_PROMPT_CHARS = 400_000

SYSTEM = (
    "You write chapter lists and summaries for recordings from their transcripts. Answer only with JSON that fits "
    "the response schema. Chapters mark real changes of topic; a short recording may have one chapter. Titles are "
    "short (at most 8 words), in the language of the transcript."
)


def _prompt(segments: Sequence[Segment], duration: float, language: str | None) -> str:
    lines = [f"[{s.start:.1f}] {s.text}" for s in segments]
    text = "\n".join(lines)
    if len(text) > MAX_PROMPT_CHARS:
        text = text[:MAX_PROMPT_CHARS] + "\n[... transcript shortened]"
    lang = f" The transcript is in {language}." if language else ""
    return (
        f"Transcript of a {duration:.0f} s recording, one line per segment, each starting with its start time in "
        f"seconds.{lang}\n{text}\n\nWrite a summary of two to four sentences and a list of chapters (start in seconds, title)."
    )


def summarize(
    model: JsonModel,
    segments: Sequence[Segment],
    duration: float,
    *,
    language: str | None = None,
    timeout: float | None = None,
) -> tuple[str, list[Chapter]]:
    if not segments:
        return "", []
    answer = model.generate_json(
        prompt=_prompt(segments, duration, language),
        schema=answers().ChaptersAnswer,
        system=SYSTEM,
        timeout=timeout,
        what="chapters",
    )
    summary = " ".join(str(answer.get("summary", "")).split())[:600]
    return summary, normalize_chapters(answer.get("chapters") or [], segments, duration)


def normalize_chapters(raw: Sequence[Any], segments: Sequence[Segment], duration: float) -> list[Chapter]:
    starts = sorted({round(s.start, 3) for s in segments}) or [0.0]
    picked: list[tuple[float, str]] = []
    for item in raw:
        title = " ".join(str(item.get("title", "")).split())[:80] if isinstance(item, dict) else ""
        t = parse_time(item.get("start")) if isinstance(item, dict) else None
        if not title or t is None or not 0.0 <= t < duration:
            continue
        at = t  # a float here (the lambda would see the Optional)
        i = bisect.bisect_left(starts, at)
        near = min(starts[max(0, i - 1) : i + 1] or [starts[-1]], key=lambda s: abs(s - at))
        picked.append((near, title))
    picked.sort()
    chapters: list[tuple[float, str]] = []
    for t, title in picked:
        if chapters and t - chapters[-1][0] < MIN_CHAPTER_SECONDS:
            continue
        chapters.append((t, title))
    if chapters:
        chapters[0] = (0.0, chapters[0][1])
    return [
        Chapter(start=t, end=(chapters[i + 1][0] if i + 1 < len(chapters) else round(duration, 3)), title=title)
        for i, (t, title) in enumerate(chapters)
    ]
