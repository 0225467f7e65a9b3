"""The database schema of the whole product, as SQLAlchemy 2 typed models.

The seed design's tables (users, subscription_plans, user_subscriptions, media_files,
projects, exports) plus what the service needs: ordered project segments, jobs with a
lease, usage events, API tokens, browser sessions, device login codes, processed
webhook events and sign-in throttling counters.

Rules kept here, and checked by tests/server/test_schema.py:

- constraints live in the database: foreign keys, unique keys, NOT NULL and a CHECK
  for every status-like column (allowed values are the ``*_STATUSES`` tuples below);
- every list query has an index (each is named after the query it serves);
- portable types only: ``Uuid``, :class:`UTCDateTime`, :data:`JSONType`;
- the Alembic migrations in ``migrations/versions`` produce exactly this schema.

Changing a model means adding a migration: ``alembic -c src/mediaenhancer_core/db/alembic.ini
-x url=sqlite:////tmp/dev.db revision --autogenerate -m "..."`` (see docs/server.md).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from mediaenhancer_core.choices import JOB_STATUSES, JOB_TYPES
from mediaenhancer_core.db.types import JSONType, UTCDateTime, utcnow

__all__ = [
    "Base",
    "User",
    "SubscriptionPlan",
    "UserSubscription",
    "MediaFile",
    "Project",
    "ProjectMedia",
    "Export",
    "Job",
    "UsageEvent",
    "ApiToken",
    "WebSession",
    "DeviceAuthorization",
    "EmailVerification",
    "ProcessedWebhookEvent",
    "SignInThrottle",
    "SUBSCRIPTION_STATUSES",
    "PLAN_INTERVALS",
    "MEDIA_TYPES",
    "MEDIA_STATUSES",
    "PROJECT_STATUSES",
    "SEGMENT_TRACKS",
    "EXPORT_STATUSES",
    "JOB_TYPES",
    "JOB_STATUSES",
    "USAGE_KINDS",
    "TOKEN_SOURCES",
    "DEVICE_STATUSES",
    "WEBHOOK_PROVIDERS",
]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SUBSCRIPTION_STATUSES = (
    "active",
    "trialing",
    "past_due",
    "canceled",
    "incomplete",
    "incomplete_expired",
    "unpaid",
    "paused",
)
PLAN_INTERVALS = ("month", "year")
MEDIA_TYPES = ("video", "audio", "image")
MEDIA_STATUSES = ("uploading", "processing", "ready", "failed", "deleting")
PROJECT_STATUSES = ("draft", "active", "archived")
SEGMENT_TRACKS = ("main", "audio")
EXPORT_STATUSES = ("queued", "running", "succeeded", "failed", "canceled")
USAGE_KINDS = ("storage_added", "storage_freed", "export_succeeded", "job_succeeded", "processing_seconds")
TOKEN_SOURCES = ("api", "device", "admin")
DEVICE_STATUSES = ("pending", "approved", "denied", "consumed")
WEBHOOK_PROVIDERS = ("clerk", "stripe")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType}


def _uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column(Uuid, primary_key=True, default=uuid.uuid4)


def _created() -> Mapped[datetime]:
    return mapped_column(UTCDateTime(), default=utcnow, server_default=func.current_timestamp())


def _updated() -> Mapped[datetime]:
    return mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow, server_default=func.current_timestamp())


def _user_fk(nullable: bool = False) -> Mapped[Any]:
    return mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=nullable)


# --- accounts -----------------------------------------------------------------


class User(Base):
    """A person: a built-in account (email + password) and/or an identity-provider user."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("email = lower(email)", name="email_normalized"),
        CheckConstraint("length(email) <= 254", name="email_length"),
        Index("ix_users_created_at", "created_at"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    clerk_user_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    username: Mapped[str | None] = mapped_column(String(100))
    avatar_url: Mapped[str | None] = mapped_column(Text)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    deleted_at: Mapped[datetime | None]
    idp_updated_at: Mapped[datetime | None]  # newest identity-provider update applied (stale webhooks are skipped)
    callback_url: Mapped[str | None] = mapped_column(Text)  # where job completion callbacks go (issue 6)
    email_verified_at: Mapped[datetime | None]  # set when the owner proved the address (issue 12)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class SubscriptionPlan(Base):
    """A plan and its limits. NULL limit = unlimited. Seeded by migration 0002."""

    __tablename__ = "subscription_plans"
    __table_args__ = (
        CheckConstraint("price_cents >= 0", name="price_not_negative"),
        CheckConstraint(_in("interval", PLAN_INTERVALS), name="interval_valid"),
        CheckConstraint("storage_limit_bytes IS NULL OR storage_limit_bytes >= 0", name="storage_limit_valid"),
        CheckConstraint("project_limit IS NULL OR project_limit >= 0", name="project_limit_valid"),
        CheckConstraint("monthly_export_limit IS NULL OR monthly_export_limit >= 0", name="export_limit_valid"),
        CheckConstraint("max_media_duration_seconds > 0", name="duration_limit_valid"),
        CheckConstraint("max_running_jobs >= 1 AND max_queued_jobs >= 1", name="job_limits_valid"),
    )

    id: Mapped[str] = mapped_column(String(50), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    price_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3), default="usd", server_default="usd")
    interval: Mapped[str] = mapped_column(String(20), default="month", server_default="month")
    stripe_price_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    features: Mapped[Any] = mapped_column(JSONType)
    storage_limit_bytes: Mapped[int | None] = mapped_column(BigInteger)
    project_limit: Mapped[int | None] = mapped_column(Integer)
    monthly_export_limit: Mapped[int | None] = mapped_column(Integer)
    max_media_duration_seconds: Mapped[int] = mapped_column(Integer)
    sort_order: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    is_public: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    ai_enabled: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )  # Gemini features (issue 7)
    # jobs a user of the plan may have running at once, and waiting in the queue (issue 12)
    max_running_jobs: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    max_queued_jobs: Mapped[int] = mapped_column(Integer, default=10, server_default="10")


class UserSubscription(Base):
    """The user's current subscription (one row per user; no row = the free plan)."""

    __tablename__ = "user_subscriptions"
    __table_args__ = (CheckConstraint(_in("status", SUBSCRIPTION_STATUSES), name="status_valid"),)

    id: Mapped[uuid.UUID] = _uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("subscription_plans.id"), index=True)
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(String(32), default="active", server_default="active")
    current_period_start: Mapped[datetime | None]
    current_period_end: Mapped[datetime | None]
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    last_event_at: Mapped[datetime | None]  # creation time of the newest billing event applied
    grace_until: Mapped[datetime | None]  # while past_due: the plan's limits apply until then (migration 0003)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class ApiToken(Base):
    """A personal API token. Only its SHA-256 is stored; ``prefix`` identifies it in lists."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        CheckConstraint(_in("source", TOKEN_SOURCES), name="source_valid"),
        Index("ix_api_tokens_user_id_created_at", "user_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    user_id: Mapped[uuid.UUID] = _user_fk()
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16), default="api", server_default="api")
    created_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class WebSession(Base):
    """A signed-in browser (the account and device-approval pages). Cookie holds the secret."""

    __tablename__ = "web_sessions"

    id: Mapped[uuid.UUID] = _uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime] = mapped_column(index=True)


class EmailVerification(Base):
    """A link sent to prove an email address (open sign-up with verification on). The link holds
    the secret; only its SHA-256 is stored (issue 12)."""

    __tablename__ = "email_verifications"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime] = mapped_column(index=True)


class DeviceAuthorization(Base):
    """A pending `mediaenhancer login` (RFC 8628 device authorization grant)."""

    __tablename__ = "device_authorizations"
    __table_args__ = (
        CheckConstraint(_in("status", DEVICE_STATUSES), name="status_valid"),
        CheckConstraint("interval_seconds > 0", name="interval_positive"),
        CheckConstraint("status = 'pending' OR status = 'denied' OR user_id IS NOT NULL", name="approved_has_user"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    device_code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_code: Mapped[str] = mapped_column(String(8), unique=True)
    client_name: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    user_id: Mapped[uuid.UUID | None] = _user_fk(nullable=True)
    interval_seconds: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime] = mapped_column(index=True)
    last_polled_at: Mapped[datetime | None]


class ProcessedWebhookEvent(Base):
    """Webhook events already applied, so a redelivery changes nothing."""

    __tablename__ = "processed_webhook_events"
    __table_args__ = (CheckConstraint(_in("provider", WEBHOOK_PROVIDERS), name="provider_valid"),)

    provider: Mapped[str] = mapped_column(String(16), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(100))
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class SignInThrottle(Base):
    """Failed sign-in counters, keyed by account+address and by address (shared by all workers)."""

    __tablename__ = "sign_in_throttle"
    __table_args__ = (CheckConstraint("failures >= 0", name="failures_not_negative"),)

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_started_at: Mapped[datetime] = mapped_column(index=True)


# --- media, projects, exports, jobs -------------------------------------------


class MediaFile(Base):
    __tablename__ = "media_files"
    __table_args__ = (
        CheckConstraint(_in("file_type", MEDIA_TYPES), name="file_type_valid"),
        CheckConstraint(_in("status", MEDIA_STATUSES), name="status_valid"),
        CheckConstraint("file_size >= 0", name="file_size_not_negative"),
        CheckConstraint("duration IS NULL OR duration >= 0", name="duration_not_negative"),
        CheckConstraint("(width IS NULL) = (height IS NULL)", name="resolution_complete"),
        Index("ix_media_files_user_id_created_at", "user_id", "created_at"),
        Index("ix_media_files_user_id_file_type_created_at", "user_id", "file_type", "created_at"),
        Index("ix_media_files_user_id_status_created_at", "user_id", "status", "created_at"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    user_id: Mapped[uuid.UUID] = _user_fk()
    filename: Mapped[str] = mapped_column(String(255))
    original_filename: Mapped[str] = mapped_column(String(255))
    file_type: Mapped[str] = mapped_column(String(16))
    mime_type: Mapped[str] = mapped_column(String(100))
    file_size: Mapped[int] = mapped_column(BigInteger)
    duration: Mapped[float | None] = mapped_column(Float)  # seconds
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    video_codec: Mapped[str | None] = mapped_column(String(50))
    audio_codec: Mapped[str | None] = mapped_column(String(50))
    checksum_sha256: Mapped[str | None] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(Text, unique=True)
    thumbnail_key: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="uploading", server_default="uploading")
    source_media_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("media_files.id", ondelete="SET NULL"), index=True
    )
    media_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = (
        CheckConstraint(_in("status", PROJECT_STATUSES), name="status_valid"),
        CheckConstraint("duration IS NULL OR duration >= 0", name="duration_not_negative"),
        Index("ix_projects_user_id_updated_at", "user_id", "updated_at"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    user_id: Mapped[uuid.UUID] = _user_fk()
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    thumbnail_url: Mapped[str | None] = mapped_column(Text)
    duration: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="draft", server_default="draft")
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class ProjectMedia(Base):
    """One ordered segment of a project: a media file, trimmed, with its own transformations."""

    __tablename__ = "project_media"
    __table_args__ = (
        UniqueConstraint("project_id", "track", "position"),
        CheckConstraint(_in("track", SEGMENT_TRACKS), name="track_valid"),
        CheckConstraint("position >= 0", name="position_not_negative"),
        CheckConstraint("start_time >= 0", name="start_not_negative"),
        CheckConstraint("end_time IS NULL OR end_time > start_time", name="end_after_start"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    media_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("media_files.id", ondelete="RESTRICT"), index=True)
    track: Mapped[str] = mapped_column(String(16), default="main", server_default="main")
    position: Mapped[int] = mapped_column(Integer)
    start_time: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    end_time: Mapped[float | None] = mapped_column(Float)
    transformations: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = _created()


class Job(Base):
    """A server-side enhancement or export job. The lease makes sure one worker runs it at a time."""

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(_in("type", JOB_TYPES), name="type_valid"),
        CheckConstraint(_in("status", JOB_STATUSES), name="status_valid"),
        CheckConstraint("progress >= 0 AND progress <= 100", name="progress_range"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        CheckConstraint("max_attempts >= 1", name="max_attempts_positive"),
        CheckConstraint("(lease_owner IS NULL) = (lease_expires_at IS NULL)", name="lease_complete"),
        Index("ix_jobs_user_id_created_at", "user_id", "created_at"),
        Index("ix_jobs_user_id_status_created_at", "user_id", "status", "created_at"),
        Index("ix_jobs_status_lease_expires_at", "status", "lease_expires_at"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    user_id: Mapped[uuid.UUID] = _user_fk()
    type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="queued", server_default="queued")
    progress: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    media_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("media_files.id", ondelete="SET NULL"), index=True)
    project_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("projects.id", ondelete="SET NULL"), index=True)
    result_media_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("media_files.id", ondelete="SET NULL"), index=True
    )
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    max_attempts: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    lease_owner: Mapped[str | None] = mapped_column(String(255))
    lease_expires_at: Mapped[datetime | None]
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    callback_url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = _updated()


class Export(Base):
    __tablename__ = "exports"
    __table_args__ = (
        CheckConstraint(_in("status", EXPORT_STATUSES), name="status_valid"),
        CheckConstraint("progress >= 0 AND progress <= 100", name="progress_range"),
        CheckConstraint("file_size IS NULL OR file_size >= 0", name="file_size_not_negative"),
        Index("ix_exports_user_id_created_at", "user_id", "created_at"),
        Index("ix_exports_user_id_status_completed_at", "user_id", "status", "completed_at"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    user_id: Mapped[uuid.UUID] = _user_fk()
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), index=True)
    result_media_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("media_files.id", ondelete="SET NULL"), index=True
    )
    filename: Mapped[str | None] = mapped_column(String(255))
    format: Mapped[str] = mapped_column(String(16))
    resolution: Mapped[str | None] = mapped_column(String(20))
    fps: Mapped[float | None] = mapped_column(Float)
    quality: Mapped[str | None] = mapped_column(String(16))
    storage_key: Mapped[str | None] = mapped_column(Text)
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="queued", server_default="queued")
    progress: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    completed_at: Mapped[datetime | None]


class UsageEvent(Base):
    """An append-only record of metered use (storage added/freed, exports, processing time)."""

    __tablename__ = "usage_events"
    __table_args__ = (
        CheckConstraint(_in("kind", USAGE_KINDS), name="kind_valid"),
        Index("ix_usage_events_user_id_kind_created_at", "user_id", "kind", "created_at"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    user_id: Mapped[uuid.UUID] = _user_fk()
    kind: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[int] = mapped_column(BigInteger)
    media_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("media_files.id", ondelete="SET NULL"), index=True)
    job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), index=True)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # the export an export_succeeded record counts (no foreign key: deleting the project, and with
    # it the export, must not take its use away; unique: one record per export) (issue 12)
    export_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, unique=True)
    created_at: Mapped[datetime] = _created()
