"""Small helpers the API's services share: times as text, the dialect's INSERT, the
course-scoped lookups of sets, items and students."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader import db
from grader.api.auth import not_found
from grader.api.errors import ApiError
from grader.models import Enrollment, Item, ProblemSet, User
from grader.services.api_keys import Caller
from grader.services.courses import normalize_email


def iso(moment: datetime | None) -> str | None:
    """`2026-11-25T10:00:00.123Z` (stored times are UTC; SQLite hands them back naive)."""
    if moment is None:
        return None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def dialect_insert(s: Session, model: type) -> Any:
    """`INSERT` with ON CONFLICT clauses, for SQLite and PostgreSQL."""
    name = s.get_bind().dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - the two engines we support
        raise RuntimeError(f"unsupported database dialect {name!r}")
    return insert(model)


def course_set(caller: Caller, set_id: str) -> ProblemSet:
    """A problem set of the key's course (published or not); 404 otherwise."""
    found = db.session().scalar(
        select(ProblemSet).where(
            ProblemSet.public_id == set_id, ProblemSet.course_id == caller.course_id
        )
    )
    if found is None:
        raise not_found("set_id", "problem set with this id", f"problem set {set_id[:40]!r}")
    return found


def set_item(problem_set: ProblemSet, item_id: str) -> Item:
    """An item of that set; 404 otherwise."""
    for item in problem_set.items:
        if item.public_id == item_id:
            return item
    raise not_found("item_id", "item with this id in this set", f"item {item_id[:40]!r} of set {problem_set.public_id}")


def course_student(caller: Caller, email: str, path: str = "student",
                   status: int = 422) -> User:
    """The student of the key's course with this email (any case). Refused with `status`
    (422 for a body field, 404 for a URL part) otherwise."""
    user = db.session().scalar(
        select(User)
        .join(Enrollment, Enrollment.user_id == User.id)
        .where(
            User.email == normalize_email(email),
            Enrollment.course_id == caller.course_id,
            Enrollment.role == "student",
        )
    )
    if user is None:
        if status == 404:
            raise not_found(path, "student with this email", f"student {email[:60]!r}")
        raise ApiError(status, path, "no student with this email is enrolled in the course")
    return user
