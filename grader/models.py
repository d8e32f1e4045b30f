"""Typed SQLAlchemy models. Submissions and grades are insert-only: a regrade adds a grade.

Every table that a URL names has a random `public_id`, so ids cannot be guessed or
enumerated; integer ids stay internal.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_public_id() -> str:
    """A random, URL-safe id (96 bits) that does not start with "-": ids are typed as
    command-line arguments (`flask import-roster <course id> ...`), where a leading "-"
    reads as an option."""
    while True:
        public_id = secrets.token_urlsafe(12)
        if not public_id.startswith("-"):
            return public_id


# Named constraints, so a later migration can drop or alter them (SQLite batch mode needs names).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: DateTime(timezone=True)}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_instructor: Mapped[bool] = mapped_column(Boolean, default=False)
    # Bumped at logout and password change: a cookie from an older epoch is no longer valid.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    # Set when someone else chose the password (an instructor, a roster file, an admin's
    # `flask set-password`): after signing in with it, the user chooses their own first.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False,
                                                       server_default=false())
    # Sessions signed out one by one (grader.auth.routes), " <session id>@<unix time>" each:
    # a cookie holding one of these ids no longer signs in.
    signed_out_sessions: Mapped[str] = mapped_column(Text, default="", server_default=text("''"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    enrollments: Mapped[list[Enrollment]] = relationship(back_populates="user")

    # What Flask-Login asks of a user (its UserMixin, without importing Flask here).
    is_authenticated = True
    is_active = True
    is_anonymous = False

    def get_id(self) -> str:
        return self.public_id


class Course(Base):
    __tablename__ = "courses"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    code: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    enrollments: Mapped[list[Enrollment]] = relationship(back_populates="course")
    problem_sets: Mapped[list[ProblemSet]] = relationship(back_populates="course", order_by="ProblemSet.id")


class Enrollment(Base):
    __tablename__ = "enrollments"
    __table_args__ = (UniqueConstraint("course_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))  # "instructor" or "student"
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    course: Mapped[Course] = relationship(back_populates="enrollments")
    user: Mapped[User] = relationship(back_populates="enrollments")


class ProblemSet(Base):
    __tablename__ = "problem_sets"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(255))
    # The variant seeds derive from this: never shown to students.
    secret: Mapped[str] = mapped_column(String(64), default=lambda: secrets.token_hex(32))
    attempts_allowed: Mapped[int] = mapped_column(Integer, default=3)
    opens_at: Mapped[datetime | None] = mapped_column()
    due_at: Mapped[datetime | None] = mapped_column()
    # "never", "after_due", "after_attempts" (attempts used up or full marks) or "always"
    solutions: Mapped[str] = mapped_column(String(32), default="after_attempts")
    follow_through: Mapped[bool] = mapped_column(Boolean, default=True)
    published_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    course: Mapped[Course] = relationship(back_populates="problem_sets")
    items: Mapped[list[Item]] = relationship(back_populates="problem_set", order_by="Item.position")

    @property
    def published(self) -> bool:
        return self.published_at is not None


class Item(Base):
    __tablename__ = "items"
    __table_args__ = (UniqueConstraint("problem_set_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    problem_set_id: Mapped[int] = mapped_column(ForeignKey("problem_sets.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(64))
    difficulty: Mapped[int] = mapped_column(Integer)
    points: Mapped[float] = mapped_column(Float, default=10.0)

    problem_set: Mapped[ProblemSet] = relationship(back_populates="items")


class Draft(Base):
    """The answers a student has typed but not submitted (autosaved)."""

    __tablename__ = "drafts"
    __table_args__ = (UniqueConstraint("item_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Submission(Base):
    """One graded attempt, never changed. `(item, user, attempt)` is unique: a second
    submit of the same attempt (double click, retry, stale tab) finds the first."""

    __tablename__ = "submissions"
    __table_args__ = (UniqueConstraint("item_id", "user_id", "attempt"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    # What was shown: the variant is (kind, difficulty, seed).
    kind: Mapped[str] = mapped_column(String(64))
    difficulty: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(BigInteger)
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(16), default="web")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    grades: Mapped[list[Grade]] = relationship(back_populates="submission", order_by="Grade.id")

    @property
    def grade(self) -> Grade:
        """The current grade: the latest one (a regrade adds a row)."""
        return self.grades[-1]


class Grade(Base):
    """A grade of a submission: the first at submission time, later ones by regrades."""

    __tablename__ = "grades"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), index=True)
    score: Mapped[float] = mapped_column(Float)  # points earned, out of the item's points
    fraction: Mapped[float] = mapped_column(Float)  # 0..1
    result: Mapped[dict[str, Any]] = mapped_column(JSON)  # GradeResult.to_json()
    misconceptions: Mapped[list[Any]] = mapped_column(JSON, default=list)
    reason: Mapped[str] = mapped_column(String(32), default="submitted")  # or "regrade"
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    submission: Mapped[Submission] = relationship(back_populates="grades")


class AuditLog(Base):
    """Failed authorisations and instructor actions worth keeping."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


from grader.api import models as _api_models  # noqa: E402,F401  (the API's tables, for Alembic)
from grader.lti import models as _lti_models  # noqa: E402,F401  (the LTI tables, for Alembic)
