"""LTI Dynamic Registration: the single-use links an instructor gives an LMS to register
the tool by itself (lti_registration_links).

Written to match grader.lti.models (checked by tests/grader/test_migrations.py); constraint
names follow grader.models.NAMING_CONVENTION.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)
TABLE = "lti_registration_links"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("used_at", TZ, nullable=True),
        sa.Column("platform_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"],
                                name=op.f("fk_lti_registration_links_owner_id_users"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["course_id"], ["courses.id"],
                                name=op.f("fk_lti_registration_links_course_id_courses"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["platform_id"], ["lti_platforms.id"],
                                name=op.f("fk_lti_registration_links_platform_id_lti_platforms"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lti_registration_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_lti_registration_links_token_hash")),
    )
    for column in ("course_id", "expires_at", "owner_id", "platform_id"):
        op.create_index(op.f(f"ix_{TABLE}_{column}"), TABLE, [column], unique=False)


def downgrade() -> None:
    for column in ("platform_id", "owner_id", "expires_at", "course_id"):
        op.drop_index(op.f(f"ix_{TABLE}_{column}"), table_name=TABLE)
    op.drop_table(TABLE)
