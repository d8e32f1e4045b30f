"""The API's tables: course API keys, problems made through the API, their recorded grades,
and the idempotency records of API submissions to course items.

Keys are stored as a SHA-256 of their secret, never in clear. Rows are insert-only except
for a key's `last_used_at`/`revoked_at` and an idempotency record's completion.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from grader.models import Base, new_public_id, utcnow


class ApiKey(Base):
    """A course's API key: `cnnq_<public_id>_<secret>`, of which only sha256(secret) is kept."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    secret_hash: Mapped[str] = mapped_column(String(64))  # sha256(secret), hex
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Written at most once a minute per key, so a busy key does not write on every request.
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def prefix(self) -> str:
        """What may be shown of the key: everything but the secret."""
        return f"cnnq_{self.public_id}_…"


class ApiProblem(Base):
    """A problem variant made through the API; its answers stay here, referenced by id."""

    __tablename__ = "api_problems"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(64))
    difficulty: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(BigInteger)
    student: Mapped[str | None] = mapped_column(String(255), index=True)  # the caller's student id
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiGrade(Base):
    """One graded answer set of an ApiProblem, recorded once per (key, Idempotency-Key).

    `response` is the exact body first sent, replayed byte for byte on a retry: it holds the
    grade's whole result (score, per-part feedback, misconceptions).

    Every grading request inserts a row, so the table has the fewest indexes its readers
    need (each one more is a B-tree more to write per grade; on SQLite, a page more to
    append to the WAL): the unique (key, Idempotency-Key), and (problem, student), which
    serves a problem's deletion (its foreign key) and one student's grades (through the
    course's problems). `public_id` is not an index: no request looks a grade up by it,
    and 96 random bits do not repeat in practice."""

    __tablename__ = "api_grades"
    __table_args__ = (
        UniqueConstraint("api_key_id", "idempotency_key"),
        Index("ix_api_grades_problem_id_student", "problem_id", "student"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32))
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    problem_id: Mapped[int] = mapped_column(ForeignKey("api_problems.id", ondelete="CASCADE"))
    student: Mapped[str | None] = mapped_column(String(255))
    answers: Mapped[dict[str, Any]] = mapped_column()
    score: Mapped[float] = mapped_column(Float)
    max_score: Mapped[float] = mapped_column(Float)
    response: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiIdempotency(Base):
    """An API submission to a course item, keyed by (key, Idempotency-Key).

    Written *before* the submission as a `pending` intent that pins the attempt number and
    holds the answers, then completed (`done`, with the response) after it. `(item, user,
    attempt)` is unique here as on submissions, so two keys never claim the same attempt,
    and any request can finish a pending intent from what it holds (see grader/api/submissions.py).
    """

    __tablename__ = "api_idempotency"
    __table_args__ = (
        UniqueConstraint("api_key_id", "idempotency_key"),
        UniqueConstraint("item_id", "user_id", "attempt"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    answers: Mapped[dict[str, Any]] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="pending")  # or "done"
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_json: Mapped[str | None] = mapped_column(Text)
    submission_id: Mapped[int | None] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column()
