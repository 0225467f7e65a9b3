"""Jobs (issue 6): users.callback_url for completion callbacks; subscription_plans.ai_enabled
(issue 7's Gemini features follow the plan: Starter has none, as in the seed's plans).

Revision ID: 0004_jobs_ai
Revises: 0003_billing_grace
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_jobs_ai"
down_revision = "0003_billing_grace"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("callback_url", sa.Text(), nullable=True))
    op.add_column(
        "subscription_plans",
        sa.Column("ai_enabled", sa.Boolean(), nullable=False, server_default=sa.text("false")),
    )
    plans = sa.table(
        "subscription_plans",
        sa.column("id", sa.String),
        sa.column("ai_enabled", sa.Boolean),
        sa.column("features", sa.JSON),
    )
    op.execute(plans.update().where(plans.c.id.in_(("creator", "professional"))).values(ai_enabled=True))


def downgrade() -> None:
    op.drop_column("subscription_plans", "ai_enabled")
    op.drop_column("users", "callback_url")
