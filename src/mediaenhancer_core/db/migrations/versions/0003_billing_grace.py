"""Billing (issue 5): user_subscriptions.grace_until, the end of a past_due subscription's grace period.

Written by the billing code when Stripe reports ``past_due`` (the start of the unpaid
period plus ``past_due_grace_days``), so ``plans.plan_for_user`` answers from the row
alone, without settings.

Revision ID: 0003_billing_grace
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_billing_grace"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain ADD/DROP COLUMN: both SQLite (3.35+) and PostgreSQL do it in place
    op.add_column("user_subscriptions", sa.Column("grace_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("user_subscriptions", "grace_until")
