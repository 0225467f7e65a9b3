"""Initial schema: every table of models.py.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# Frozen copies of the model types: a migration must not change when models.py does.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "processed_webhook_events",
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("provider IN ('clerk', 'stripe')", name=op.f("ck_processed_webhook_events_provider_valid")),
        sa.PrimaryKeyConstraint("provider", "event_id", name=op.f("pk_processed_webhook_events")),
    )
    op.create_index(
        op.f("ix_processed_webhook_events_processed_at"), "processed_webhook_events", ["processed_at"], unique=False
    )

    op.create_table(
        "sign_in_throttle",
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("failures >= 0", name=op.f("ck_sign_in_throttle_failures_not_negative")),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_sign_in_throttle")),
    )
    op.create_index(
        op.f("ix_sign_in_throttle_window_started_at"), "sign_in_throttle", ["window_started_at"], unique=False
    )

    op.create_table(
        "subscription_plans",
        sa.Column("id", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("price_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), server_default="usd", nullable=False),
        sa.Column("interval", sa.String(length=20), server_default="month", nullable=False),
        sa.Column("stripe_price_id", sa.String(length=255), nullable=True),
        sa.Column("features", JSON, nullable=False),
        sa.Column("storage_limit_bytes", sa.BigInteger(), nullable=True),
        sa.Column("project_limit", sa.Integer(), nullable=True),
        sa.Column("monthly_export_limit", sa.Integer(), nullable=True),
        sa.Column("max_media_duration_seconds", sa.Integer(), nullable=False),
        sa.Column("sort_order", sa.Integer(), server_default="0", nullable=False),
        sa.Column("is_public", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.CheckConstraint("interval IN ('month', 'year')", name=op.f("ck_subscription_plans_interval_valid")),
        sa.CheckConstraint("max_media_duration_seconds > 0", name=op.f("ck_subscription_plans_duration_limit_valid")),
        sa.CheckConstraint(
            "monthly_export_limit IS NULL OR monthly_export_limit >= 0",
            name=op.f("ck_subscription_plans_export_limit_valid"),
        ),
        sa.CheckConstraint("price_cents >= 0", name=op.f("ck_subscription_plans_price_not_negative")),
        sa.CheckConstraint(
            "project_limit IS NULL OR project_limit >= 0", name=op.f("ck_subscription_plans_project_limit_valid")
        ),
        sa.CheckConstraint(
            "storage_limit_bytes IS NULL OR storage_limit_bytes >= 0",
            name=op.f("ck_subscription_plans_storage_limit_valid"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription_plans")),
        sa.UniqueConstraint("stripe_price_id", name=op.f("uq_subscription_plans_stripe_price_id")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("clerk_user_id", sa.String(length=255), nullable=True),
        sa.Column("username", sa.String(length=100), nullable=True),
        sa.Column("avatar_url", sa.Text(), nullable=True),
        sa.Column("disabled", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("idp_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False
        ),
        sa.CheckConstraint("email = lower(email)", name=op.f("ck_users_email_normalized")),
        sa.CheckConstraint("length(email) <= 254", name=op.f("ck_users_email_length")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("clerk_user_id", name=op.f("uq_users_clerk_user_id")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_index("ix_users_created_at", "users", ["created_at"], unique=False)

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), server_default="api", nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("source IN ('api', 'device', 'admin')", name=op.f("ck_api_tokens_source_valid")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_index("ix_api_tokens_user_id_created_at", "api_tokens", ["user_id", "created_at"], unique=False)

    op.create_table(
        "device_authorizations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("device_code_hash", sa.String(length=64), nullable=False),
        sa.Column("user_code", sa.String(length=8), nullable=False),
        sa.Column("client_name", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_polled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status = 'pending' OR status = 'denied' OR user_id IS NOT NULL",
            name=op.f("ck_device_authorizations_approved_has_user"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'denied', 'consumed')",
            name=op.f("ck_device_authorizations_status_valid"),
        ),
        sa.CheckConstraint("interval_seconds > 0", name=op.f("ck_device_authorizations_interval_positive")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_device_authorizations_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_authorizations")),
        sa.UniqueConstraint("device_code_hash", name=op.f("uq_device_authorizations_device_code_hash")),
        sa.UniqueConstraint("user_code", name=op.f("uq_device_authorizations_user_code")),
    )
    op.create_index(op.f("ix_device_authorizations_expires_at"), "device_authorizations", ["expires_at"], unique=False)

    op.create_table(
        "media_files",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("original_filename", sa.String(length=255), nullable=False),
        sa.Column("file_type", sa.String(length=16), nullable=False),
        sa.Column("mime_type", sa.String(length=100), nullable=False),
        sa.Column("file_size", sa.BigInteger(), nullable=False),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("video_codec", sa.String(length=50), nullable=True),
        sa.Column("audio_codec", sa.String(length=50), nullable=True),
        sa.Column("checksum_sha256", sa.String(length=64), nullable=True),
        sa.Column("storage_key", sa.Text(), nullable=False),
        sa.Column("thumbnail_key", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="uploading", nullable=False),
        sa.Column("source_media_id", sa.Uuid(), nullable=True),
        sa.Column("metadata", JSON, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False
        ),
        sa.CheckConstraint("file_type IN ('video', 'audio', 'image')", name=op.f("ck_media_files_file_type_valid")),
        sa.CheckConstraint(
            "status IN ('uploading', 'processing', 'ready', 'failed', 'deleting')",
            name=op.f("ck_media_files_status_valid"),
        ),
        sa.CheckConstraint("(width IS NULL) = (height IS NULL)", name=op.f("ck_media_files_resolution_complete")),
        sa.CheckConstraint("duration IS NULL OR duration >= 0", name=op.f("ck_media_files_duration_not_negative")),
        sa.CheckConstraint("file_size >= 0", name=op.f("ck_media_files_file_size_not_negative")),
        sa.ForeignKeyConstraint(
            ["source_media_id"],
            ["media_files.id"],
            name=op.f("fk_media_files_source_media_id_media_files"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_media_files_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_files")),
        sa.UniqueConstraint("storage_key", name=op.f("uq_media_files_storage_key")),
    )
    op.create_index(op.f("ix_media_files_source_media_id"), "media_files", ["source_media_id"], unique=False)
    op.create_index("ix_media_files_user_id_created_at", "media_files", ["user_id", "created_at"], unique=False)
    op.create_index(
        "ix_media_files_user_id_file_type_created_at",
        "media_files",
        ["user_id", "file_type", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_media_files_user_id_status_created_at", "media_files", ["user_id", "status", "created_at"], unique=False
    )

    op.create_table(
        "projects",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("thumbnail_url", sa.Text(), nullable=True),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="draft", nullable=False),
        sa.Column("settings", JSON, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False
        ),
        sa.CheckConstraint("status IN ('draft', 'active', 'archived')", name=op.f("ck_projects_status_valid")),
        sa.CheckConstraint("duration IS NULL OR duration >= 0", name=op.f("ck_projects_duration_not_negative")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_projects_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
    )
    op.create_index("ix_projects_user_id_updated_at", "projects", ["user_id", "updated_at"], unique=False)

    op.create_table(
        "user_subscriptions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("plan_id", sa.String(length=50), nullable=False),
        sa.Column("stripe_subscription_id", sa.String(length=255), nullable=True),
        sa.Column("stripe_customer_id", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=32), server_default="active", nullable=False),
        sa.Column("current_period_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("current_period_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_at_period_end", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False
        ),
        sa.CheckConstraint(
            "status IN ('active', 'trialing', 'past_due', 'canceled', 'incomplete', 'incomplete_expired', 'unpaid', 'paused')",
            name=op.f("ck_user_subscriptions_status_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["subscription_plans.id"], name=op.f("fk_user_subscriptions_plan_id_subscription_plans")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_subscriptions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_subscriptions")),
        sa.UniqueConstraint("stripe_customer_id", name=op.f("uq_user_subscriptions_stripe_customer_id")),
        sa.UniqueConstraint("stripe_subscription_id", name=op.f("uq_user_subscriptions_stripe_subscription_id")),
        sa.UniqueConstraint("user_id", name=op.f("uq_user_subscriptions_user_id")),
    )
    op.create_index(op.f("ix_user_subscriptions_plan_id"), "user_subscriptions", ["plan_id"], unique=False)

    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_web_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_web_sessions_token_hash")),
    )
    op.create_index(op.f("ix_web_sessions_expires_at"), "web_sessions", ["expires_at"], unique=False)
    op.create_index(op.f("ix_web_sessions_user_id"), "web_sessions", ["user_id"], unique=False)

    op.create_table(
        "jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="queued", nullable=False),
        sa.Column("progress", sa.Integer(), server_default="0", nullable=False),
        sa.Column("media_id", sa.Uuid(), nullable=True),
        sa.Column("project_id", sa.Uuid(), nullable=True),
        sa.Column("result_media_id", sa.Uuid(), nullable=True),
        sa.Column("params", JSON, nullable=False),
        sa.Column("result", JSON, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("max_attempts", sa.Integer(), server_default="3", nullable=False),
        sa.Column("lease_owner", sa.String(length=255), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("callback_url", sa.Text(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False
        ),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed', 'canceled')", name=op.f("ck_jobs_status_valid")
        ),
        sa.CheckConstraint(
            "type IN ('denoise', 'upscale', 'colorgrade', 'stabilize', 'transcribe', 'auto', 'export')",
            name=op.f("ck_jobs_type_valid"),
        ),
        sa.CheckConstraint("(lease_owner IS NULL) = (lease_expires_at IS NULL)", name=op.f("ck_jobs_lease_complete")),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_jobs_attempts_not_negative")),
        sa.CheckConstraint("max_attempts >= 1", name=op.f("ck_jobs_max_attempts_positive")),
        sa.CheckConstraint("progress >= 0 AND progress <= 100", name=op.f("ck_jobs_progress_range")),
        sa.ForeignKeyConstraint(
            ["media_id"], ["media_files.id"], name=op.f("fk_jobs_media_id_media_files"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_jobs_project_id_projects"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["result_media_id"],
            ["media_files.id"],
            name=op.f("fk_jobs_result_media_id_media_files"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_jobs_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index(op.f("ix_jobs_media_id"), "jobs", ["media_id"], unique=False)
    op.create_index(op.f("ix_jobs_project_id"), "jobs", ["project_id"], unique=False)
    op.create_index(op.f("ix_jobs_result_media_id"), "jobs", ["result_media_id"], unique=False)
    op.create_index("ix_jobs_status_lease_expires_at", "jobs", ["status", "lease_expires_at"], unique=False)
    op.create_index("ix_jobs_user_id_created_at", "jobs", ["user_id", "created_at"], unique=False)
    op.create_index("ix_jobs_user_id_status_created_at", "jobs", ["user_id", "status", "created_at"], unique=False)

    op.create_table(
        "project_media",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("media_id", sa.Uuid(), nullable=False),
        sa.Column("track", sa.String(length=16), server_default="main", nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("start_time", sa.Float(), server_default="0", nullable=False),
        sa.Column("end_time", sa.Float(), nullable=True),
        sa.Column("transformations", JSON, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False
        ),
        sa.CheckConstraint("track IN ('main', 'audio')", name=op.f("ck_project_media_track_valid")),
        sa.CheckConstraint("end_time IS NULL OR end_time > start_time", name=op.f("ck_project_media_end_after_start")),
        sa.CheckConstraint("position >= 0", name=op.f("ck_project_media_position_not_negative")),
        sa.CheckConstraint("start_time >= 0", name=op.f("ck_project_media_start_not_negative")),
        sa.ForeignKeyConstraint(
            ["media_id"], ["media_files.id"], name=op.f("fk_project_media_media_id_media_files"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_project_media_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project_media")),
        sa.UniqueConstraint("project_id", "track", "position", name=op.f("uq_project_media_project_id_track_position")),
    )
    op.create_index(op.f("ix_project_media_media_id"), "project_media", ["media_id"], unique=False)

    op.create_table(
        "exports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("result_media_id", sa.Uuid(), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=True),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("resolution", sa.String(length=20), nullable=True),
        sa.Column("fps", sa.Float(), nullable=True),
        sa.Column("quality", sa.String(length=16), nullable=True),
        sa.Column("storage_key", sa.Text(), nullable=True),
        sa.Column("file_size", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="queued", nullable=False),
        sa.Column("progress", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False
        ),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed', 'canceled')", name=op.f("ck_exports_status_valid")
        ),
        sa.CheckConstraint("file_size IS NULL OR file_size >= 0", name=op.f("ck_exports_file_size_not_negative")),
        sa.CheckConstraint("progress >= 0 AND progress <= 100", name=op.f("ck_exports_progress_range")),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_exports_job_id_jobs"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_exports_project_id_projects"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["result_media_id"],
            ["media_files.id"],
            name=op.f("fk_exports_result_media_id_media_files"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_exports_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exports")),
    )
    op.create_index(op.f("ix_exports_job_id"), "exports", ["job_id"], unique=False)
    op.create_index(op.f("ix_exports_project_id"), "exports", ["project_id"], unique=False)
    op.create_index(op.f("ix_exports_result_media_id"), "exports", ["result_media_id"], unique=False)
    op.create_index("ix_exports_user_id_created_at", "exports", ["user_id", "created_at"], unique=False)
    op.create_index(
        "ix_exports_user_id_status_completed_at", "exports", ["user_id", "status", "completed_at"], unique=False
    )

    op.create_table(
        "usage_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("media_id", sa.Uuid(), nullable=True),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("details", JSON, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False
        ),
        sa.CheckConstraint(
            "kind IN ('storage_added', 'storage_freed', 'export_succeeded', 'job_succeeded', 'processing_seconds')",
            name=op.f("ck_usage_events_kind_valid"),
        ),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_usage_events_job_id_jobs"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(
            ["media_id"], ["media_files.id"], name=op.f("fk_usage_events_media_id_media_files"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_usage_events_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_events")),
    )
    op.create_index(op.f("ix_usage_events_job_id"), "usage_events", ["job_id"], unique=False)
    op.create_index(op.f("ix_usage_events_media_id"), "usage_events", ["media_id"], unique=False)
    op.create_index(
        "ix_usage_events_user_id_kind_created_at", "usage_events", ["user_id", "kind", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_usage_events_user_id_kind_created_at", table_name="usage_events")
    op.drop_index(op.f("ix_usage_events_media_id"), table_name="usage_events")
    op.drop_index(op.f("ix_usage_events_job_id"), table_name="usage_events")

    op.drop_table("usage_events")
    op.drop_index("ix_exports_user_id_status_completed_at", table_name="exports")
    op.drop_index("ix_exports_user_id_created_at", table_name="exports")
    op.drop_index(op.f("ix_exports_result_media_id"), table_name="exports")
    op.drop_index(op.f("ix_exports_project_id"), table_name="exports")
    op.drop_index(op.f("ix_exports_job_id"), table_name="exports")

    op.drop_table("exports")
    op.drop_index(op.f("ix_project_media_media_id"), table_name="project_media")

    op.drop_table("project_media")
    op.drop_index("ix_jobs_user_id_status_created_at", table_name="jobs")
    op.drop_index("ix_jobs_user_id_created_at", table_name="jobs")
    op.drop_index("ix_jobs_status_lease_expires_at", table_name="jobs")
    op.drop_index(op.f("ix_jobs_result_media_id"), table_name="jobs")
    op.drop_index(op.f("ix_jobs_project_id"), table_name="jobs")
    op.drop_index(op.f("ix_jobs_media_id"), table_name="jobs")

    op.drop_table("jobs")
    op.drop_index(op.f("ix_web_sessions_user_id"), table_name="web_sessions")
    op.drop_index(op.f("ix_web_sessions_expires_at"), table_name="web_sessions")

    op.drop_table("web_sessions")
    op.drop_index(op.f("ix_user_subscriptions_plan_id"), table_name="user_subscriptions")

    op.drop_table("user_subscriptions")
    op.drop_index("ix_projects_user_id_updated_at", table_name="projects")

    op.drop_table("projects")
    op.drop_index("ix_media_files_user_id_status_created_at", table_name="media_files")
    op.drop_index("ix_media_files_user_id_file_type_created_at", table_name="media_files")
    op.drop_index("ix_media_files_user_id_created_at", table_name="media_files")
    op.drop_index(op.f("ix_media_files_source_media_id"), table_name="media_files")

    op.drop_table("media_files")
    op.drop_index(op.f("ix_device_authorizations_expires_at"), table_name="device_authorizations")

    op.drop_table("device_authorizations")
    op.drop_index("ix_api_tokens_user_id_created_at", table_name="api_tokens")

    op.drop_table("api_tokens")
    op.drop_index("ix_users_created_at", table_name="users")

    op.drop_table("users")
    op.drop_table("subscription_plans")
    op.drop_index(op.f("ix_sign_in_throttle_window_started_at"), table_name="sign_in_throttle")

    op.drop_table("sign_in_throttle")
    op.drop_index(op.f("ix_processed_webhook_events_processed_at"), table_name="processed_webhook_events")

    op.drop_table("processed_webhook_events")
