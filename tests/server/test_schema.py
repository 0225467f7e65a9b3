"""The migrations produce exactly the models' schema, and the database enforces the rules."""

from __future__ import annotations

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, inspect, text
from sqlalchemy.exc import IntegrityError

from mediaenhancer_core.db import HEAD_REVISION, Database
from mediaenhancer_core.db.migrate import current_revision, head_revision
from mediaenhancer_core.db.models import Base, Job, User

pytestmark = pytest.mark.parametrize("kind", ["sqlite", "postgresql"])


def _diffs(db: Database) -> list:
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": False})
        return compare_metadata(ctx, Base.metadata)


def test_migrations_produce_the_models_schema(kind: str, fresh_database_url) -> None:
    db = Database(fresh_database_url(kind))
    try:
        db.upgrade()
        assert _diffs(db) == []
        assert db.current_revision() == db.head_revision()
        assert db.current_revision() == current_revision(db.engine)  # our reading of the table = alembic's
    finally:
        db.dispose()


def test_the_head_revision_constant_is_alembics_newest_migration(kind: str) -> None:
    # HEAD_REVISION spares the server importing alembic; a new migration must move it
    assert HEAD_REVISION == head_revision()


def test_check_constraints_of_the_models_exist_in_the_migrated_database(kind: str, fresh_database_url) -> None:
    # autogenerate does not compare CHECK constraints; compare their names here
    db = Database(fresh_database_url(kind))
    try:
        db.upgrade()
        inspector = inspect(db.engine)
        for table in Base.metadata.sorted_tables:
            expected = {c.name for c in table.constraints if c.__class__.__name__ == "CheckConstraint"}
            found = {c["name"] for c in inspector.get_check_constraints(table.name)}
            assert expected <= found, (table.name, expected - found)
    finally:
        db.dispose()


def test_downgrade_to_nothing_and_up_again(kind: str, fresh_database_url) -> None:
    db = Database(fresh_database_url(kind))
    try:
        db.upgrade()
        from alembic import command

        from mediaenhancer_core.db.migrate import alembic_config

        command.downgrade(alembic_config(db.engine), "base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        db.upgrade()
        assert _diffs(db) == []
    finally:
        db.dispose()


def test_plans_are_seeded_with_the_seed_design_limits(kind: str, fresh_database_url) -> None:
    db = Database(fresh_database_url(kind))
    try:
        db.upgrade()
        with db.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT id, price_cents, storage_limit_bytes, project_limit, monthly_export_limit,"
                    " max_media_duration_seconds FROM subscription_plans ORDER BY sort_order"
                )
            ).all()
        gib = 1024**3
        assert [tuple(r) for r in rows] == [
            ("starter", 0, 5 * gib, 10, 50, 300),
            ("creator", 1499, 50 * gib, 100, 500, 1800),
            ("professional", 4999, 500 * gib, None, None, 7200),
        ]
    finally:
        db.dispose()


def test_the_database_enforces_constraints(kind: str, fresh_database_url) -> None:
    db = Database(fresh_database_url(kind))
    try:
        db.upgrade()
        user_id = uuid.uuid4()
        with db.engine.begin() as conn:
            conn.execute(insert(User).values(id=user_id, email="a@example.com"))
        bad_rows = [
            insert(User).values(id=uuid.uuid4(), email="Upper@Example.com"),  # not normalized
            insert(User).values(id=uuid.uuid4(), email="a@example.com"),  # duplicate
            insert(Job).values(id=uuid.uuid4(), user_id=user_id, type="denoise", progress=101, params={}),
            insert(Job).values(id=uuid.uuid4(), user_id=user_id, type="denoise", status="exploded", params={}),
            insert(Job).values(id=uuid.uuid4(), user_id=user_id, type="juggle", params={}),
            insert(Job).values(id=uuid.uuid4(), user_id=uuid.uuid4(), type="denoise", params={}),  # no such user
            insert(Job).values(id=uuid.uuid4(), user_id=user_id, type="denoise", params={}, lease_owner="w1"),
        ]
        for stmt in bad_rows:
            with pytest.raises(IntegrityError):
                with db.engine.begin() as conn:
                    conn.execute(stmt)
        with db.engine.begin() as conn:
            conn.execute(insert(Job).values(id=uuid.uuid4(), user_id=user_id, type="auto", progress=100, params={}))
            conn.execute(text("DELETE FROM users"))  # cascades to the user's jobs
            assert conn.execute(text("SELECT count(*) FROM jobs")).scalar() == 0
    finally:
        db.dispose()
