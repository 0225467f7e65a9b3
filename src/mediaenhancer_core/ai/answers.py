"""The JSON answers we ask Gemini for, as typed models (see ``schema.py``): the schema each
request sends is generated from its model, and the answer is checked with the same model.

Imported on the first request (``gemini.answers()``), not with the package: pydantic comes with
the [ai] extra, and a base install must still plan, enhance and say which extra Gemini needs.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from mediaenhancer_core.ai.planner import LIMITS, PROBLEMS
from mediaenhancer_core.ai.schema import Answer, number, text

__all__ = ["AdviceAnswer", "TranscriptAnswer", "ChaptersAnswer"]


# --- the planner (planner.py) ---------------------------------------------------------------------


def _num(name: str, description: str) -> Any:
    lo, hi = LIMITS[name]
    return number(lo, hi, description, default=None)


class Problem(Answer):
    kind: Literal[tuple(PROBLEMS)]  # type: ignore[valid-type]
    severity: float = number(0, 1)
    evidence: str = text(160, default="")


class AudioAdvice(Answer):
    noise_reduction_db: float | None = _num(
        "audio.noise_reduction_db", "Broadband noise reduction in dB; 0 for none; null keeps the measured plan."
    )
    highpass_hz: float | None = _num("audio.highpass_hz", "High-pass cutoff against rumble in Hz; 0 for none.")
    presence_boost_db: float | None = _num("audio.presence_boost_db", "Gain around 3 kHz for muffled speech, in dB.")
    deess: bool | None = Field(None, description="Tame harsh sibilance.")
    compress: bool | None = Field(None, description="Gentle compression for uneven speech.")


class VideoAdvice(Answer):
    brightness: float | None = _num("video.brightness", "eq brightness offset (0 = unchanged).")
    contrast: float | None = _num("video.contrast", "eq contrast factor (1 = unchanged).")
    saturation: float | None = _num("video.saturation", "eq saturation factor (1 = unchanged).")
    gamma: float | None = _num("video.gamma", "eq gamma (1 = unchanged; above 1 brightens mid-tones).")
    denoise: float | None = _num("video.denoise", "Picture denoise strength (0 = none).")
    sharpen: float | None = _num("video.sharpen", "Unsharp amount (0 = none).")


class AdviceAnswer(Answer):
    """What the planner asks for: numbers outside their range are clamped (and noted) by parse_advice."""

    content_type: Literal["speech", "music", "mixed", "other"]
    problems: list[Problem] = Field(max_length=12)
    audio: AudioAdvice = Field(None)  # type: ignore[assignment]  # absent is fine, null is not
    video: VideoAdvice = Field(None)  # type: ignore[assignment]
    rationale: str = text(400)


# --- transcription (transcribe.py) and chapters (chapters.py) -------------------------------------


class TranscriptSegment(Answer):
    start: float | str = Field(description="Seconds from the start of this audio.")
    end: float | str = Field(description="Seconds from the start of this audio.")
    text: str
    speaker: str | None = None


class TranscriptAnswer(Answer):
    """One chunk's transcript; times relative to the chunk (strings such as "1:02.5" are read by times.py)."""

    language: str | None = text(16, "BCP-47 code of the spoken language.", default=None)
    segments: list[TranscriptSegment]


class ChapterItem(Answer):
    start: float | str = Field(description="Seconds from the start of the recording.")
    title: str = text(80)


class ChaptersAnswer(Answer):
    summary: str = text(600, "Two to four sentences.")
    chapters: list[ChapterItem] = Field(max_length=40)
