"""Settings in one typed place.

Each setting is a field of :class:`Settings`, declared once with its type, default
and help text. Values come, highest priority first, from:

1. ``MEDIAENHANCER_<NAME>`` environment variables,
2. the TOML config file (``config.toml`` in the platformdirs config folder, or the
   file named by ``MEDIAENHANCER_CONFIG``),
3. the defaults declared here.

The front ends (CLI, server) call :meth:`Settings.load` once, with the environment
passed in, and hand the result to the core. Nothing in the core reads ``os.environ``.
``docs/settings.md`` documents every field; ``tests/test_settings.py`` fails when one
is missing there.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mediaenhancer_core.choices import PLANNERS, QUALITIES
from mediaenhancer_core.errors import ConfigError

__all__ = ["Secret", "Settings", "ENV_PREFIX", "default_dirs"]

ENV_PREFIX = "MEDIAENHANCER_"
APP_NAME = "mediaenhancer"


class Secret(str):
    """A string that never shows itself in repr() or logs."""

    def __repr__(self) -> str:
        return "Secret('**********')"

    def reveal(self) -> str:
        return str.__str__(self)


def _setting(default: Any, help: str, *, secret: bool = False, env: str | tuple[str, ...] | None = None) -> Any:
    """``env``: the variable(s) to read instead of ``MEDIAENHANCER_<NAME>``; the first one set wins."""
    return field(default=default, metadata={"help": help, "secret": secret, "env": env})


def default_dirs(environ: Mapping[str, str] | None = None) -> dict[str, Path]:
    """The platformdirs folders for config, data and cache."""
    import platformdirs  # noqa: PLC0415 - only when folders are resolved, not on --help

    env = environ or {}
    return {
        "config_dir": Path(env.get(ENV_PREFIX + "CONFIG_DIR") or platformdirs.user_config_dir(APP_NAME)),
        "data_dir": Path(env.get(ENV_PREFIX + "DATA_DIR") or platformdirs.user_data_dir(APP_NAME)),
        "cache_dir": Path(env.get(ENV_PREFIX + "CACHE_DIR") or platformdirs.user_cache_dir(APP_NAME)),
    }


@dataclass(frozen=True)
class Settings:
    """Every setting of Media Enhancer (see docs/settings.md)."""

    # --- folders -------------------------------------------------------------
    config_dir: Path | None = _setting(
        None, "Folder of config.toml and user presets (default: the platformdirs config folder)."
    )
    data_dir: Path | None = _setting(
        None, "Folder of the embedded database and local media storage (default: the platformdirs data folder)."
    )
    cache_dir: Path | None = _setting(
        None, "Folder for caches such as ffmpeg capability checks (default: the platformdirs cache folder)."
    )
    temp_dir: Path | None = _setting(
        None,
        "Folder for temporary analysis files (default: the system temporary folder). Outputs are always written beside their final path and renamed into place.",
    )

    # --- ffmpeg --------------------------------------------------------------
    ffmpeg: Path | None = _setting(
        None,
        "Path of the ffmpeg binary. Default: `ffmpeg` on PATH, else the binary bundled with the Python package (imageio-ffmpeg).",
    )
    ffprobe: Path | None = _setting(
        None,
        "Path of the ffprobe binary. Default: `ffprobe` beside ffmpeg or on PATH; without one, probing uses the bundled PyAV library.",
    )
    ffmpeg_threads: int = _setting(0, "Threads per ffmpeg process (0 lets ffmpeg decide).")

    # --- enhancement defaults ------------------------------------------------
    preset: str = _setting("podcast", "Default enhancement preset (see `mediaenhancer presets`).")
    quality: str = _setting("standard", "Default output quality: draft, standard, high or archive.")
    jobs: int = _setting(1, "Files enhanced in parallel by a batch (the --jobs default).")
    font_file: Path | None = _setting(
        None,
        "TrueType font for title overlays in exports (default: DejaVu Sans or Arial where installed, else fontconfig's default).",
    )

    # --- server and accounts (documented in docs/settings-server.md) --------
    database_url: Secret | None = _setting(
        None,
        "SQLAlchemy URL of the server's database, e.g. `postgresql+psycopg://user:pass@host/db`. Default: the SQLite file `mediaenhancer.db` in data_dir, which upgrades itself on first start.",
        secret=True,
    )
    server_host: str = _setting("127.0.0.1", "Address `mediaenhancer-server` listens on (the --host default).")
    server_port: int = _setting(3001, "Port `mediaenhancer-server` listens on (the --port default).")
    server_workers: int = _setting(1, "Server worker processes (the --workers default).")
    server_url: str = _setting(
        "http://127.0.0.1:3001",
        "Address of the account server that the `mediaenhancer` CLI talks to (the --server default).",
    )
    public_url: str | None = _setting(
        None,
        "The server's address as users' browsers reach it, used in links it prints (device login). Default: taken from each request.",
    )
    token: Secret | None = _setting(
        None, "API token for the CLI; wins over the token saved by `mediaenhancer login`.", secret=True
    )
    cors_origins: tuple = _setting(
        (),
        "Browser origins allowed to call the API cross-origin, comma-separated (e.g. `https://app.example.com`). Empty: none (deny by default).",
    )
    trusted_proxies: tuple = _setting(
        (),
        "Addresses of reverse proxies whose X-Forwarded-For/Proto headers are trusted (uvicorn's forwarded_allow_ips). Empty: none.",
    )
    max_body_bytes: int = _setting(
        1_048_576,
        "Largest request body the API accepts, in bytes (larger answers 413). Upload routes set their own limit.",
    )
    allow_signup: bool = _setting(
        True,
        "Whether the sign-up page creates accounts. Off: only `mediaenhancer-server users create` (or the identity provider) does.",
    )
    session_hours: int = _setting(336, "Lifetime of a browser session after sign-in, in hours.")
    signin_max_failures: int = _setting(
        5, "Failed sign-ins allowed per account and client address within signin_window_seconds before 429."
    )
    signin_ip_max_failures: int = _setting(
        50, "Failed sign-ins allowed per client address (all accounts) within signin_window_seconds before 429."
    )
    signin_window_seconds: int = _setting(900, "Window of the sign-in failure counters, in seconds.")
    device_code_ttl_seconds: int = _setting(600, "How long a `mediaenhancer login` code stays valid, in seconds.")
    auth_cache_seconds: int = _setting(
        10,
        "How long a server process remembers a checked API token and a profile, in seconds (0: always ask the database). A revoked token, disabled account or profile change takes effect at once in the process that made it and within this time in the others.",
    )
    device_poll_interval_seconds: int = _setting(
        5, "Minimum seconds between two polls of the device login token endpoint."
    )
    server_header_timeout_seconds: float = _setting(
        10.0,
        "Longest a client may take to send a request's line and headers, from its first byte (or from connecting); then the connection is closed (slow-header attacks).",
    )
    server_body_timeout_seconds: float = _setting(
        30.0,
        "Longest pause between two pieces of a request body while the server is waiting for it; then the connection is closed (slow-body attacks). Uploads that keep sending are never cut.",
    )
    signup_ip_max: int = _setting(
        5, "Sign-ups allowed per client address within abuse_window_seconds; then the sign-up page answers 429."
    )
    abuse_window_seconds: int = _setting(3600, "Window of the sign-up and device-login counters, in seconds.")
    device_code_ip_max: int = _setting(
        30,
        "Device login codes (`mediaenhancer login`) a client address may ask for within abuse_window_seconds; then 429 (RFC 8628 section 5.1).",
    )
    device_code_max_guesses: int = _setting(
        10,
        "Unknown or expired codes a signed-in user may type on the device page within abuse_window_seconds; then 429 (RFC 8628 section 5.1: user codes are short, guessing must be limited).",
    )
    signup_email_verification: bool = _setting(
        False,
        "Open sign-up proves the email address: the account signs in only after the link sent to it is opened. Off by default. Mail goes out through mail_backend.",
    )
    email_verification_hours: int = _setting(24, "How long an email verification link stays valid, in hours.")
    mail_backend: str = _setting(
        "outbox",
        "How the server sends mail (verification links): `outbox` writes each message as an .eml file into data_dir/outbox (nothing leaves the machine: for testing and for a relay that picks them up) or `smtp` (smtp_host).",
    )
    mail_from: str = _setting("Media Enhancer <no-reply@localhost>", "From address of the server's mail.")
    smtp_host: str | None = _setting(None, "SMTP server for mail_backend = smtp.")
    smtp_port: int = _setting(587, "Port of the SMTP server.")
    smtp_security: str = _setting(
        "starttls",
        "SMTP connection security: `starttls` (upgrade a plain connection, port 587), `tls` (TLS from the start, port 465) or `none` (local relays only).",
    )
    smtp_username: str | None = _setting(None, "SMTP user name (unset: no authentication).")
    smtp_password: Secret | None = _setting(None, "SMTP password.", secret=True)
    smtp_timeout_seconds: float = _setting(10.0, "Timeout of one SMTP conversation, in seconds.")
    log_level: str = _setting("info", "Server log level: debug, info, warning or error. Logs are JSON lines on stderr.")
    clerk_issuer: str | None = _setting(
        None,
        "Issuer (`iss`) of identity-provider JWTs to accept, e.g. `https://example.clerk.accounts.dev`. Unset: provider JWTs are refused.",
    )
    clerk_audience: str | None = _setting(
        None, "Required audience (`aud`) of identity-provider JWTs. Unset: `aud` is not checked."
    )
    clerk_authorized_parties: tuple = _setting(
        (),
        "Allowed `azp` (authorized party) origins of identity-provider JWTs, comma-separated. Empty: `azp` is not checked.",
    )
    clerk_jwks_url: str | None = _setting(
        None, "URL of the identity provider's JWKS. Default: `<clerk_issuer>/.well-known/jwks.json`."
    )
    clerk_webhook_secret: Secret | None = _setting(
        None,
        "Signing secret (`whsec_...`) of the identity provider's webhooks (Svix). Unset: POST /api/webhooks/clerk answers 503.",
        secret=True,
    )

    # --- Gemini: planner, transcription, subtitles (issue 7; docs/settings-ai.md) ---
    planner: str = _setting(
        "local",
        "Planner of `enhance`: `local` (measurements only, offline) or `gemini` (measurements plus Gemini's opinion on a small proxy of the media; falls back to `local` on any failure).",
    )
    gemini_api_key: Secret | None = _setting(
        None,
        "Gemini API key. Read from `MEDIAENHANCER_GEMINI_API_KEY`, then `GEMINI_API_KEY`, then the config file. Unset: the Gemini planner falls back to `local` and `transcribe` fails with exit code 60.",
        secret=True,
        env=("MEDIAENHANCER_GEMINI_API_KEY", "GEMINI_API_KEY"),
    )
    gemini_model: str = _setting("gemini-2.5-flash", "Gemini model used for planning, transcription and summaries.")
    gemini_base_url: str = _setting(
        "https://generativelanguage.googleapis.com", "Address of the Gemini API (a proxy or a compatible server)."
    )
    gemini_api_version: str | None = _setting(
        None, "API version in Gemini URLs, e.g. `v1beta`. Default: the google-genai SDK's (`v1`)."
    )
    gemini_timeout_seconds: float = _setting(
        120.0, "Longest wait for one Gemini request (transcription of one chunk, a file upload), in seconds."
    )
    gemini_planner_timeout_seconds: float = _setting(
        20.0,
        "Longest wait for the Gemini planner's answer before `enhance` falls back to the measurement planner, in seconds.",
    )
    gemini_retries: int = _setting(
        1,
        "Retries of a Gemini request that failed with a 5xx answer or a network error (never for quota, refusals or timeouts).",
    )
    gemini_inline_max_bytes: int = _setting(
        8_000_000,
        "Media up to this many bytes per request is sent inline; larger media goes through the Files API (resumable upload, deleted after use).",
    )
    gemini_send_full_media: bool = _setting(
        False,
        "Send the whole file to the Gemini planner instead of a proxy (a 60 s low-bitrate audio excerpt and a few small keyframes). Off by default: only the proxy leaves the machine.",
    )
    transcribe_chunk_seconds: float = _setting(
        300.0,
        "Longest piece of audio sent for transcription at once; longer files are split in pauses (the analysis' silence spans).",
    )
    transcribe_concurrency: int = _setting(2, "Chunks transcribed in parallel.")

    # --- media library, storage and uploads (issue 4; docs/settings-storage.md) ---
    storage_backend: str = _setting(
        "local",
        "Where media files are kept: `local` (a folder, see storage_path) or `s3` (an S3-compatible bucket: AWS S3, Cloudflare R2, MinIO).",
    )
    storage_path: Path | None = _setting(None, "Folder of the local storage backend (default: `media` in data_dir).")
    s3_endpoint_url: str | None = _setting(
        None,
        "Address of the S3-compatible service, e.g. `https://<account>.r2.cloudflarestorage.com`. Unset: AWS S3 for s3_region.",
    )
    s3_region: str = _setting("us-east-1", "Region of the bucket (`auto` for Cloudflare R2). Used in SigV4 signatures.")
    s3_bucket: str | None = _setting(
        None, "Bucket that holds the media (must exist). Required with storage_backend = s3."
    )
    s3_access_key_id: str | None = _setting(
        None, "Access key id for the bucket. Unset: boto3's usual credential chain (instance role, ~/.aws)."
    )
    s3_secret_access_key: Secret | None = _setting(None, "Secret access key for the bucket.", secret=True)
    s3_prefix: str = _setting("", "Prefix of every object key in the bucket, e.g. `mediaenhancer/` to share a bucket.")
    s3_addressing_style: str = _setting(
        "auto",
        "Bucket addressing: `auto`, `path` (https://host/bucket/key; MinIO, test servers) or `virtual` (https://bucket.host/key).",
    )
    s3_checksum: str = _setting(
        "crc32",
        "Integrity check of upload parts: `crc32` (each part carries its CRC32, which S3 verifies, so its body is not SHA-256-signed again; the multipart upload is created with ChecksumAlgorithm CRC32) or `off` for S3-compatible services that reject checksums (botocore then signs each part's SHA-256). Applies to uploads started after a change.",
    )
    s3_max_attempts: int = _setting(
        3, "Attempts per S3 request (botocore's standard retry mode) before the upload fails with 503."
    )
    s3_timeout_seconds: float = _setting(60.0, "Connect and read timeout of one S3 request, in seconds.")
    signed_url_ttl_seconds: int = _setting(
        3600,
        "Lifetime of signed download URLs (S3 presigned GET or the local backend's HMAC-signed /storage/ URL), in seconds.",
    )
    url_signing_secret: Secret | None = _setting(
        None,
        "HMAC key of the local backend's download URLs. Unset: a random key is created once in data_dir/url-signing.key (shared by the server's workers).",
        secret=True,
    )
    max_upload_bytes: int = _setting(
        21_474_836_480,
        "Largest media file accepted, in bytes (default 20 GiB). Larger uploads answer 413 before any byte is read.",
    )
    upload_part_bytes: int = _setting(
        8_388_608,
        "Part size of uploads to storage and the granularity of resumable uploads, in bytes (at least 5 MiB, S3's minimum part size; default 8 MiB). An interrupted upload resumes from the last whole part.",
    )
    upload_concurrency: int = _setting(
        2, "Parts of one upload sent to S3 at once (each holds upload_part_bytes of memory)."
    )
    upload_stale_seconds: int = _setting(
        86_400,
        "Age after which the reaper removes an upload nobody continued, and any stored object without a media row, in seconds.",
    )
    storage_reap_interval_seconds: int = _setting(
        3600,
        "How often the server runs the reaper by itself, in seconds (0: never; run `mediaenhancer-server storage reap` instead).",
    )
    thumbnail_width: int = _setting(320, "Width of the JPEG thumbnails made for videos and images, in pixels.")

    # --- billing with Stripe (issue 5; docs/settings-billing.md) --------------
    # No secret key: billing is off (plans are listed, checkout answers 503, plans are set
    # with `mediaenhancer-server users set-plan`).
    stripe_secret_key: Secret | None = _setting(
        None,
        "Stripe secret API key (`sk_live_...` or `sk_test_...`, or a restricted key with write access to customers, Checkout, subscriptions and the billing portal). Unset: billing is off.",
        secret=True,
    )
    stripe_webhook_secret: Secret | None = _setting(
        None,
        "Signing secret (`whsec_...`) of the Stripe webhook endpoint that points at POST /api/webhooks/stripe. Unset: that route answers 503.",
        secret=True,
    )
    stripe_api_base: str = _setting(
        "https://api.stripe.com", "Address of the Stripe API (a proxy, or the tests' local stand-in)."
    )
    stripe_price_creator: str | None = _setting(
        None,
        "Stripe price id (`price_...`) of the Creator plan's recurring price. Unset: the plan's `stripe_price_id` column, else checkout for it answers 503.",
    )
    stripe_price_professional: str | None = _setting(
        None,
        "Stripe price id (`price_...`) of the Professional plan's recurring price. Unset: the plan's `stripe_price_id` column, else checkout for it answers 503.",
    )
    past_due_grace_days: int = _setting(
        7,
        "Days a `past_due` subscription keeps its plan's limits, counted from the start of the unpaid period; then the free plan's limits apply until a payment succeeds.",
    )
    checkout_success_url: str | None = _setting(
        None,
        "Where Stripe Checkout sends the user after paying. Default: `<public_url>/checkout/success?session_id={CHECKOUT_SESSION_ID}` (the server's page).",
    )
    checkout_cancel_url: str | None = _setting(
        None,
        "Where Stripe Checkout sends the user who goes back without paying. Default: `<public_url>/checkout/canceled`.",
    )
    billing_portal_return_url: str | None = _setting(
        None, "Where the Stripe billing portal's return link leads. Default: `<public_url>/pricing`."
    )
    stripe_timeout_seconds: float = _setting(30.0, "Longest wait for one Stripe API request, in seconds.")
    stripe_max_network_retries: int = _setting(
        2,
        "Retries of a Stripe request after a network error or a 409/5xx answer (the library adds an idempotency key, so a retry never does the work twice).",
    )
    stripe_webhook_tolerance_seconds: int = _setting(
        300,
        "Oldest `Stripe-Signature` timestamp accepted, in seconds (older deliveries are refused as replays with 400).",
    )
    stripe_hosted_origins: tuple = _setting(
        ("https://checkout.stripe.com", "https://billing.stripe.com"),
        "Origins of Stripe's hosted Checkout and billing-portal pages, comma-separated: the pricing page's forms may lead there (its Content-Security-Policy `form-action`). Add your custom domain if you gave Checkout one in Stripe.",
    )

    # --- jobs: task queue, workers, callbacks (issue 6; docs/settings-jobs.md) ---
    queue: str = _setting(
        "embedded",
        "Task queue: `embedded` (SQLite file in data_dir, worker threads in `mediaenhancer-server`) or `redis` (at redis_url; run `mediaenhancer-server worker` on any number of hosts).",
    )
    redis_url: Secret | None = _setting(
        None, "Redis URL of the task queue when queue = redis, e.g. `redis://host:6379/0`.", secret=True
    )
    queue_name: str = _setting(
        "mediaenhancer",
        "Name of the queue inside Redis (or the queue file): installations sharing one Redis need different names.",
    )
    embedded_workers: int = _setting(
        1,
        "Worker threads `mediaenhancer-server` runs itself (0: none, e.g. when separate `mediaenhancer-server worker` processes do the work).",
    )
    worker_threads: int = _setting(1, "Jobs one `mediaenhancer-server worker` process runs at a time.")
    job_lease_seconds: float = _setting(
        60.0,
        "How long a worker's claim on a job lasts without a heartbeat; a job whose worker died is taken over after this.",
    )
    job_heartbeat_seconds: float = _setting(
        5.0, "How often a running job renews its lease, reports progress and checks for cancellation."
    )
    job_sweep_seconds: float = _setting(
        15.0, "How often workers look for jobs whose worker died (expired leases) and queue them again."
    )
    job_max_attempts: int = _setting(
        3,
        "Attempts per job: transient failures (storage, network) are retried with exponential backoff until this many.",
    )
    job_retry_base_seconds: float = _setting(10.0, "Delay before the first retry of a job; doubled each attempt.")
    callback_signing_secret: Secret | None = _setting(
        None,
        "Key from which each user's callback signing secret is derived. Unset: a random key is created once in data_dir/callback-signing.key.",
        secret=True,
    )
    callback_timeout_seconds: float = _setting(10.0, "Timeout of one completion-callback POST.")
    callback_max_attempts: int = _setting(6, "Deliveries tried per completion callback (exponential backoff from 5 s).")
    callback_dns_timeout_seconds: float = _setting(
        3.0,
        "Longest wait for the DNS lookup of a callback URL's host, in seconds (lookups run on their own threads, never on the database's).",
    )
    callback_allow_private: bool = _setting(
        False,
        "Allow callback URLs that resolve to private or loopback addresses (off: the server would otherwise reach into its own network).",
    )

    # ------------------------------------------------------------------------
    @classmethod
    def fields(cls) -> tuple[dataclasses.Field[Any], ...]:
        return dataclasses.fields(cls)

    @classmethod
    def env_name(cls, name: str) -> str:
        return ENV_PREFIX + name.upper()

    @classmethod
    def load(
        cls,
        environ: Mapping[str, str],
        *,
        config_file: Path | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> Settings:
        """Build settings from the environment, then the config file, then defaults.

        ``overrides`` (from command-line options) win over everything.
        """
        dirs = default_dirs(environ)
        if config_file is None:
            explicit = environ.get(ENV_PREFIX + "CONFIG")
            config_file = Path(explicit) if explicit else dirs["config_dir"] / "config.toml"
            must_exist = bool(explicit)
        else:
            must_exist = True
        file_values = _read_config_file(config_file, must_exist=must_exist)

        known = {f.name for f in cls.fields()}
        unknown = sorted(set(file_values) - known)
        if unknown:
            raise ConfigError(
                f"{config_file}: unknown setting {unknown[0]!r}; see docs/settings.md for the valid names",
                path=config_file,
            )

        values: dict[str, Any] = {}
        for f in cls.fields():
            names = f.metadata.get("env") or cls.env_name(f.name)
            names = (names,) if isinstance(names, str) else names
            env_key = next((n for n in names if environ.get(n)), names[0])
            source: str | None = None
            raw: Any = dataclasses.MISSING
            if overrides and overrides.get(f.name) is not None:
                raw, source = overrides[f.name], "command line"
            elif env_key in environ and environ[env_key] != "":
                raw, source = environ[env_key], env_key
            elif f.name in file_values:
                raw, source = file_values[f.name], f"{config_file} [{f.name}]"
            if raw is dataclasses.MISSING:
                continue
            values[f.name] = _cast(raw, f, source or f.name)

        for name in ("config_dir", "data_dir", "cache_dir"):
            if values.get(name) is None:
                values[name] = dirs[name]
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.jobs < 1:
            raise ConfigError(f"{self.env_name('jobs')}: must be 1 or more, got {self.jobs}")
        if self.ffmpeg_threads < 0:
            raise ConfigError(f"{self.env_name('ffmpeg_threads')}: must be 0 or more, got {self.ffmpeg_threads}")
        if self.quality not in QUALITIES:
            raise ConfigError(
                f"{self.env_name('quality')}: unknown quality {self.quality!r}; use draft, standard, high or archive"
            )
        self._validate_jobs()
        self._validate_server()
        self._validate_ai()
        self._validate_storage()
        self._validate_billing()

    def _validate_server(self) -> None:
        for name in ("server_port",):
            if not 0 < getattr(self, name) < 65536:
                raise ConfigError(f"{self.env_name(name)}: must be a port number 1-65535, got {getattr(self, name)}")
        for name in (
            "server_workers",
            "max_body_bytes",
            "session_hours",
            "signin_max_failures",
            "signin_ip_max_failures",
            "signin_window_seconds",
            "device_code_ttl_seconds",
            "device_poll_interval_seconds",
            "signup_ip_max",
            "abuse_window_seconds",
            "device_code_ip_max",
            "device_code_max_guesses",
            "email_verification_hours",
            "smtp_port",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{self.env_name(name)}: must be 1 or more, got {getattr(self, name)}")
        for name in (
            "server_header_timeout_seconds",
            "server_body_timeout_seconds",
            "smtp_timeout_seconds",
            "callback_dns_timeout_seconds",
        ):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{self.env_name(name)}: must be more than 0, got {getattr(self, name)}")
        if self.mail_backend not in {"outbox", "smtp"}:
            raise ConfigError(f"{self.env_name('mail_backend')}: use outbox or smtp, got {self.mail_backend!r}")
        if self.mail_backend == "smtp" and not self.smtp_host:
            raise ConfigError(f"{self.env_name('mail_backend')}=smtp needs {self.env_name('smtp_host')}")
        if self.smtp_security not in {"starttls", "tls", "none"}:
            raise ConfigError(
                f"{self.env_name('smtp_security')}: use starttls, tls or none, got {self.smtp_security!r}"
            )
        if self.auth_cache_seconds < 0:
            raise ConfigError(
                f"{self.env_name('auth_cache_seconds')}: must be 0 or more, got {self.auth_cache_seconds}"
            )
        if self.log_level not in {"debug", "info", "warning", "error"}:
            raise ConfigError(
                f"{self.env_name('log_level')}: unknown level {self.log_level!r}; use debug, info, warning or error"
            )
        for name in ("server_url", "public_url", "clerk_issuer", "clerk_jwks_url"):
            value = getattr(self, name)
            if value is not None and not value.startswith(("http://", "https://")):
                raise ConfigError(f"{self.env_name(name)}: must be an http:// or https:// URL, got {value!r}")
        for origin in self.cors_origins:
            if origin.endswith("/") or (origin != "*" and not origin.startswith(("http://", "https://"))):
                raise ConfigError(
                    f"{self.env_name('cors_origins')}: {origin!r} is not an origin; write scheme://host[:port] without a path"
                )

    def _validate_ai(self) -> None:
        if self.planner not in PLANNERS:
            raise ConfigError(f"{self.env_name('planner')}: unknown planner {self.planner!r}; use local or gemini")
        if not self.gemini_base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"{self.env_name('gemini_base_url')}: must be an http:// or https:// URL, got {self.gemini_base_url!r}"
            )
        if not self.gemini_model or any(c.isspace() for c in self.gemini_model):
            raise ConfigError(
                f"{self.env_name('gemini_model')}: {self.gemini_model!r} is not a model name such as gemini-2.5-flash"
            )
        for name in ("gemini_timeout_seconds", "gemini_planner_timeout_seconds", "transcribe_chunk_seconds"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{self.env_name(name)}: must be more than 0, got {getattr(self, name)}")
        if self.transcribe_chunk_seconds < 30:
            raise ConfigError(
                f"{self.env_name('transcribe_chunk_seconds')}: must be 30 or more, got {self.transcribe_chunk_seconds}"
            )
        if not 0 <= self.gemini_retries <= 10:
            raise ConfigError(f"{self.env_name('gemini_retries')}: must be 0 to 10, got {self.gemini_retries}")
        for name in ("gemini_inline_max_bytes", "transcribe_concurrency"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{self.env_name(name)}: must be 1 or more, got {getattr(self, name)}")

    def _validate_storage(self) -> None:
        if self.storage_backend not in {"local", "s3"}:
            raise ConfigError(
                f"{self.env_name('storage_backend')}: unknown backend {self.storage_backend!r}; use local or s3"
            )
        if self.storage_backend == "s3" and not self.s3_bucket:
            raise ConfigError(
                f"{self.env_name('s3_bucket')}: required with storage_backend = s3; name an existing bucket"
            )
        if self.s3_endpoint_url is not None and not self.s3_endpoint_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"{self.env_name('s3_endpoint_url')}: must be an http:// or https:// URL, got {self.s3_endpoint_url!r}"
            )
        if self.s3_addressing_style not in {"auto", "path", "virtual"}:
            raise ConfigError(
                f"{self.env_name('s3_addressing_style')}: use auto, path or virtual, got {self.s3_addressing_style!r}"
            )
        if self.s3_checksum not in {"crc32", "off"}:
            raise ConfigError(f"{self.env_name('s3_checksum')}: use crc32 or off, got {self.s3_checksum!r}")
        if self.upload_part_bytes < 5 * 1024 * 1024:
            raise ConfigError(
                f"{self.env_name('upload_part_bytes')}: must be at least 5242880 (5 MiB, S3's smallest part), got {self.upload_part_bytes}"
            )
        for name in (
            "s3_max_attempts",
            "signed_url_ttl_seconds",
            "max_upload_bytes",
            "upload_concurrency",
            "upload_stale_seconds",
            "thumbnail_width",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{self.env_name(name)}: must be 1 or more, got {getattr(self, name)}")
        if self.storage_reap_interval_seconds < 0:
            raise ConfigError(
                f"{self.env_name('storage_reap_interval_seconds')}: must be 0 or more, got {self.storage_reap_interval_seconds}"
            )
        if not self.s3_timeout_seconds > 0:
            raise ConfigError(
                f"{self.env_name('s3_timeout_seconds')}: must be more than 0, got {self.s3_timeout_seconds}"
            )

    def _validate_billing(self) -> None:
        for name in ("stripe_api_base", "checkout_success_url", "checkout_cancel_url", "billing_portal_return_url"):
            value = getattr(self, name)
            if value is not None and not value.startswith(("http://", "https://")):
                raise ConfigError(f"{self.env_name(name)}: must be an http:// or https:// URL, got {value!r}")
        for origin in self.stripe_hosted_origins:
            parts = origin.split("://", 1)
            if len(parts) != 2 or parts[0] not in ("http", "https") or not parts[1] or "/" in parts[1]:
                raise ConfigError(
                    f"{self.env_name('stripe_hosted_origins')}: {origin!r} is not an origin; "
                    "write scheme://host[:port] without a path"
                )
        key = self.stripe_secret_key.reveal() if self.stripe_secret_key else None
        if key is not None and not key.startswith(("sk_", "rk_")):
            raise ConfigError(
                f"{self.env_name('stripe_secret_key')}: not a Stripe secret key (sk_... or rk_...); "
                "a publishable key (pk_...) cannot create checkouts"
            )
        hook = self.stripe_webhook_secret.reveal() if self.stripe_webhook_secret else None
        if hook is not None and not hook.startswith("whsec_"):
            raise ConfigError(
                f"{self.env_name('stripe_webhook_secret')}: not a webhook signing secret (whsec_...); "
                "copy it from the endpoint in Stripe's dashboard"
            )
        if self.past_due_grace_days < 0:
            raise ConfigError(
                f"{self.env_name('past_due_grace_days')}: must be 0 or more, got {self.past_due_grace_days}"
            )
        if not self.stripe_timeout_seconds > 0:
            raise ConfigError(
                f"{self.env_name('stripe_timeout_seconds')}: must be more than 0, got {self.stripe_timeout_seconds}"
            )
        if not 0 <= self.stripe_max_network_retries <= 10:
            raise ConfigError(
                f"{self.env_name('stripe_max_network_retries')}: must be 0 to 10, got {self.stripe_max_network_retries}"
            )
        if self.stripe_webhook_tolerance_seconds < 1:
            raise ConfigError(
                f"{self.env_name('stripe_webhook_tolerance_seconds')}: must be 1 or more, got {self.stripe_webhook_tolerance_seconds}"
            )

    def _validate_jobs(self) -> None:
        name = self.env_name
        if self.queue not in ("embedded", "redis"):
            raise ConfigError(f"{name('queue')}: unknown queue {self.queue!r}; use embedded or redis")
        if self.queue == "redis" and not self.redis_url:
            raise ConfigError(f"{name('queue')}=redis needs {name('redis_url')} (e.g. redis://host:6379/0)")
        for field_name in (
            "job_lease_seconds",
            "job_heartbeat_seconds",
            "job_sweep_seconds",
            "job_retry_base_seconds",
            "callback_timeout_seconds",
        ):
            if not getattr(self, field_name) > 0:
                raise ConfigError(f"{name(field_name)}: must be more than 0, got {getattr(self, field_name)}")
        for field_name in ("job_max_attempts", "callback_max_attempts", "worker_threads"):
            if getattr(self, field_name) < 1:
                raise ConfigError(f"{name(field_name)}: must be 1 or more, got {getattr(self, field_name)}")
        if self.embedded_workers < 0:
            raise ConfigError(f"{name('embedded_workers')}: must be 0 or more, got {self.embedded_workers}")
        if self.job_heartbeat_seconds * 2 > self.job_lease_seconds:
            raise ConfigError(
                f"{name('job_heartbeat_seconds')} ({self.job_heartbeat_seconds:g}) must be at most half of "
                f"{name('job_lease_seconds')} ({self.job_lease_seconds:g}), or jobs lose their lease while running"
            )

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    def public_dict(self) -> dict[str, Any]:
        """All values, with secrets masked: safe to print or log."""
        out: dict[str, Any] = {}
        for f in self.fields():
            value = getattr(self, f.name)
            if f.metadata.get("secret") and value:
                out[f.name] = "**********"
            elif isinstance(value, Path):
                out[f.name] = str(value)
            else:
                out[f.name] = value
        return out


def _read_config_file(path: Path, *, must_exist: bool) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if must_exist:
            raise ConfigError(
                f"{path}: config file not found; create it or unset MEDIAENHANCER_CONFIG", path=path
            ) from None
        return {}
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot read config file ({exc.strerror}); check its permissions", path=path
        ) from None
    try:
        parsed = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the file or remove it", path=path) from None
    return parsed


def _field_type(f: dataclasses.Field[Any]) -> tuple[type, bool]:
    """The base type of a field and whether it is optional."""
    hints = typing.get_type_hints(Settings)
    tp = hints[f.name]
    optional = False
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        optional = len(args) < len(typing.get_args(tp))
        tp = args[0]
    return tp, optional


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _cast(raw: Any, f: dataclasses.Field[Any], source: str) -> Any:
    tp, optional = _field_type(f)
    try:
        if tp is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError("expected true or false")
        if tp is int:
            if isinstance(raw, bool):
                raise ValueError("expected a whole number")
            return int(raw)
        if tp is float:
            return float(raw)
        if tp is Path:
            return Path(str(raw)).expanduser()
        if tp is Secret:
            return Secret(str(raw))
        if tp is str:
            return str(raw)
        if tp is tuple:
            if isinstance(raw, (list, tuple)):
                return tuple(str(x) for x in raw)
            return tuple(x.strip() for x in str(raw).split(",") if x.strip())
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: invalid value {raw!r} for {f.name} ({exc}); see docs/settings.md") from None
    raise ConfigError(f"{source}: unsupported setting type for {f.name}")  # pragma: no cover
