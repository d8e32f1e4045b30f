"""Lookups scoped to the signed-in instructor: anything outside their courses is a logged 404."""

from __future__ import annotations

from flask_login import current_user
from sqlalchemy import select

from grader import db
from grader.auth.access import deny
from grader.models import Course, Enrollment, Item, ProblemSet, User
from grader.services import courses, problem_sets


def own_course(public_id: str) -> Course:
    """A course the current user teaches."""
    return courses.course_for(current_user, public_id, role="instructor")


def own_set(public_id: str) -> ProblemSet:
    """A problem set of a course the current user teaches (published or not)."""
    return problem_sets.set_for(current_user, public_id, role="instructor")


def own_item(problem_set: ProblemSet, public_id: str) -> Item:
    """An item of that set."""
    return problem_sets.item_for(problem_set, public_id)


def course_student(course: Course, user_public_id: str) -> User:
    """A student enrolled in that course."""
    user = db.session().scalar(
        select(User)
        .join(Enrollment, Enrollment.user_id == User.id)
        .where(
            User.public_id == user_public_id,
            Enrollment.course_id == course.id,
            Enrollment.role == "student",
        )
    )
    if user is None:
        deny(f"student {user_public_id!r} of course {course.public_id!r}")
    return user
