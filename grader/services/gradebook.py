"""The gradebook: every enrolled student against every item, with each student's best score.

A submission's score is its current grade (the latest `Grade` row: a regrade adds one); a
student's score on an item is the best over their attempts. A course's totals count only
the sets that are published and open (a draft or a set opening later is shown, not counted).
Pure queries, no writes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grader import db
from grader.models import (
    Course,
    Enrollment,
    Grade,
    Item,
    ProblemSet,
    Submission,
    User,
    utcnow,
)


@dataclass(frozen=True)
class Column:
    """One item of the gradebook."""

    item_id: int
    item_public_id: str
    set_id: int
    set_public_id: str
    set_title: str
    position: int
    kind: str
    points: float
    # False for a course gradebook's draft or not-yet-open set: shown, not in the totals.
    counted: bool = True

    @property
    def label(self) -> str:
        return f"Q{self.position + 1}"

    @property
    def long_label(self) -> str:
        return (
            f"{self.set_title}: Q{self.position + 1} {self.kind} ({format_number(self.points)} pts)"
        )


@dataclass(frozen=True)
class Cell:
    """A student's standing on one item: best score over attempts (None when none)."""

    best: float | None
    best_fraction: float | None
    attempts: int
    latest_attempt: int | None = None

    @property
    def attempted(self) -> bool:
        return self.attempts > 0


@dataclass(frozen=True)
class Row:
    """One student: a cell per column, the total of best scores and the percentage."""

    user_id: int
    user_public_id: str
    name: str
    email: str
    cells: tuple[Cell, ...]
    total: float
    max_total: float

    @property
    def percentage(self) -> float:
        return 100.0 * self.total / self.max_total if self.max_total else 0.0

    @property
    def attempted(self) -> int:
        return sum(1 for c in self.cells if c.attempted)


@dataclass(frozen=True)
class Gradebook:
    """Students x items. `columns[j]` is the item of `row.cells[j]`."""

    title: str
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    # (public_id, title, n columns, why it is not counted: "" when it is)
    sets: tuple[tuple[str, str, int, str], ...] = field(default=())
    # Current grades whose score is not fraction x the item's points now (points changed
    # since grading): a regrade brings them in line.
    stale: int = 0

    @property
    def max_total(self) -> float:
        return sum(c.points for c in self.columns if c.counted)

    @property
    def uncounted(self) -> int:
        """How many sets are shown but left out of the totals."""
        return sum(1 for s in self.sets if s[3])

    def column_means(self) -> list[float | None]:
        """The mean best score of each item over the students who attempted it."""
        means: list[float | None] = []
        for j in range(len(self.columns)):
            scores = [r.cells[j].best for r in self.rows if r.cells[j].best is not None]
            means.append(sum(scores) / len(scores) if scores else None)
        return means

    def row_for(self, user_id: int) -> Row | None:
        return next((r for r in self.rows if r.user_id == user_id), None)


def latest_grades(session: Session, item_ids: Sequence[int]) -> list[tuple[Submission, Grade]]:
    """Every submission to these items with its current (latest) grade, in id order."""
    if not item_ids:
        return []
    latest = (
        select(Grade.submission_id, func.max(Grade.id).label("grade_id"))
        .join(Submission, Submission.id == Grade.submission_id)
        .where(Submission.item_id.in_(item_ids))
        .group_by(Grade.submission_id)
        .subquery()
    )
    query = (
        select(Submission, Grade)
        .join(latest, latest.c.submission_id == Submission.id)
        .join(Grade, Grade.id == latest.c.grade_id)
        .order_by(Submission.id)
    )
    return [(s, g) for s, g in session.execute(query).all()]


def students_of(session: Session, course_id: int) -> list[User]:
    """The course's students, by name then email."""
    query = (
        select(User)
        .join(Enrollment, Enrollment.user_id == User.id)
        .where(Enrollment.course_id == course_id, Enrollment.role == "student")
        .order_by(User.name, User.email, User.id)
    )
    return list(session.scalars(query))


def not_counted(problem_set: ProblemSet, now: datetime | None = None) -> str:
    """Why a set stays out of a course's totals ("" when it counts): a draft, or a set that
    opens later."""
    if problem_set.published_at is None:
        return "draft"
    opens = problem_set.opens_at
    if opens is not None:
        opens = opens.replace(tzinfo=UTC) if opens.tzinfo is None else opens.astimezone(UTC)
        if opens > (now or utcnow()):
            return f"opens {opens:%Y-%m-%d %H:%M} UTC"
    return ""


def submissions_in_course(course: Course, user: User, session: Session | None = None) -> int:
    """How many answers `user` has submitted to the course's sets."""
    s = session or db.session()
    query = (
        select(func.count(Submission.id))
        .join(Item, Item.id == Submission.item_id)
        .join(ProblemSet, ProblemSet.id == Item.problem_set_id)
        .where(ProblemSet.course_id == course.id, Submission.user_id == user.id)
    )
    return int(s.scalar(query) or 0)


def columns_of(sets: Iterable[ProblemSet], uncounted: Iterable[int] = ()) -> list[Column]:
    """One column per item, set by set, in position order; the sets whose ids are in
    `uncounted` are left out of the totals."""
    left_out = set(uncounted)
    return [
        Column(
            item.id,
            item.public_id,
            ps.id,
            ps.public_id,
            ps.title,
            item.position,
            item.kind,
            float(item.points),
            ps.id not in left_out,
        )
        for ps in sets
        for item in sorted(ps.items, key=lambda i: i.position)
    ]


def gradebook(target: Course | ProblemSet, session: Session | None = None) -> Gradebook:
    """The gradebook of a whole course (every set, in order; the totals count the published,
    open ones) or of one problem set (its own totals, whatever its state)."""
    s = session or db.session()
    reasons: dict[int, str] = {}
    if isinstance(target, ProblemSet):
        sets = [target]
        course_id = target.course_id
        title = target.title
    else:
        sets = list(
            s.scalars(
                select(ProblemSet).where(ProblemSet.course_id == target.id).order_by(ProblemSet.id)
            )
        )
        course_id = target.id
        title = f"{target.code}: {target.title}"
        now = utcnow()
        reasons = {ps.id: not_counted(ps, now) for ps in sets}
    columns = columns_of(sets, [i for i, why in reasons.items() if why])
    index = {c.item_id: j for j, c in enumerate(columns)}
    students = students_of(s, course_id)

    best: dict[tuple[int, int], tuple[float, float]] = {}
    attempts: dict[tuple[int, int], int] = {}
    last: dict[tuple[int, int], int] = {}
    stale = 0
    for sub, grade in latest_grades(s, list(index)):
        key = (sub.user_id, sub.item_id)
        if (
            abs(float(grade.score) - float(grade.fraction) * columns[index[sub.item_id]].points)
            > 1e-6
        ):
            stale += 1
        attempts[key] = attempts.get(key, 0) + 1
        last[key] = max(last.get(key, 0), sub.attempt)
        if key not in best or grade.score > best[key][0]:
            best[key] = (float(grade.score), float(grade.fraction))

    max_total = sum(c.points for c in columns if c.counted)
    rows = []
    for user in students:
        cells = []
        for c in columns:
            key = (user.id, c.item_id)
            score, fraction = best.get(key, (None, None))
            cells.append(Cell(score, fraction, attempts.get(key, 0), last.get(key)))
        total = sum(
            cell.best
            for cell, c in zip(cells, columns, strict=True)
            if cell.best is not None and c.counted
        )
        rows.append(
            Row(user.id, user.public_id, user.name, user.email, tuple(cells), total, max_total)
        )
    set_spans = tuple(
        (
            ps.public_id,
            ps.title,
            sum(1 for c in columns if c.set_id == ps.id),
            reasons.get(ps.id, ""),
        )
        for ps in sets
    )
    return Gradebook(title, tuple(columns), tuple(rows), set_spans, stale)


# ---------------------------------------------------------------- CSV

# A spreadsheet runs a cell starting with these as a formula (OWASP "CSV Injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> Any:
    """A cell value that no spreadsheet will run: text starting with = + - @ tab or CR gets
    a leading apostrophe; numbers (negative ones too) stay numbers."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        return format_number(value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def format_number(value: float) -> str:
    """Integers without a decimal point, others with up to 4 decimals."""
    value = float(value)
    if value.is_integer():
        return str(int(value))
    return f"{value:.4f}".rstrip("0").rstrip(".")


def csv_header(book: Gradebook) -> list[str]:
    header = ["Name", "Email"]
    for c in book.columns:
        label = c.long_label if c.counted else f"{c.long_label} (not in Total)"
        header += [label, f"{label} attempts"]
    return header + ["Total", "Max", "Percentage"]


def csv_rows(book: Gradebook) -> list[list[Any]]:
    """The gradebook as CSV rows (raw values; `to_csv` neutralizes them)."""
    rows: list[list[Any]] = []
    for r in book.rows:
        row: list[Any] = [r.name, r.email]
        for cell in r.cells:
            row += [cell.best, cell.attempts]
        row += [round(r.total, 4), round(r.max_total, 4), round(r.percentage, 2)]
        rows.append(row)
    return rows


def to_csv(book: Gradebook) -> str:
    """The gradebook as CSV text: a header row then one row per student; blank where a
    student has not attempted an item."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([csv_safe(h) for h in csv_header(book)])
    for row in csv_rows(book):
        writer.writerow([csv_safe(v) for v in row])
    return out.getvalue()


# ---------------------------------------------------------------- one student's submissions


@dataclass(frozen=True)
class SubmissionView:
    """A submission with its whole grade history (oldest first; the last is current)."""

    submission: Submission
    grades: tuple[Grade, ...]

    @property
    def current(self) -> Grade:
        return self.grades[-1]


def submissions_of(user: User, item: Item, session: Session | None = None) -> list[SubmissionView]:
    """A student's submissions to an item, by attempt, each with every grade it was given."""
    s = session or db.session()
    subs = list(
        s.scalars(
            select(Submission)
            .where(Submission.item_id == item.id, Submission.user_id == user.id)
            .order_by(Submission.attempt)
        )
    )
    if not subs:
        return []
    grades: dict[int, list[Grade]] = {sub.id: [] for sub in subs}
    for grade in s.scalars(
        select(Grade).where(Grade.submission_id.in_(list(grades))).order_by(Grade.id)
    ):
        grades[grade.submission_id].append(grade)
    return [SubmissionView(sub, tuple(grades[sub.id])) for sub in subs if grades[sub.id]]
