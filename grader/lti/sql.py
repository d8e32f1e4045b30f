"""`INSERT ... ON CONFLICT DO NOTHING` for SQLite and PostgreSQL alike."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_ignore(s: Session, model: Any, index_elements: list[str]) -> Any:
    """An insert into `model` that does nothing when the unique `index_elements` clash
    (add `.values(...)` and, to learn whether it inserted, `.returning(...)`)."""
    dialect = s.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(model).on_conflict_do_nothing(index_elements=index_elements)
