"""Seed the three plans of the seed design (prices in cents; NULL limit = unlimited).

Storage limits are binary gigabytes (GiB). Stripe price ids are not stored here:
they come from settings (issue 5) and may be written into stripe_price_id later.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

GIB = 1024**3

plans = sa.table(
    "subscription_plans",
    sa.column("id", sa.String),
    sa.column("name", sa.String),
    sa.column("price_cents", sa.Integer),
    sa.column("currency", sa.String),
    sa.column("interval", sa.String),
    sa.column("features", sa.JSON().with_variant(postgresql.JSONB(), "postgresql")),
    sa.column("storage_limit_bytes", sa.BigInteger),
    sa.column("project_limit", sa.Integer),
    sa.column("monthly_export_limit", sa.Integer),
    sa.column("max_media_duration_seconds", sa.Integer),
    sa.column("sort_order", sa.Integer),
    sa.column("is_public", sa.Boolean),
)

PLANS = [
    {
        "id": "starter",
        "name": "Starter",
        "price_cents": 0,
        "features": ["5 GB storage", "10 projects", "50 exports a month", "Media up to 5 minutes"],
        "storage_limit_bytes": 5 * GIB,
        "project_limit": 10,
        "monthly_export_limit": 50,
        "max_media_duration_seconds": 300,
        "sort_order": 0,
    },
    {
        "id": "creator",
        "name": "Creator",
        "price_cents": 1499,
        "features": ["50 GB storage", "100 projects", "500 exports a month", "Media up to 30 minutes"],
        "storage_limit_bytes": 50 * GIB,
        "project_limit": 100,
        "monthly_export_limit": 500,
        "max_media_duration_seconds": 1800,
        "sort_order": 1,
    },
    {
        "id": "professional",
        "name": "Professional",
        "price_cents": 4999,
        "features": ["500 GB storage", "Unlimited projects", "Unlimited exports", "Media up to 2 hours"],
        "storage_limit_bytes": 500 * GIB,
        "project_limit": None,
        "monthly_export_limit": None,
        "max_media_duration_seconds": 7200,
        "sort_order": 2,
    },
]


def upgrade() -> None:
    op.bulk_insert(plans, [{**p, "currency": "usd", "interval": "month", "is_public": True} for p in PLANS])


def downgrade() -> None:
    op.execute(plans.delete().where(plans.c.id.in_([p["id"] for p in PLANS])))
