"""The JSON API: course API keys (hashed), problems made through the API, their recorded
grades (unique per key and Idempotency-Key), and the idempotency records of API submissions
to course items (unique per key and Idempotency-Key, and per item, user and attempt).

Generated from grader.api.models with `alembic revision --autogenerate` and reviewed by
hand: constraint names follow grader.models.NAMING_CONVENTION; parents first.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),  # sha256(secret), hex
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("last_used_at", TZ, nullable=True),
        sa.Column("revoked_at", TZ, nullable=True),
        sa.ForeignKeyConstraint(["course_id"], ["courses.id"],
                                name=op.f("fk_api_keys_course_id_courses"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"],
                                name=op.f("fk_api_keys_created_by_users"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("public_id", name=op.f("uq_api_keys_public_id")),
    )
    op.create_index(op.f("ix_api_keys_course_id"), "api_keys", ["course_id"])

    op.create_table(
        "api_problems",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("difficulty", sa.Integer(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("student", sa.String(length=255), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(["api_key_id"], ["api_keys.id"],
                                name=op.f("fk_api_problems_api_key_id_api_keys"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["course_id"], ["courses.id"],
                                name=op.f("fk_api_problems_course_id_courses"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_problems")),
        sa.UniqueConstraint("public_id", name=op.f("uq_api_problems_public_id")),
    )
    op.create_index(op.f("ix_api_problems_course_id"), "api_problems", ["course_id"])
    op.create_index(op.f("ix_api_problems_student"), "api_problems", ["student"])

    op.create_table(
        "api_grades",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("problem_id", sa.Integer(), nullable=False),
        sa.Column("student", sa.String(length=255), nullable=True),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("max_score", sa.Float(), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),  # the exact body, for replays
        sa.Column("created_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(["api_key_id"], ["api_keys.id"],
                                name=op.f("fk_api_grades_api_key_id_api_keys"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["problem_id"], ["api_problems.id"],
                                name=op.f("fk_api_grades_problem_id_api_problems"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_grades")),
        # Exactly one grade per key and Idempotency-Key: INSERT ... ON CONFLICT DO NOTHING.
        sa.UniqueConstraint("api_key_id", "idempotency_key",
                            name=op.f("uq_api_grades_api_key_id_idempotency_key")),
        sa.UniqueConstraint("public_id", name=op.f("uq_api_grades_public_id")),
    )
    op.create_index(op.f("ix_api_grades_problem_id"), "api_grades", ["problem_id"])
    op.create_index(op.f("ix_api_grades_student"), "api_grades", ["student"])

    op.create_table(
        "api_idempotency",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),  # "pending" or "done"
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_json", sa.Text(), nullable=True),
        sa.Column("submission_id", sa.Integer(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("completed_at", TZ, nullable=True),
        sa.ForeignKeyConstraint(["api_key_id"], ["api_keys.id"],
                                name=op.f("fk_api_idempotency_api_key_id_api_keys"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"],
                                name=op.f("fk_api_idempotency_item_id_items"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"],
                                name=op.f("fk_api_idempotency_submission_id_submissions"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_api_idempotency_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_idempotency")),
        sa.UniqueConstraint("api_key_id", "idempotency_key",
                            name=op.f("uq_api_idempotency_api_key_id_idempotency_key")),
        # One intent per attempt: two keys never claim the same attempt of a student.
        sa.UniqueConstraint("item_id", "user_id", "attempt",
                            name=op.f("uq_api_idempotency_item_id_user_id_attempt")),
    )
    op.create_index(op.f("ix_api_idempotency_user_id"), "api_idempotency", ["user_id"])


def downgrade() -> None:
    # Children first. Dropping a table drops its indexes with it.
    for table in ("api_idempotency", "api_grades", "api_problems", "api_keys"):
        op.drop_table(table)
