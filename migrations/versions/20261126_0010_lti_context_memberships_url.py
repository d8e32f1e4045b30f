"""lti_contexts.memberships_url: the LMS course's roster service (the
context_memberships_url of the Names and Role Provisioning Services claim, version 2.0)
from the latest launch that named one, so an instructor can import the LMS roster before
every student has launched the tool. Empty until the next launch from that course.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("lti_contexts") as batch:
        batch.add_column(sa.Column("memberships_url", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("lti_contexts") as batch:
        batch.drop_column("memberships_url")
