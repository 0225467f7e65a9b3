"""The choices of the enhance and export options, written once.

The CLI's option choices (``--quality``, ``--resolution``, ``--format``, ``--denoise``,
``--planner``, ``--type``), the API's body models (``mediaenhancer_server/bodies.py``), the job
handlers, the planner, the formats and the settings all read them from here, and
``tests/test_choices.py`` checks that they agree. No imports: any module may use it.
"""

from __future__ import annotations

__all__ = [
    "QUALITIES",
    "RESOLUTIONS",
    "FORMATS",
    "DENOISE_LEVELS",
    "PLANNERS",
    "ENHANCE_TYPES",
    "JOB_TYPES",
    "JOB_STATUSES",
]

QUALITIES = ("draft", "standard", "high", "archive")  # CRF / bitrate steps (formats.encode_spec)
RESOLUTIONS: dict[str, int] = {"720p": 720, "1080p": 1080, "1440p": 1440, "2160p": 2160}  # name: picture height
FORMATS = (
    "mp4",
    "mov",
    "mkv",
    "webm",
    "mp3",
    "m4a",
    "wav",
    "flac",
    "ogg",
    "opus",
)  # the output containers (formats.FORMATS)
DENOISE_LEVELS = ("off", "light", "normal", "strong")  # speech noise reduction (planner.denoise_level)
PLANNERS = ("local", "gemini")  # measurements only, or plus Gemini's advice (ai.make_planner)
ENHANCE_TYPES = ("denoise", "upscale", "colorgrade", "stabilize", "transcribe", "auto")  # enhancement jobs
JOB_TYPES = (*ENHANCE_TYPES, "export")  # every job a worker runs
JOB_STATUSES = ("queued", "running", "succeeded", "failed", "canceled")  # GET /api/jobs?status=
