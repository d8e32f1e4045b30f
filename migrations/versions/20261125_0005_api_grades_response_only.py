"""An API grade keeps its result once: in `response`, the exact body first sent (which holds
the whole result and is replayed on a retry). The `result` column held the same result
again as JSON, serialized a second time on every grading request.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The members of a grading response that are not the grade's result (grader/api/grading.py).
_NOT_RESULT = ("grade_id", "problem_id", "student", "recorded_at")


def upgrade() -> None:
    with op.batch_alter_table("api_grades") as batch:
        batch.drop_column("result")


def downgrade() -> None:
    with op.batch_alter_table("api_grades") as batch:
        batch.add_column(sa.Column("result", sa.JSON(), nullable=True))
    grades = sa.table("api_grades", sa.column("id", sa.Integer()),
                      sa.column("response", sa.Text()), sa.column("result", sa.JSON()))
    connection = op.get_bind()
    for grade_id, response in connection.execute(sa.select(grades.c.id, grades.c.response)):
        result = {k: v for k, v in json.loads(response).items() if k not in _NOT_RESULT}
        connection.execute(grades.update().where(grades.c.id == grade_id).values(result=result))
    with op.batch_alter_table("api_grades") as batch:
        batch.alter_column("result", existing_type=sa.JSON(), nullable=False)
