"""The one exception tree of Media Enhancer.

Every failure the core can report is one of these classes. Front ends translate
them once: the CLI maps each class to an exit code (``mediaenhancer_core.exit_codes``),
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
    ├── ProjectError                 a project to export is invalid (names the field)
    ├── RenderError                  ffmpeg failed while rendering or analysing
    ├── CancelledError               the work was interrupted (Ctrl-C, job cancel)
    │
    │   --- accounts and the server (HTTP status in mediaenhancer_server.errors) ---
    ├── DatabaseError                the database is unreachable or not migrated       503
    ├── ServerUnreachableError       the CLI cannot reach the account server           (CLI)
    ├── AuthError                    authentication failed                             401
    │   ├── UnauthorizedError        no, malformed, unknown, expired or revoked token  401
    │   ├── InvalidCredentialsError  wrong email or password                           401
    │   ├── NotLoggedInError         the CLI holds no token                            (CLI)
    │   └── DeviceFlowError          RFC 8628 device authorization answers             400
    │       ├── AuthorizationPendingError   the user has not approved yet
    │       ├── SlowDownError               polled faster than the interval
    │       ├── DeviceCodeExpiredError      the code expired before approval
    │       └── AccessDeniedError           the user denied the request
    ├── ForbiddenError               authenticated, but not allowed                    403
    │   └── AccountDisabledError     the account was disabled or deleted               403
    ├── NotFoundError                no such resource (or not yours)                   404
    ├── ConflictError                unique value already taken                        409
    ├── ValidationError              a request field is invalid                        422
    │   └── AmbiguousIdError         an id prefix matches several ids                  (CLI)
    ├── PayloadTooLargeError         request body over the limit                       413
    ├── RateLimitedError             too many attempts; retry later                    429
    ├── WebhookSignatureError        webhook signature missing, wrong or stale         400
    ├── ServiceUnavailableError      an upstream (e.g. the identity provider) is down  503
    │
    │   --- Gemini: planner, transcription, subtitles (issue 7) ---
    ├── AIError                      Gemini could not help (the planner falls back)
    │   ├── AINotConfiguredError     no Gemini API key (GEMINI_API_KEY)
    │   ├── AIKeyRejectedError       Gemini refused the API key
    │   ├── AIQuotaError             quota or rate limit reached (429)
    │   ├── AITimeoutError           no answer within gemini_timeout_seconds
    │   ├── AIRefusedError           the request or answer was blocked (safety)
    │   ├── AIResponseError          the answer is not valid JSON or breaks the schema
    │   └── AIServiceError           5xx, network error, or another refused request
    │
    │   --- media library, storage and plan quotas (issue 4) ---
    ├── StorageError                 the object store failed                            503
    │   └── StorageUnavailableError  unreachable, or failed mid-transfer; retry         503
    ├── QuotaExceededError           a plan limit is reached: says the limit, the
    │   │                            usage and how to upgrade                           402
    │   ├── StorageQuotaError        not enough storage left for this upload
    │   ├── ProjectQuotaError        the plan's number of projects is reached
    │   ├── ExportQuotaError         the plan's exports for this period are used up
    │   └── MediaTooLongError        the media is longer than the plan allows
    ├── UploadOffsetError            a resumed upload sent bytes from the wrong offset   409
    │                                (ConflictError; ``offset`` says where to resume)
    ├── LengthRequiredError          an upload without Content-Length                   411
    │                                (ValidationError)
    ├── RangeNotSatisfiableError     a download Range outside the file                  416
    │                                (ValidationError)
    ├── DownloadLinkError            a download link is expired or was tampered with    403
    │                                (ForbiddenError)
    │
    │   --- billing with Stripe (issue 5) ---
    └── BillingError                 billing could not be done                          503
        ├── BillingNotConfiguredError  no Stripe key (or no price for the plan)       503
        └── BillingProviderError     Stripe refused the request or is unreachable       503

    --- hardening (issue 12), declared last ---
    ServiceUnavailableError
    └── TempDirError                 MEDIAENHANCER_TEMP_DIR (or the system's) is unusable 503
    AINotConfiguredError
    └── AIServerNotConfiguredError   the account server has no Gemini key (--remote)    503
    OutputError
    └── OutputExistsError            the output exists and --force was not given       (CLI)
    ForbiddenError
    └── EmailNotVerifiedError        open sign-up: the address was not proven yet      403
    RateLimitedError
    └── TooManyJobsError             the plan's jobs in the queue are reached          429

    --- packaging extras (issue 15), declared last ---
    ConfigError
    └── MissingExtraError            a feature's optional packages are not installed    503
                                     (``extra`` names what to pip install)

Messages are one line, name the file or field, and say what to do.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "MediaEnhancerError",
    "AmbiguousIdError",
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
    "ProjectError",
    "RenderError",
    "CancelledError",
    # accounts and the server
    "DatabaseError",
    "ServerUnreachableError",
    "AuthError",
    "UnauthorizedError",
    "InvalidCredentialsError",
    "NotLoggedInError",
    "DeviceFlowError",
    "AuthorizationPendingError",
    "SlowDownError",
    "DeviceCodeExpiredError",
    "AccessDeniedError",
    "ForbiddenError",
    "AccountDisabledError",
    "NotFoundError",
    "ConflictError",
    "ValidationError",
    "PayloadTooLargeError",
    "RateLimitedError",
    "WebhookSignatureError",
    "ServiceUnavailableError",
    # Gemini (issue 7)
    "AIError",
    "AINotConfiguredError",
    "AIKeyRejectedError",
    "AIQuotaError",
    "AITimeoutError",
    "AIRefusedError",
    "AIResponseError",
    "AIServiceError",
    # media library, storage and quotas (issue 4)
    "StorageError",
    "StorageUnavailableError",
    "QuotaExceededError",
    "StorageQuotaError",
    "ProjectQuotaError",
    "ExportQuotaError",
    "MediaTooLongError",
    "UploadOffsetError",
    "LengthRequiredError",
    "RangeNotSatisfiableError",
    "DownloadLinkError",
    # billing (issue 5)
    "BillingError",
    "BillingNotConfiguredError",
    "BillingProviderError",
    # hardening (issue 12)
    "TempDirError",
    "AIServerNotConfiguredError",
    "OutputExistsError",
    "EmailNotVerifiedError",
    "TooManyJobsError",
    # packaging extras (issue 15)
    "MissingExtraError",
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


class ProjectError(MediaEnhancerError):
    """A project (edit list) to export is invalid: the message names the field."""

    code = "project_invalid"


class RenderError(MediaEnhancerError):
    code = "render_failed"


class CancelledError(MediaEnhancerError):
    code = "cancelled"


# --- accounts and the server ---------------------------------------------------
# The server maps these to HTTP statuses in one table (mediaenhancer_server.errors);
# the CLI client turns error bodies back into these classes by ``code``.


class DatabaseError(MediaEnhancerError):
    code = "database_unavailable"


class ServerUnreachableError(MediaEnhancerError):
    code = "server_unreachable"


class AuthError(MediaEnhancerError):
    code = "unauthorized"


class UnauthorizedError(AuthError):
    code = "unauthorized"


class InvalidCredentialsError(AuthError):
    code = "invalid_credentials"


class NotLoggedInError(AuthError):
    code = "not_logged_in"


class DeviceFlowError(AuthError):
    """Answers of the device authorization token endpoint (RFC 8628 section 3.5)."""

    code = "device_flow_error"


class AuthorizationPendingError(DeviceFlowError):
    code = "authorization_pending"


class SlowDownError(DeviceFlowError):
    code = "slow_down"


class DeviceCodeExpiredError(DeviceFlowError):
    code = "expired_token"


class AccessDeniedError(DeviceFlowError):
    code = "access_denied"


class ForbiddenError(MediaEnhancerError):
    code = "forbidden"


class AccountDisabledError(ForbiddenError):
    code = "account_disabled"


class NotFoundError(MediaEnhancerError):
    code = "not_found"


class ConflictError(MediaEnhancerError):
    code = "conflict"


class ValidationError(MediaEnhancerError):
    """A request field is invalid; ``field`` names it (dotted for nested fields)."""

    code = "validation_failed"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class AmbiguousIdError(ValidationError):
    """An id prefix typed on the command line matches more than one of the user's ids."""

    code = "ambiguous_id"


class PayloadTooLargeError(MediaEnhancerError):
    code = "payload_too_large"


class RateLimitedError(MediaEnhancerError):
    """Too many attempts; ``retry_after`` is the number of seconds to wait."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class WebhookSignatureError(MediaEnhancerError):
    code = "webhook_signature_invalid"


class ServiceUnavailableError(MediaEnhancerError):
    code = "service_unavailable"


# --- Gemini: planner, transcription, subtitles (issue 7) -------------------------
# Raised by mediaenhancer_core.ai, which wraps every google-genai and httpx error in one
# of these. The Gemini planner catches them all and falls back to the measurement
# planner; transcription has no fallback and lets them through.


class AIError(MediaEnhancerError):
    """Gemini could not help (the message says why and what to do)."""

    code = "ai_failed"


class AINotConfiguredError(AIError):
    code = "ai_not_configured"


class AIKeyRejectedError(AIError):
    code = "ai_key_rejected"


class AIQuotaError(AIError):
    code = "ai_quota"


class AITimeoutError(AIError):
    code = "ai_timeout"


class AIRefusedError(AIError):
    code = "ai_refused"


class AIResponseError(AIError):
    code = "ai_bad_response"


class AIServiceError(AIError):
    code = "ai_unavailable"


# --- media library, storage and plan quotas (issue 4) ----------------------------
# Raised by mediaenhancer_core.storage (which wraps every boto3/botocore and OS error in
# StorageError), mediaenhancer_core.plans.quotas and the media, upload and project services.


class StorageError(MediaEnhancerError):
    """The object store (local folder or S3-compatible bucket) failed."""

    code = "storage_error"


class StorageUnavailableError(StorageError):
    code = "storage_unavailable"


class QuotaExceededError(MediaEnhancerError):
    """A plan limit is reached. The message states the limit, the usage and how to upgrade;
    ``details`` carries the same numbers for API clients (``limit``, ``used``, ``requested``,
    ``plan``)."""

    code = "quota_exceeded"

    def __init__(self, message: str, *, details: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.details = dict(details or {})


class StorageQuotaError(QuotaExceededError):
    code = "storage_quota_exceeded"


class ProjectQuotaError(QuotaExceededError):
    code = "project_quota_exceeded"


class ExportQuotaError(QuotaExceededError):
    code = "export_quota_exceeded"


class MediaTooLongError(QuotaExceededError):
    code = "media_too_long"


class UploadOffsetError(ConflictError):
    """A resumable upload chunk started at the wrong offset; ``offset`` is where to resume."""

    code = "upload_offset_mismatch"

    def __init__(self, message: str, *, offset: int | None = None) -> None:
        super().__init__(message)
        self.offset = offset
        self.details = {"offset": offset} if offset is not None else {}


class LengthRequiredError(ValidationError):
    code = "length_required"


class RangeNotSatisfiableError(ValidationError):
    code = "range_not_satisfiable"


class DownloadLinkError(ForbiddenError):
    code = "download_link_invalid"


# --- billing with Stripe (issue 5) ----------------------------------------------------
# Raised by mediaenhancer_core.billing, which wraps every stripe library error in one of
# these. Checkout, cancel, resume and the portal need Stripe; plans and the user's
# current plan do not.


class BillingError(MediaEnhancerError):
    code = "billing_failed"


class BillingNotConfiguredError(BillingError):
    """No Stripe secret key on this server (or no Stripe price for the plan asked for)."""

    code = "billing_not_configured"


class BillingProviderError(BillingError):
    """Stripe refused the request or could not be reached; ``missing`` when the object does not exist."""

    code = "billing_provider_error"

    def __init__(self, message: str, *, missing: bool = False) -> None:
        super().__init__(message)
        self.missing = missing


# --- hardening (issue 12) ---------------------------------------------------------------


class TempDirError(ServiceUnavailableError):
    """The folder for temporary work files (``MEDIAENHANCER_TEMP_DIR``, else the system's) cannot
    be used. A server answers 503 and retries jobs; the CLI has its own exit code."""

    code = "temp_dir_unusable"


class AIServerNotConfiguredError(AINotConfiguredError):
    """The account server has no Gemini API key: the user's own GEMINI_API_KEY cannot help."""

    code = "ai_not_configured_on_server"


class OutputExistsError(OutputError):
    """The output file exists and replacing it was not asked for (``--force``)."""

    code = "output_exists"


class EmailNotVerifiedError(ForbiddenError):
    """Open sign-up with verification on: the account has not opened its verification link yet."""

    code = "email_not_verified"


class TooManyJobsError(RateLimitedError):
    """The user already has as many jobs waiting or running as the plan allows (``retry_after``:
    when to try again); a job that ends frees a place."""

    code = "too_many_jobs"


# --- packaging extras (issue 15) ----------------------------------------------------------


class MissingExtraError(ConfigError):
    """A feature needs packages of an optional extra that is not installed
    (``pip install 'mediaenhancer[EXTRA]'``); raised by ``mediaenhancer_core.extras``."""

    code = "missing_extra"

    def __init__(self, message: str, *, extra: str = "") -> None:
        super().__init__(message)
        self.extra = extra
