"""api_grades: three B-trees instead of five. Every grading request inserts a row and
writes every index of the table (on SQLite, each changed page is appended to the WAL):
the unique index on `public_id` (never looked up) goes, and the two single-column indexes
on `problem_id` and `student` become one on (problem_id, student), which serves both the
problem's foreign key and one student's grades.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_grades") as batch:
        batch.drop_constraint("uq_api_grades_public_id", type_="unique")
        batch.drop_index("ix_api_grades_problem_id")
        batch.drop_index("ix_api_grades_student")
        batch.create_index("ix_api_grades_problem_id_student", ["problem_id", "student"])


def downgrade() -> None:
    with op.batch_alter_table("api_grades") as batch:
        batch.drop_index("ix_api_grades_problem_id_student")
        batch.create_index("ix_api_grades_student", ["student"])
        batch.create_index("ix_api_grades_problem_id", ["problem_id"])
        batch.create_unique_constraint("uq_api_grades_public_id", ["public_id"])
