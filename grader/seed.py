"""The demo: course "CNN 101", its instructor, three students and a published set with one
item per registered problem kind. Running it again changes nothing that exists."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from grader import db
from grader.config import INSTANCE
from grader.models import Course, ProblemSet, utcnow
from grader.passwords import verify_password
from grader.services import courses, problem_sets
from problems import kinds

COURSE_CODE = "CNN 101"
COURSE_TITLE = "Convolutional networks: shapes, parameters and pooling"
TEACHER = ("demo-teacher@example.edu", "Dana Demo (instructor)")
STUDENTS = tuple((f"demo-student{i}@example.edu", f"Demo Student {i}") for i in (1, 2, 3))
SET_TITLE = "Pooling and shapes"


@dataclass
class SeedResult:
    """What the demo consists of, and which of its accounts still take `password`."""

    course_id: str
    set_id: str
    password: str
    password_source: str  # "DEMO_PASSWORD", "given", "this install" (instance/demo_password)
    accounts: list[tuple[str, str, bool]] = field(default_factory=list)  # (email, role, password ok)
    created: list[str] = field(default_factory=list)


def demo_password(given: str | None = None, instance: Path | None = None) -> tuple[str, str]:
    """The demo accounts' password: `given`, else DEMO_PASSWORD, else one random password
    per install kept in instance/demo_password (so a re-run prints the same logins)."""
    if given:
        return given, "given"
    if os.environ.get("DEMO_PASSWORD"):
        return os.environ["DEMO_PASSWORD"], "DEMO_PASSWORD"
    folder = instance or INSTANCE
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "demo_password"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(9))
        path.chmod(0o600)
    return path.read_text().strip(), "this install"


def seed_demo(password: str | None = None, instance: Path | None = None) -> SeedResult:
    """Create whatever part of the demo is missing (call inside an app context)."""
    password, source = demo_password(password, instance)
    created: list[str] = []

    teacher = courses.user_by_email(TEACHER[0])
    if teacher is None:
        teacher = courses.create_user(TEACHER[0], TEACHER[1], password, is_instructor=True)
        created.append(f"user {TEACHER[0]}")
    students = []
    for email, name in STUDENTS:
        user = courses.user_by_email(email)
        if user is None:
            user = courses.create_user(email, name, password)
            created.append(f"user {email}")
        students.append(user)

    course = db.session().scalar(
        select(Course).where(Course.code == COURSE_CODE).order_by(Course.id).limit(1))
    if course is None:
        course = courses.create_course(COURSE_CODE, COURSE_TITLE, teacher)
        created.append(f"course {COURSE_CODE}")
    else:
        courses.enroll(course, teacher, "instructor")
    for user in students:
        courses.enroll(course, user, "student")

    problem_set = db.session().scalar(select(ProblemSet).where(
        ProblemSet.course_id == course.id, ProblemSet.title == SET_TITLE).order_by(ProblemSet.id).limit(1))
    if problem_set is None:
        problem_set = problem_sets.create_set(
            course, SET_TITLE, demo_items(), attempts_allowed=3,
            due_at=utcnow() + timedelta(days=14), solutions="after_attempts")
        created.append(f"problem set {SET_TITLE!r}")
    elif not problem_sets.has_submissions(problem_set):
        # Kinds registered since the last run join the set, while nobody has answered it.
        present = {item.kind for item in problem_set.items}
        for item in demo_items():
            if item["kind"] not in present:
                problem_sets.add_item(problem_set, **item)
                created.append(f"item {item['kind']}")
    if not problem_set.published:
        problem_set = problem_sets.publish(problem_set)

    accounts = [(TEACHER[0], "instructor", verify_password(teacher.password_hash, password))]
    accounts += [(u.email, "student", verify_password(u.password_hash, password)) for u in students]
    return SeedResult(course_id=course.public_id, set_id=problem_set.public_id, password=password,
                      password_source=source, accounts=accounts, created=created)


def demo_items() -> list[dict[str, object]]:
    """One item per registered kind, difficulties 1 and 2 in turn, 10 points each."""
    return [{"kind": kind, "difficulty": 1 + i % 2, "points": 10} for i, kind in enumerate(kinds.KINDS)]


def describe(result: SeedResult) -> str:
    """The demo logins, for the terminal."""
    made = f"created {len(result.created)} records" if result.created else "already in place"
    lines = [f"Demo course {COURSE_CODE!r} with the set {SET_TITLE!r}: {made}"]
    lines.append(f"Demo logins (password from {result.password_source}):")
    for email, role, ok in result.accounts:
        shown = result.password if ok else "(password changed since the demo was made)"
        lines.append(f"  {role:<10}  {email:<28}  {shown}")
    return "\n".join(lines)
