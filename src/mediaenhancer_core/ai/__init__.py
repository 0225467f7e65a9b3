"""Gemini-assisted enhancement, transcription and subtitles (issue 7).

    gemini.py       GeminiClient: google-genai, JSON answers checked against a schema, every error ours
    schema.py       answer models: the schema sent to Gemini and the check of its answer
    answers.py      the answers asked for (planner, transcript, chapters), imported on first use
    proxy.py        the small proxy the model sees: an audio excerpt and keyframes (never the whole file unless asked)
    planner.py      GeminiPlanner (the Planner protocol): measurement plan + Gemini's advice, falls back on any failure
    transcribe.py   chunks cut in pauses, timed segments per chunk, offsets applied
    chapters.py     chapters and a summary from the transcript
    (subtitle files: SRT / WebVTT / JSON, cue splitting, retiming, the burn-in filter: engine/subtitles.py)
    times.py        reading the times a model writes

Importing this package does not import google-genai (about 0.8 s); the first request does.
"""

from __future__ import annotations

from mediaenhancer_core.ai.gemini import GeminiClient, GeminiConfig, JsonModel, MediaPart
from mediaenhancer_core.ai.planner import GeminiPlanner, make_planner
from mediaenhancer_core.ai.transcribe import SubtitleJob, transcribe_file, transcript_for_output
from mediaenhancer_core.engine.subtitles import (
    Chapter,
    Segment,
    Transcript,
    burn_in_filter,
    output_paths,
    to_srt,
    to_vtt,
    write_burn_in_file,
    write_transcript,
)

__all__ = [
    "GeminiClient",
    "GeminiConfig",
    "JsonModel",
    "MediaPart",
    "GeminiPlanner",
    "make_planner",
    "Segment",
    "Chapter",
    "Transcript",
    "burn_in_filter",
    "output_paths",
    "to_srt",
    "to_vtt",
    "write_burn_in_file",
    "write_transcript",
    "SubtitleJob",
    "transcribe_file",
    "transcript_for_output",
]
