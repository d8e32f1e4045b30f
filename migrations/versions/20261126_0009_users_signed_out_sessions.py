"""users.signed_out_sessions: the sessions signed out one by one ("Log out" on one browser),
each as " <session id>@<unix time>", so a copy of that browser's cookie no longer signs in
while the user's other devices stay signed in. Signing out everywhere still moves
`session_epoch` on.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("signed_out_sessions", sa.Text(), nullable=False,
                                   server_default=sa.text("''")))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("signed_out_sessions")
