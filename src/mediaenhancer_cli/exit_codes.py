"""Exit codes of `mediaenhancer`, and the one table that maps errors to them.

Documented in docs/exit-codes.md; tests/test_exit_codes.py checks every code.
"""

from __future__ import annotations

from enum import IntEnum

from mediaenhancer_core import errors as E

__all__ = ["ExitCode", "exit_code_for"]


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1  # unexpected error (a bug: please report it)
    USAGE = 2  # bad command-line usage
    CONFIG = 3  # invalid setting or config file
    FFMPEG = 4  # no usable ffmpeg, or too old
    INPUT_NOT_FOUND = 10
    INPUT_UNREADABLE = 11
    INPUT_EMPTY = 12
    INPUT_NOT_MEDIA = 13
    INPUT_CORRUPT = 14
    INPUT_NO_STREAMS = 15
    INPUT_INVALID = 16
    OUTPUT_IS_INPUT = 20
    DISK_FULL = 21
    OUTPUT_NOT_WRITABLE = 22
    PLAN_INVALID = 23
    PRESET_INVALID = 24
    RENDER_FAILED = 30
    INTERRUPTED = 130  # Ctrl-C
    TERMINATED = 143  # SIGTERM


# Most specific classes first: the first match wins.
_TABLE: list[tuple[type[E.MediaEnhancerError], ExitCode]] = [
    (E.ConfigError, ExitCode.CONFIG),
    (E.FFmpegError, ExitCode.FFMPEG),
    (E.InputNotFoundError, ExitCode.INPUT_NOT_FOUND),
    (E.InputUnreadableError, ExitCode.INPUT_UNREADABLE),
    (E.EmptyInputError, ExitCode.INPUT_EMPTY),
    (E.NotMediaError, ExitCode.INPUT_NOT_MEDIA),
    (E.CorruptMediaError, ExitCode.INPUT_CORRUPT),
    (E.NoStreamsError, ExitCode.INPUT_NO_STREAMS),
    (E.InputError, ExitCode.INPUT_INVALID),
    (E.OutputSameAsInputError, ExitCode.OUTPUT_IS_INPUT),
    (E.DiskFullError, ExitCode.DISK_FULL),
    (E.OutputError, ExitCode.OUTPUT_NOT_WRITABLE),
    (E.PlanError, ExitCode.PLAN_INVALID),
    (E.PresetError, ExitCode.PRESET_INVALID),
    (E.RenderError, ExitCode.RENDER_FAILED),
    (E.CancelledError, ExitCode.INTERRUPTED),
]


def exit_code_for(exc: BaseException) -> ExitCode:
    for klass, code in _TABLE:
        if isinstance(exc, klass):
            return code
    return ExitCode.FAILURE
