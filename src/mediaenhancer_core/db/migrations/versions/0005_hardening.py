"""Hardening (issue 12): usage records apart from the rows users delete, job limits per plan,
email verification.

- ``usage_events.export_id`` (unique, no foreign key): the export an ``export_succeeded`` record
  counts. Monthly exports are counted from these records, so deleting a project (which deletes
  its exports) no longer resets the count. Existing records get it from ``details.export_id``;
  succeeded exports without a record get one, dated when they completed.
- ``subscription_plans.max_running_jobs`` / ``max_queued_jobs``: per-user job limits by plan.
- ``users.email_verified_at`` and ``email_verifications``: optional proof of an address for open
  sign-up (users that exist now count as verified).

Revision ID: 0005_hardening
Revises: 0004_jobs_ai
"""

from __future__ import annotations

import json
import uuid

import sqlalchemy as sa
from alembic import op

revision = "0005_hardening"
down_revision = "0004_jobs_ai"
branch_labels = None
depends_on = None

JOB_LIMITS = {"starter": (1, 5), "creator": (2, 20), "professional": (4, 50)}


def upgrade() -> None:
    with op.batch_alter_table("usage_events") as batch:
        batch.add_column(sa.Column("export_id", sa.Uuid(), nullable=True))
        batch.create_unique_constraint(batch.f("uq_usage_events_export_id"), ["export_id"])
    with op.batch_alter_table("subscription_plans") as batch:
        batch.add_column(sa.Column("max_running_jobs", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("max_queued_jobs", sa.Integer(), nullable=False, server_default="10"))
        batch.create_check_constraint(
            batch.f("ck_subscription_plans_job_limits_valid"), "max_running_jobs >= 1 AND max_queued_jobs >= 1"
        )
    op.add_column("users", sa.Column("email_verified_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "email_verifications",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_email_verifications_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_email_verifications")),
    )
    op.create_index(op.f("ix_email_verifications_expires_at"), "email_verifications", ["expires_at"], unique=False)
    op.create_index(op.f("ix_email_verifications_user_id"), "email_verifications", ["user_id"], unique=False)

    bind = op.get_bind()
    plans = sa.table(
        "subscription_plans",
        sa.column("id", sa.String),
        sa.column("max_running_jobs", sa.Integer),
        sa.column("max_queued_jobs", sa.Integer),
    )
    for plan_id, (running, queued) in JOB_LIMITS.items():
        bind.execute(
            plans.update().where(plans.c.id == plan_id).values(max_running_jobs=running, max_queued_jobs=queued)
        )
    users = sa.table(
        "users",
        sa.column("email_verified_at", sa.DateTime(timezone=True)),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    bind.execute(users.update().values(email_verified_at=users.c.created_at))
    _backfill_export_usage(bind)


def _backfill_export_usage(bind: sa.engine.Connection) -> None:
    events = sa.table(
        "usage_events",
        sa.column("id", sa.Uuid),
        sa.column("user_id", sa.Uuid),
        sa.column("kind", sa.String),
        sa.column("quantity", sa.BigInteger),
        sa.column("details", sa.JSON),
        sa.column("export_id", sa.Uuid),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    exports = sa.table(
        "exports",
        sa.column("id", sa.Uuid),
        sa.column("user_id", sa.Uuid),
        sa.column("status", sa.String),
        sa.column("completed_at", sa.DateTime(timezone=True)),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    counted: set[uuid.UUID] = set()
    for event_id, details in bind.execute(
        sa.select(events.c.id, events.c.details).where(events.c.kind == "export_succeeded")
    ):
        if isinstance(details, str):
            details = json.loads(details)
        try:
            export_id = uuid.UUID(str((details or {}).get("export_id")))
        except ValueError:
            continue
        if export_id in counted:
            continue
        counted.add(export_id)
        bind.execute(events.update().where(events.c.id == event_id).values(export_id=export_id))
    for export_id, user_id, completed_at, created_at in bind.execute(
        sa.select(exports.c.id, exports.c.user_id, exports.c.completed_at, exports.c.created_at).where(
            exports.c.status == "succeeded"
        )
    ):
        if export_id in counted:
            continue
        bind.execute(
            events.insert().values(
                id=uuid.uuid4(),
                user_id=user_id,
                kind="export_succeeded",
                quantity=1,
                details={"export_id": str(export_id), "backfilled": True},
                export_id=export_id,
                created_at=completed_at or created_at,
            )
        )


def downgrade() -> None:
    op.drop_index(op.f("ix_email_verifications_user_id"), table_name="email_verifications")
    op.drop_index(op.f("ix_email_verifications_expires_at"), table_name="email_verifications")
    op.drop_table("email_verifications")
    op.drop_column("users", "email_verified_at")
    with op.batch_alter_table("subscription_plans") as batch:
        batch.drop_constraint(batch.f("ck_subscription_plans_job_limits_valid"), type_="check")
        batch.drop_column("max_queued_jobs")
        batch.drop_column("max_running_jobs")
    with op.batch_alter_table("usage_events") as batch:
        batch.drop_constraint(batch.f("uq_usage_events_export_id"), type_="unique")
        batch.drop_column("export_id")
