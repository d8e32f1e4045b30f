"""LTI in LMS frames: the platform frame that keeps a login's state and nonce
(lti_states.storage_target, LTI client-side postMessage storage) and the single-use tickets
that open a launch in a window of its own (lti_window_tickets).

Written to match grader.lti.models (checked by tests/grader/test_migrations.py); constraint
names follow grader.models.NAMING_CONVENTION.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("lti_states") as batch:
        batch.add_column(sa.Column("storage_target", sa.String(length=255), nullable=True))

    op.create_table(
        "lti_window_tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("used_at", TZ, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_lti_window_tickets_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lti_window_tickets")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_lti_window_tickets_token_hash")),
    )
    op.create_index(op.f("ix_lti_window_tickets_expires_at"), "lti_window_tickets",
                    ["expires_at"], unique=False)
    op.create_index(op.f("ix_lti_window_tickets_user_id"), "lti_window_tickets", ["user_id"],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_lti_window_tickets_user_id"), table_name="lti_window_tickets")
    op.drop_index(op.f("ix_lti_window_tickets_expires_at"), table_name="lti_window_tickets")
    op.drop_table("lti_window_tickets")
    with op.batch_alter_table("lti_states") as batch:
        batch.drop_column("storage_target")
