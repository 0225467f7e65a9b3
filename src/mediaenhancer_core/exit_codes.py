"""Exit codes of `mediaenhancer` and `mediaenhancer-server`, and the one table that maps errors to them.

A data table next to ``errors.py``: the core still never exits; both front ends (the CLI and the
server's admin CLI) import it. Documented in docs/exit-codes.md; tests/test_exit_codes.py checks every code.
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
    TEMP_DIR = 5  # the temporary folder (MEDIAENHANCER_TEMP_DIR) cannot be used
    MISSING_EXTRA = 6  # a feature's optional packages are not installed: pip install 'mediaenhancer[EXTRA]'
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
    PROJECT_INVALID = 25
    RENDER_FAILED = 30
    # --- account server ---
    NOT_LOGGED_IN = 40  # no token, or the server refused it (401): run `mediaenhancer login`
    FORBIDDEN = 41  # account disabled, or not allowed
    NOT_FOUND = 42  # no such resource on the server (or not yours)
    CONFLICT = 43  # already exists
    INVALID_REQUEST = 44  # the server refused a field (422) or the body size (413)
    RATE_LIMITED = 45  # too many attempts; wait and retry
    LOGIN_FAILED = 46  # device login denied or expired
    AMBIGUOUS_ID = 47  # an id prefix matches several ids: give more characters
    SERVER_UNREACHABLE = 50  # cannot connect to the server
    SERVER_UNAVAILABLE = 51  # the server answered 5xx (database down, provider unreachable)
    # --- Gemini ---
    AI_NOT_CONFIGURED = 60  # no Gemini API key, or Gemini refused it: set GEMINI_API_KEY
    AI_FAILED = 61  # Gemini timed out, refused, answered badly or is down (transcription has no offline fallback)
    AI_QUOTA = 62  # Gemini quota or rate limit reached (429): wait and retry
    # --- media library and storage ---
    QUOTA_EXCEEDED = 63  # a plan limit is reached (storage, projects, exports, media length): upgrade or free space
    STORAGE_UNAVAILABLE = 64  # the server's media storage is unreachable or failed (503): retry; uploads resume
    # --- billing ---
    BILLING_NOT_CONFIGURED = 70  # the server has no Stripe key (or no price for the plan): ask its administrator
    BILLING_FAILED = 71  # Stripe refused the request or could not be reached: retry later
    INTERRUPTED = 130  # Ctrl-C
    TERMINATED = 143  # SIGTERM


# Most specific classes first: the first match wins.
_TABLE: list[tuple[type[E.MediaEnhancerError], ExitCode]] = [
    (E.TempDirError, ExitCode.TEMP_DIR),  # ahead of its parent, ServiceUnavailableError
    (E.OutputExistsError, ExitCode.USAGE),  # pass --force, as `export` says with the same code
    (E.MissingExtraError, ExitCode.MISSING_EXTRA),  # ahead of its parent, ConfigError
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
    (E.ProjectError, ExitCode.PROJECT_INVALID),
    (E.RenderError, ExitCode.RENDER_FAILED),
    (E.CancelledError, ExitCode.INTERRUPTED),
    # account server
    (E.AccessDeniedError, ExitCode.LOGIN_FAILED),
    (E.DeviceCodeExpiredError, ExitCode.LOGIN_FAILED),
    (E.AuthError, ExitCode.NOT_LOGGED_IN),
    (E.ForbiddenError, ExitCode.FORBIDDEN),
    (E.NotFoundError, ExitCode.NOT_FOUND),
    (E.ConflictError, ExitCode.CONFLICT),
    (E.AmbiguousIdError, ExitCode.AMBIGUOUS_ID),  # ahead of its parent, ValidationError
    (E.ValidationError, ExitCode.INVALID_REQUEST),
    (E.PayloadTooLargeError, ExitCode.INVALID_REQUEST),
    (E.RateLimitedError, ExitCode.RATE_LIMITED),
    (E.ServerUnreachableError, ExitCode.SERVER_UNREACHABLE),
    (E.DatabaseError, ExitCode.SERVER_UNAVAILABLE),
    (E.ServiceUnavailableError, ExitCode.SERVER_UNAVAILABLE),
    (E.WebhookSignatureError, ExitCode.INVALID_REQUEST),
    # Gemini
    (E.AINotConfiguredError, ExitCode.AI_NOT_CONFIGURED),
    (E.AIKeyRejectedError, ExitCode.AI_NOT_CONFIGURED),
    (E.AIQuotaError, ExitCode.AI_QUOTA),
    (E.AIError, ExitCode.AI_FAILED),
    # media library and storage
    (E.QuotaExceededError, ExitCode.QUOTA_EXCEEDED),
    (E.StorageError, ExitCode.STORAGE_UNAVAILABLE),
    # billing
    (E.BillingNotConfiguredError, ExitCode.BILLING_NOT_CONFIGURED),
    (E.BillingError, ExitCode.BILLING_FAILED),
]


def exit_code_for(exc: BaseException) -> ExitCode:
    for klass, code in _TABLE:
        if isinstance(exc, klass):
            return code
    return ExitCode.FAILURE
