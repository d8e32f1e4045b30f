"""Read-only views of the key's course for the API: sets, the gradebook, a student's
variant, a student's record. Pure queries; the caller wraps them in a short transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from grader import db
from grader.api.auth import not_found
from grader.api.common import iso
from grader.api.models import ApiGrade, ApiProblem
from grader.models import Course, Enrollment, Item, ProblemSet, Submission, User
from grader.services import attempts, gradebook
from grader.services.api_keys import Caller
from grader.services.courses import normalize_email


def set_json(problem_set: ProblemSet) -> dict[str, Any]:
    return {
        "id": problem_set.public_id,
        "title": problem_set.title,
        "published": problem_set.published,
        "opens_at": iso(problem_set.opens_at),
        "due_at": iso(problem_set.due_at),
        "attempts_allowed": problem_set.attempts_allowed,
        "items": [
            {"id": item.public_id, "position": item.position, "kind": item.kind,
             "difficulty": item.difficulty, "points": float(item.points)}
            for item in sorted(problem_set.items, key=lambda i: i.position)
        ],
    }


def course_sets_json(caller: Caller) -> dict[str, Any]:
    """The key's course and every one of its sets."""
    s = db.session()
    course = s.get(Course, caller.course_id)
    assert course is not None
    found = s.scalars(
        select(ProblemSet).where(ProblemSet.course_id == caller.course_id)
        .options(selectinload(ProblemSet.items)).order_by(ProblemSet.id)
    ).all()
    return {
        "course": {"id": course.public_id, "code": course.code, "title": course.title},
        "sets": [set_json(ps) for ps in found],
    }


def _rounded(value: float | None) -> float | None:
    """A score or fraction to 6 places, as every score of the API is given."""
    return None if value is None else round(value, 6)


def gradebook_json(problem_set: ProblemSet) -> dict[str, Any]:
    """The set's gradebook (grader.services.gradebook) as JSON."""
    book = gradebook.gradebook(problem_set)
    return {
        "set": set_json(problem_set),
        "students": [
            {
                "student": {"id": row.user_public_id, "email": row.email, "name": row.name},
                "items": [
                    {"item_id": col.item_public_id, "best": _rounded(cell.best),
                     "best_fraction": _rounded(cell.best_fraction), "attempts": cell.attempts}
                    for col, cell in zip(book.columns, row.cells, strict=True)
                ],
                "total": round(row.total, 6),
                "max_total": round(row.max_total, 6),
                "percentage": round(row.percentage, 4),
            }
            for row in book.rows
        ],
    }


def variant_json(problem_set: ProblemSet, item: Item, user: User) -> dict[str, Any]:
    """A student's variant of an item (public: no answers, no seed) and their attempts."""
    shown = attempts.public_problem(attempts.problem_for(user, item))
    state = attempts.progress(user, [item])[item.id]
    return {
        "set_id": problem_set.public_id,
        "item_id": item.public_id,
        "student": user.email,
        "title": shown["title"],
        "statement": shown["statement"],
        "parts": shown["parts"],
        "max_points": shown["max_points"],
        "points": float(item.points),
        "attempts_used": state.attempts_used,
        "attempts_left": state.attempts_left,
        "next_attempt": state.attempts_used + 1,
    }


def student_record(caller: Caller, student: str) -> dict[str, Any]:
    """An enrolled student's submissions in the course (matched by email) and the API
    grades recorded under `student` (or the student's email). 404 when there is neither."""
    s = db.session()
    user = s.scalar(
        select(User).join(Enrollment, Enrollment.user_id == User.id).where(
            User.email == normalize_email(student),
            Enrollment.course_id == caller.course_id,
            Enrollment.role == "student",
        )
    )
    submissions: list[dict[str, Any]] = []
    if user is not None:
        rows = s.execute(
            select(Submission, Item, ProblemSet)
            .join(Item, Item.id == Submission.item_id)
            .join(ProblemSet, ProblemSet.id == Item.problem_set_id)
            .where(Submission.user_id == user.id, ProblemSet.course_id == caller.course_id)
            .options(selectinload(Submission.grades))
            .order_by(Submission.id)
        ).all()
        for sub, item, ps in rows:
            if not sub.grades:
                continue
            current = sub.grade
            submissions.append({
                "submission_id": sub.public_id, "set_id": ps.public_id,
                "item_id": item.public_id, "attempt": sub.attempt, "source": sub.source,
                "score": round(float(current.score), 6), "max_score": float(item.points),
                "fraction": round(float(current.fraction), 6),
                "misconceptions": list(current.misconceptions or []),
                "recorded_at": iso(sub.created_at),
            })
    names = {student} | ({user.email} if user is not None else set())
    grades = s.execute(
        select(ApiGrade, ApiProblem)
        .join(ApiProblem, ApiProblem.id == ApiGrade.problem_id)
        .where(ApiProblem.course_id == caller.course_id, ApiGrade.student.in_(sorted(names)))
        .order_by(ApiGrade.id)
    ).all()
    if user is None and not grades:
        raise not_found("student", "student with this email, nor API grades for this id",
                        f"student {student[:60]!r}")
    return {
        "student": student,
        "enrolled": user is not None,
        "name": user.name if user is not None else None,
        "submissions": submissions,
        "api_grades": [
            {"grade_id": g.public_id, "problem_id": p.public_id, "kind": p.kind,
             "difficulty": p.difficulty, "score": g.score, "max_score": g.max_score,
             "fraction": round(g.score / g.max_score, 6) if g.max_score else 0.0,
             "recorded_at": iso(g.created_at)}
            for g, p in grades
        ],
    }
