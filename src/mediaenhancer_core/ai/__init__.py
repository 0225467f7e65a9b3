"""Gemini-assisted enhancement, transcription and subtitles (issue 7).

    gemini.py       GeminiClient: google-genai, JSON answers checked against a schema, every error ours
    schema.py       the check of an answer against its JSON Schema
    proxy.py        the small proxy the model sees: an audio excerpt and keyframes (never the whole file unless asked)
    planner.py      GeminiPlanner (the Planner protocol): measurement plan + Gemini's advice, falls back on any failure

Importing this package does not import google-genai (about 0.8 s); the first request does.
"""

from __future__ import annotations

from .gemini import GeminiClient, GeminiConfig, JsonModel, MediaPart
from .planner import GeminiPlanner, make_planner

__all__ = [
    "GeminiClient",
    "GeminiConfig",
    "JsonModel",
    "MediaPart",
    "GeminiPlanner",
    "make_planner",
]
