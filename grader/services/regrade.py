"""Regrade a problem set after a change (the kinds' code, follow-through, an item's points).

Each submission is graded again from what was stored: its answers and the variant it was
shown, `(kind, difficulty, seed)`. Grades are insert-only: applying adds a `Grade` row with
reason "regrade" to every submission whose grade changes (its points, its fraction, or a
part's credit), and never edits an old one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader import db
from grader.models import AuditLog, Grade, Item, ProblemSet, Submission, User
from grader.services.gradebook import latest_grades
from problems import kinds
from problems.errors import SpecError
from problems.kinds.base import GradeResult, Problem

T = TypeVar("T")
Progress = Callable[[Iterable[T]], Iterable[T]]

# Scores are stored as floats: differences below this are rounding, not a change.
EPSILON = 1e-6


@dataclass(frozen=True)
class Change:
    """A submission whose score a regrade changes (or cannot recompute: `error`)."""

    submission_id: int
    submission_public_id: str
    user_public_id: str
    student_name: str
    student_email: str
    item_public_id: str
    item_label: str
    attempt: int
    old_score: float
    new_score: float | None
    points: float
    error: str | None = None
    old_fraction: float = 0.0
    new_fraction: float | None = None

    @property
    def old_points(self) -> float | None:
        """What the item was worth when the current grade was given (None for a grade of
        0: its fraction does not tell)."""
        return self.old_score / self.old_fraction if self.old_fraction > EPSILON else None

    @property
    def delta(self) -> float:
        return 0.0 if self.new_score is None else self.new_score - self.old_score

    @property
    def fraction_changed(self) -> bool:
        """Whether the share of the item's points earned changes (67% -> 33%), which a
        change of points alone does not."""
        return self.new_fraction is not None and abs(self.new_fraction - self.old_fraction) > EPSILON


@dataclass(frozen=True)
class RegradeReport:
    """What a regrade found (dry run) or did (applied)."""

    checked: int
    changes: tuple[Change, ...]
    applied: bool = False

    @property
    def errors(self) -> list[Change]:
        return [c for c in self.changes if c.error is not None]

    @property
    def changed(self) -> list[Change]:
        return [c for c in self.changes if c.error is None]

    @property
    def digest(self) -> str:
        """A short fingerprint of the changes, so "apply" can check it applies what was
        reviewed (new submissions or another regrade in between change it)."""
        text = json.dumps(
            [
                [
                    c.submission_id,
                    round(c.old_score, 6),
                    None if c.new_score is None else round(c.new_score, 6),
                ]
                for c in self.changes
            ]
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]


class StaleRegrade(Exception):
    """The changes differ from the dry run that was reviewed."""


def _identity(values: Iterable[T]) -> Iterable[T]:
    return values


def regrade_result(problem: Problem, answers: dict[str, Any], follow_through: bool) -> GradeResult:
    """The grade the current code gives these answers to this variant."""
    texts = {
        k: v if isinstance(v, str) else str(v) for k, v in (answers or {}).items() if v is not None
    }
    return kinds.grade(problem, texts, follow_through=follow_through)


def _scan(
    problem_set: ProblemSet, session: Session, progress: Progress[Any]
) -> Iterator[tuple[Submission, Grade, Item, User, GradeResult | None, Change | None]]:
    """Regrade every submission of the set in memory, yielding each with its change (or None)."""
    items = {i.id: i for i in problem_set.items}
    pairs = latest_grades(session, list(items))
    user_ids = {sub.user_id for sub, _ in pairs}
    users = (
        {u.id: u for u in session.scalars(select(User).where(User.id.in_(user_ids)))}
        if user_ids
        else {}
    )
    problems: dict[tuple[str, int, int], Problem | str] = {}
    for sub, grade in progress(pairs):
        item, user = items[sub.item_id], users[sub.user_id]
        key = (sub.kind, sub.difficulty, int(sub.seed))
        if key not in problems:
            try:
                problems[key] = kinds.generate(*key)
            except (SpecError, ValueError, KeyError) as err:
                problems[key] = f"cannot rebuild the variant: {err}"
        problem = problems[key]

        def change(
            new_score: float | None,
            error: str | None = None,
            new_fraction: float | None = None,
            sub: Submission = sub,
            grade: Grade = grade,
            item: Item = item,
            user: User = user,
        ) -> Change:
            return Change(
                sub.id,
                sub.public_id,
                user.public_id,
                user.name,
                user.email,
                item.public_id,
                f"Q{item.position + 1}",
                sub.attempt,
                float(grade.score),
                new_score,
                float(item.points),
                error,
                float(grade.fraction),
                new_fraction,
            )

        if isinstance(problem, str):
            yield sub, grade, item, user, None, change(None, problem)
            continue
        try:
            result = regrade_result(problem, sub.answers, problem_set.follow_through)
        except Exception as err:  # a kind's bug must not stop the whole regrade
            yield (
                sub,
                grade,
                item,
                user,
                None,
                change(None, f"grading failed: {type(err).__name__}: {err}"),
            )
            continue
        new_score = round(result.fraction * float(item.points), 6)
        if _changed(grade, new_score, result):
            yield sub, grade, item, user, result, change(new_score, new_fraction=result.fraction)
        else:
            yield sub, grade, item, user, result, None


def _changed(grade: Grade, new_score: float, result: GradeResult) -> bool:
    """Whether the new grade differs from `grade` in what the student and the gradebook
    see: the points, the fraction (6.67 of 10 and 6.67 of 20 are two grades), or any part's
    credit (its score, or credit by follow-through). Feedback wording alone is no change."""
    return (abs(new_score - float(grade.score)) > EPSILON
            or abs(result.fraction - float(grade.fraction)) > EPSILON
            or _part_credit(result.to_json()) != _part_credit(grade.result))


def _part_credit(result: Any) -> list[tuple[str, float, bool]]:
    """Each part's (id, score, follow-through) in a stored GradeResult JSON."""
    parts = result.get("parts", []) if isinstance(result, dict) else []
    return [(str(p.get("id")), round(float(p.get("score") or 0), 6), bool(p.get("follow_through")))
            for p in parts if isinstance(p, dict)]


def dry_run(
    problem_set: ProblemSet, progress: Progress[Any] = _identity, session: Session | None = None
) -> RegradeReport:
    """What a regrade would change: (student, item, attempt, old score, new score) for every
    submission whose score differs, and the submissions that cannot be regraded. Writes nothing."""
    s = session or db.session()
    checked = 0
    changes = []
    for _sub, _grade, _item, _user, _result, change in _scan(problem_set, s, progress):
        checked += 1
        if change is not None:
            changes.append(change)
    return RegradeReport(checked, tuple(changes))


def apply(
    problem_set: ProblemSet,
    actor: User | None = None,
    expected_digest: str | None = None,
    progress: Progress[Any] = _identity,
) -> RegradeReport:
    """Regrade and record: one new Grade (reason "regrade") per changed submission, all in one
    transaction. With `expected_digest`, refuses (StaleRegrade) if the changes are not the
    ones a dry run showed."""
    with db.transaction() as s:
        # Two applies at once would both add grades: the second waits here, then finds the
        # first one's grades current (and, with a digest, refuses). SQLite's BEGIN IMMEDIATE
        # already serializes; this row lock does it on PostgreSQL.
        s.execute(select(ProblemSet.id).where(ProblemSet.id == problem_set.id).with_for_update())
        checked = 0
        changes: list[Change] = []
        new_grades: list[Grade] = []
        for sub, _grade, _item, _user, result, change in _scan(problem_set, s, progress):
            checked += 1
            if change is None:
                continue
            changes.append(change)
            if result is None or change.new_score is None:
                continue
            new_grades.append(
                Grade(
                    submission_id=sub.id,
                    score=change.new_score,
                    fraction=result.fraction,
                    result=result.to_json(),
                    misconceptions=result.misconceptions,
                    reason="regrade",
                )
            )
        report = RegradeReport(checked, tuple(changes), applied=True)
        if expected_digest is not None and report.digest != expected_digest:
            raise StaleRegrade(
                "The submissions changed since the dry run (new submissions or another regrade): "
                "review the new list before applying."
            )
        s.add_all(new_grades)
        s.add(
            AuditLog(
                user_id=actor.id if actor else None,
                action="regrade",
                detail=json.dumps(
                    {
                        "problem_set": problem_set.public_id,
                        "checked": checked,
                        "regraded": len(new_grades),
                        "errors": len(report.errors),
                    }
                ),
            )
        )
    if new_grades:
        # Scores already sent to an LMS gradebook change too: queue them (a no-op without LTI).
        from grader.services import passback

        passback.resend_all(problem_set.course_id)
    return report
