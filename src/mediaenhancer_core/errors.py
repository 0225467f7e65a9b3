"""The one exception tree of Media Enhancer.

Every failure the core can report is one of these classes. Front ends translate
them once: the CLI maps each class to an exit code (``mediaenhancer_cli.exit_codes``),
the server maps each to an HTTP status with a JSON error body. Third-party errors
(subprocess, OS, SDKs) are wrapped where they enter the core, so callers only ever
catch our names.

    MediaEnhancerError
    ├── ConfigError                  a setting or config file is invalid
    ├── FFmpegError
    │   ├── FFmpegNotFoundError      no usable ffmpeg binary
    │   └── FFmpegTooOldError        ffmpeg is older than we support / lacks filters
    ├── InputError                   a bad input file
    │   ├── InputNotFoundError
    │   ├── InputUnreadableError
    │   ├── EmptyInputError          zero bytes
    │   ├── NotMediaError            not a media file (e.g. text renamed to .mp4)
    │   ├── CorruptMediaError        truncated or damaged media
    │   └── NoStreamsError           neither audio nor video
    ├── OutputError
    │   ├── OutputSameAsInputError
    │   ├── OutputNotWritableError
    │   └── DiskFullError
    ├── PlanError                    an enhancement plan file is invalid or does not fit
    ├── PresetError                  unknown or invalid preset
    ├── RenderError                  ffmpeg failed while rendering or analysing
    └── CancelledError               the work was interrupted (Ctrl-C, job cancel)

Messages are one line, name the file or field, and say what to do.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "MediaEnhancerError",
    "ConfigError",
    "FFmpegError",
    "FFmpegNotFoundError",
    "FFmpegTooOldError",
    "InputError",
    "InputNotFoundError",
    "InputUnreadableError",
    "EmptyInputError",
    "NotMediaError",
    "CorruptMediaError",
    "NoStreamsError",
    "OutputError",
    "OutputSameAsInputError",
    "OutputNotWritableError",
    "DiskFullError",
    "PlanError",
    "PresetError",
    "RenderError",
    "CancelledError",
]


class MediaEnhancerError(Exception):
    """Base of every error the core raises on purpose.

    ``code`` is a stable, machine-readable name (used in JSON output and API error
    bodies); ``path`` names the file concerned, when there is one.
    """

    code = "error"

    def __init__(self, message: str, *, path: Path | str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = Path(path) if path is not None else None

    def __str__(self) -> str:
        return self.message


class ConfigError(MediaEnhancerError):
    code = "config_invalid"


class FFmpegError(MediaEnhancerError):
    code = "ffmpeg_error"


class FFmpegNotFoundError(FFmpegError):
    code = "ffmpeg_not_found"


class FFmpegTooOldError(FFmpegError):
    code = "ffmpeg_too_old"


class InputError(MediaEnhancerError):
    code = "input_invalid"


class InputNotFoundError(InputError):
    code = "input_not_found"


class InputUnreadableError(InputError):
    code = "input_unreadable"


class EmptyInputError(InputError):
    code = "input_empty"


class NotMediaError(InputError):
    code = "input_not_media"


class CorruptMediaError(InputError):
    code = "input_corrupt"


class NoStreamsError(InputError):
    code = "input_no_streams"


class OutputError(MediaEnhancerError):
    code = "output_invalid"


class OutputSameAsInputError(OutputError):
    code = "output_is_input"


class OutputNotWritableError(OutputError):
    code = "output_not_writable"


class DiskFullError(OutputError):
    code = "disk_full"


class PlanError(MediaEnhancerError):
    code = "plan_invalid"


class PresetError(MediaEnhancerError):
    code = "preset_invalid"


class RenderError(MediaEnhancerError):
    code = "render_failed"


class CancelledError(MediaEnhancerError):
    code = "cancelled"
