"""A student's attempts: the sets and items they may open, drafts, submissions and grades.

Grading is pure and happens first; a valid submission is then inserted with its grade in one
transaction. `(item, user, attempt)` is unique and the insert is `ON CONFLICT DO NOTHING`, so
a double click, a retried request or a stale tab finds the first submission instead of
making a second one. A submission that cannot be read is never recorded and costs nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, selectinload

from grader import db
from grader.models import (
    Course,
    Draft,
    Enrollment,
    Grade,
    Item,
    ProblemSet,
    Submission,
    User,
    new_public_id,
    utcnow,
)
from grader.variants import variant, variant_seed
from problems import kinds
from problems.answers import MAX_ANSWER_CHARS
from problems.kinds.base import GradeResult, Problem

# A draft is what a student typed: a few short texts. Anything larger is not a draft.
MAX_DRAFT_BYTES = 64 * 1024
SOLUTION_POLICIES = ("never", "after_due", "after_attempts", "always")
FULL_MARKS = 1.0 - 1e-9


class AttemptRefused(Exception):
    """A submission (or draft) the rules do not allow; `message` says why, for the student.

    `reason` is one of: not_enrolled, not_published, not_open, past_due, no_attempts,
    full_marks, out_of_sequence."""

    def __init__(self, reason: str, message: str, *, attempt: int | None = None,
                 next_attempt: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        # out_of_sequence: the attempt submitted and the one expected (for the API's wording)
        self.attempt = attempt
        self.next_attempt = next_attempt


class SetNotOpen(Exception):
    """A set of one of the student's courses that takes no answers now: unpublished (or
    never published), status 409; or, where the caller asks (`student_item(...,
    removed_is_gone=True)`), an open set without the item, status 410 (removed while its page
    was open). Not audited: the student may well have had the page open. `item` is the
    item asked for when the set still has it."""

    def __init__(self, status: int, problem_set: ProblemSet, item: Item | None = None) -> None:
        super().__init__(f"set {problem_set.public_id}: not open ({status})")
        self.status = status
        self.problem_set = problem_set
        self.item = item


class DraftRejected(ValueError):
    """A draft body that is not a small mapping of part ids to texts (`message` names why)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class SubmitOutcome:
    """What a submit did. `submission` is None only when `invalid` is set (nothing recorded);
    `result` is the submission's current grade as `GradeResult.to_json()`; `replayed` means
    this attempt had already been submitted and the first submission is returned."""

    submission: Submission | None
    result: dict[str, Any] | None
    replayed: bool = False
    invalid: GradeResult | None = None
    message: str = ""


def graded_points(grade: Grade, item: Item) -> float:
    """What `item` was worth when `grade` was given: its score over its fraction of full
    marks (the item's points now when the grade is 0, which tells nothing)."""
    if grade.fraction > 1e-9:
        return round(grade.score / grade.fraction, 2)
    return item.points


@dataclass
class ItemProgress:
    """One student's standing on one item."""

    item: Item
    attempts_allowed: int
    submissions: list[Submission] = field(default_factory=list)

    @property
    def attempts_used(self) -> int:
        return len(self.submissions)

    @property
    def attempts_left(self) -> int:
        return max(0, self.attempts_allowed - self.attempts_used)

    @property
    def best(self) -> Grade | None:
        """The best current grade over the attempts (the item's score)."""
        grades = [s.grade for s in self.submissions if s.grades]
        return max(grades, key=lambda g: (g.score, -g.id)) if grades else None

    @property
    def score(self) -> float:
        best = self.best
        return best.score if best else 0.0

    @property
    def full_marks(self) -> bool:
        best = self.best
        return best is not None and best.fraction >= FULL_MARKS

    @property
    def graded_points(self) -> float:
        """What the item was worth when its best grade was given (`graded_points`)."""
        best = self.best
        return self.item.points if best is None else graded_points(best, self.item)

    @property
    def regrade_pending(self) -> bool:
        """The item's points changed since its best grade was given, and no regrade has
        rescaled it yet: the score is out of the old points (10 of 10, full marks), not
        the new ones (20)."""
        return abs(self.graded_points - self.item.points) > 1e-6

    @property
    def latest(self) -> Submission | None:
        return self.submissions[-1] if self.submissions else None

    @property
    def finished(self) -> bool:
        """Nothing more to do: full marks, or no attempts left."""
        return self.full_marks or self.attempts_left == 0

    @property
    def status(self) -> str:
        if not self.submissions:
            return "not started"
        return "done" if self.finished else "in progress"


@dataclass
class SetSummary:
    """A problem set as its student sees it in the list of sets."""

    problem_set: ProblemSet
    course: Course
    items: list[ItemProgress]
    now: datetime

    @property
    def score(self) -> float:
        return sum(p.score for p in self.items)

    @property
    def max_score(self) -> float:
        return sum(p.item.points for p in self.items)

    @property
    def regrade_pending(self) -> bool:
        """Some item's points changed since its grade was given (`ItemProgress`)."""
        return any(p.regrade_pending for p in self.items)

    @property
    def is_open(self) -> bool:
        return availability(self.problem_set, self.now) is None

    @property
    def not_yet_open(self) -> bool:
        opens = aware(self.problem_set.opens_at)
        return opens is not None and self.now < opens

    @property
    def past_due(self) -> bool:
        due = aware(self.problem_set.due_at)
        return due is not None and self.now >= due

    @property
    def status(self) -> str:
        """not started, in progress or done (every item finished: full marks or no attempt
        left). A set past its due date keeps its status and is shown closed."""
        if self.items and all(p.finished for p in self.items):
            return "done"
        if any(p.submissions for p in self.items):
            return "in progress"
        return "not started"


# ---------------------------------------------------------------- time


def aware(moment: datetime | None) -> datetime | None:
    """A stored time as an aware UTC datetime (SQLite hands back naive ones)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def availability(problem_set: ProblemSet, now: datetime | None = None,
                 grace: timedelta = timedelta(0), *, submitting: bool = False
                 ) -> AttemptRefused | None:
    """Why the set cannot take submissions now (not published, not open, past due), or None.

    `grace`: how long after the due date a submission is still taken (the submit path's
    SUBMISSION_GRACE_SECONDS): a class submitting at the deadline queues at the server, and
    an answer sent just before the due date may be read just after it. Pages show the set
    closed from the due date itself. `submitting`: the refusal is a submit's, which is told
    how late its answer arrived."""
    now = now or utcnow()
    if not problem_set.published:
        return AttemptRefused("not_published", "This problem set is not published.")
    opens = aware(problem_set.opens_at)
    if opens is not None and now < opens:
        return AttemptRefused("not_open", f"This problem set opens at {format_time(opens)}.")
    due = aware(problem_set.due_at)
    if due is not None and now >= due + grace:
        late = f" This answer arrived {_late_by(now - due)} after it." if submitting else ""
        return AttemptRefused(
            "past_due",
            f"The due date ({format_time(due)}) has passed: submissions are closed.{late}",
        )
    return None


def submission_grace() -> timedelta:
    """How long after a due date submissions are still taken (SUBMISSION_GRACE_SECONDS)."""
    try:
        seconds = float(current_app.config.get("SUBMISSION_GRACE_SECONDS", 0))
    except RuntimeError:  # no app (a script): none
        return timedelta(0)
    return timedelta(seconds=seconds)


def late_by(moment: datetime | None, due: datetime | None) -> str:
    """How long after the due date `moment` was (`12.3 s`), or "" for none or on time: a
    submission taken in the grace period, for the instructor's pages."""
    moment, due = aware(moment), aware(due)
    if moment is None or due is None or moment < due:
        return ""
    return _late_by(moment - due)


def _late_by(delta: timedelta) -> str:
    """`1.2 s`, `3 min 5 s`, `2 h 10 min`, `4 days`: how late, for a student."""
    seconds = delta.total_seconds()
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} days"


def format_time(moment: datetime | None) -> str:
    """`2026-12-01 17:00 UTC` (or an empty string)."""
    moment = aware(moment)
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""


# ---------------------------------------------------------------- what a student may open


def _course_sets_query(user: User):  # type: ignore[no-untyped-def]
    """Every set of the courses `user` is a student of, published or not."""
    return (
        select(ProblemSet)
        .join(Enrollment, Enrollment.course_id == ProblemSet.course_id)
        .where(Enrollment.user_id == user.id, Enrollment.role == "student")
    )


def _student_sets_query(user: User):  # type: ignore[no-untyped-def]
    return _course_sets_query(user).where(ProblemSet.published_at.is_not(None))


def is_enrolled(s: Session, user: User, problem_set: ProblemSet) -> bool:
    """Whether `user` is a student of the set's course."""
    return (
        s.scalar(
            select(func.count())
            .select_from(Enrollment)
            .where(
                Enrollment.user_id == user.id,
                Enrollment.course_id == problem_set.course_id,
                Enrollment.role == "student",
            )
        )
        > 0
    )


def _deny(detail: str) -> None:
    from grader.auth.access import deny

    deny(detail)


def student_set(user: User, set_public_id: str) -> ProblemSet:
    """A published set of a course the user is a student of; SetNotOpen (409) for an
    unpublished set of such a course; 404 (audited) otherwise."""
    s = db.session()
    found = s.scalars(
        _student_sets_query(user)
        .where(ProblemSet.public_id == set_public_id)
        .options(selectinload(ProblemSet.items), selectinload(ProblemSet.course))
    ).first()
    if found is None:
        # Only on this path (never for an open set): is it a set of theirs not open now?
        closed = s.scalars(
            _course_sets_query(user)
            .where(ProblemSet.public_id == set_public_id, ProblemSet.published_at.is_(None))
            .options(selectinload(ProblemSet.items))
        ).first()
        if closed is not None:
            raise SetNotOpen(409, closed)
        _deny(f"problem set {set_public_id[:40]!r} not available to this student")
    return found  # type: ignore[return-value]


def _item_of(problem_set: ProblemSet, item_public_id: str) -> Item | None:
    return next((i for i in problem_set.items if i.public_id == item_public_id), None)


def student_item(user: User, set_public_id: str, item_public_id: str, *,
                 removed_is_gone: bool = False) -> Item:
    """An item of a set the user may open (see `student_set`, whose SetNotOpen then names
    the item). An open set without the item: SetNotOpen (410) with `removed_is_gone` (an
    answer sent from a page open before the item was removed), else 404 (audited: a link
    to a removed item cannot be told from a made-up one)."""
    try:
        problem_set = student_set(user, set_public_id)
    except SetNotOpen as closed:
        closed.item = _item_of(closed.problem_set, item_public_id)
        raise
    item = _item_of(problem_set, item_public_id)
    if item is not None:
        return item
    if removed_is_gone:
        raise SetNotOpen(410, problem_set)
    _deny(f"item {item_public_id[:40]!r} not in set {set_public_id[:40]!r}")
    raise AssertionError("unreachable")  # pragma: no cover


def submission_for(user: User, item: Item, submission_public_id: str) -> Submission:
    """One of the user's own submissions of this item; 404 (audited) otherwise."""
    s = db.session()
    found = s.scalars(
        select(Submission)
        .where(
            Submission.public_id == submission_public_id,
            Submission.item_id == item.id,
            Submission.user_id == user.id,
        )
        .options(selectinload(Submission.grades))
    ).first()
    if found is None:
        _deny(f"submission {submission_public_id[:40]!r} not this student's")
    return found  # type: ignore[return-value]


def progress(user: User, items: Iterable[Item]) -> dict[int, ItemProgress]:
    """Each item's progress for `user` (one query for all the submissions and grades)."""
    items = list(items)
    result = {item.id: ItemProgress(item, item.problem_set.attempts_allowed) for item in items}
    if not items:
        return result
    s = db.session()
    rows = s.scalars(
        select(Submission)
        .where(Submission.user_id == user.id, Submission.item_id.in_(list(result)))
        .options(selectinload(Submission.grades))
        .order_by(Submission.attempt)
    ).all()
    for sub in rows:
        result[sub.item_id].submissions.append(sub)
    return result


def set_summaries(user: User, now: datetime | None = None) -> list[SetSummary]:
    """Every published set of every course the user is a student of, due first."""
    now = now or utcnow()
    s = db.session()
    sets = s.scalars(
        _student_sets_query(user).options(
            selectinload(ProblemSet.items).selectinload(Item.problem_set),
            selectinload(ProblemSet.course),
        )
    ).all()
    by_item = progress(user, [item for ps in sets for item in ps.items])
    far = datetime.max.replace(tzinfo=UTC)
    summaries = [
        SetSummary(ps, ps.course, [by_item[item.id] for item in ps.items], now) for ps in sets
    ]
    summaries.sort(
        key=lambda m: (
            m.status == "done" or m.past_due,
            aware(m.problem_set.due_at) or far,
            m.course.code,
            m.problem_set.id,
        )
    )
    return summaries


def set_view(user: User, problem_set: ProblemSet, now: datetime | None = None) -> SetSummary:
    """One set's summary (its items in order, each with the user's progress)."""
    now = now or utcnow()
    by_item = progress(user, problem_set.items)
    return SetSummary(
        problem_set, problem_set.course, [by_item[i.id] for i in problem_set.items], now
    )


# ---------------------------------------------------------------- the problem shown


def seed_for(user: User, item: Item) -> int:
    """The seed of the user's variant of the item."""
    return variant_seed(item.problem_set.secret, user.public_id, item.public_id)


def problem_for(user: User, item: Item) -> Problem:
    """The user's variant of the item."""
    return variant(
        item.problem_set.secret, user.public_id, item.public_id, item.kind, item.difficulty
    )


def public_problem(problem: Problem) -> dict[str, Any]:
    """What a student may see before grading: `Problem.public()` without the seed (with the
    seed and the open generator, the answers could be recomputed)."""
    shown = problem.public()
    shown.pop("seed", None)
    return shown


def solutions_visible(
    user: User, item: Item, item_progress: ItemProgress | None = None, now: datetime | None = None
) -> bool:
    """Whether the set's policy shows this user the worked solution now.

    never; always; after_due (the due date has passed); after_attempts (no attempt left, full
    marks, or the set closed: nothing the student does can change the grade any more).
    "Passed" counts the submission grace period: a solution shown at the due date could
    still be copied into a submission taken during it."""
    policy = item.problem_set.solutions
    if policy == "always":
        return True
    if policy not in ("after_due", "after_attempts"):
        return False
    now = now or utcnow()
    due = aware(item.problem_set.due_at)
    past_due = due is not None and now >= due + submission_grace()
    if policy == "after_due":
        return past_due
    if item_progress is None:
        item_progress = progress(user, [item])[item.id]
    return past_due or item_progress.finished


def closed_reason(
    item: Item, state: ItemProgress, now: datetime | None = None
) -> AttemptRefused | None:
    """Why the item takes no more submissions from this student (set closed, full marks,
    attempts used up), or None."""
    refusal = availability(item.problem_set, now)
    if refusal is None and state.full_marks:
        refusal = AttemptRefused("full_marks", "You have full marks on this item.")
    if refusal is None and state.attempts_left == 0:
        refusal = AttemptRefused("no_attempts", "You have used all your attempts on this item.")
    return refusal


def worked_solution(problem: Problem) -> list[dict[str, Any]]:
    """The worked solution as JSON steps."""
    return [step.to_json() for step in kinds.worked_solution(problem)]


def student_view(user: User, item: Item, now: datetime | None = None) -> dict[str, Any]:
    """Everything the item page shows: the public problem, the draft, the submissions, the
    attempts left, whether a submission is possible now (or why not), and the worked
    solution if the policy allows it (else None)."""
    now = now or utcnow()
    problem = problem_for(user, item)
    state = progress(user, [item])[item.id]
    refusal = closed_reason(item, state, now)
    visible = solutions_visible(user, item, state, now)
    draft = (
        db.session()
        .scalars(select(Draft).where(Draft.item_id == item.id, Draft.user_id == user.id))
        .first()
    )
    return {
        "problem": public_problem(problem),
        "draft": dict(draft.answers) if draft else None,
        "draft_saved_at": aware(draft.updated_at) if draft else None,
        "submissions": state.submissions,
        "progress": state,
        "attempts_used": state.attempts_used,
        "attempts_left": state.attempts_left,
        "next_attempt": state.attempts_used + 1,
        "can_submit": refusal is None,
        "closed": refusal,
        "solution_visible": visible,
        "solution": worked_solution(problem) if visible else None,
        "_problem": problem,  # server side only: for grading marks and solution drawings
    }


# ---------------------------------------------------------------- drafts


def clean_answers(problem: Problem, answers: Any) -> dict[str, str]:
    """The texts of the problem's parts from a submitted mapping (unknown keys dropped).

    Raises DraftRejected if `answers` is not a mapping of strings or a text is too long."""
    if not isinstance(answers, Mapping):
        raise DraftRejected("answers must be an object mapping part ids to texts")
    texts: dict[str, str] = {}
    for part in problem.parts:
        value = answers.get(part.id)
        if value is None:
            continue
        if not isinstance(value, str):
            raise DraftRejected(f"answers.{part.id} must be text")
        if len(value) > MAX_ANSWER_CHARS:
            raise DraftRejected(
                f"answers.{part.id} is too long ({len(value):,} characters; at most "
                f"{MAX_ANSWER_CHARS:,})"
            )
        texts[part.id] = value
    return texts


def _dialect_insert(s: Session, model: type) -> Any:
    """`INSERT` with the dialect's ON CONFLICT clauses (SQLite and PostgreSQL)."""
    name = s.get_bind().dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - only the two engines we support
        raise RuntimeError(f"unsupported database dialect {name!r}")
    return insert(model)


def save_draft(user: User, item: Item, answers: Any, now: datetime | None = None) -> datetime:
    """Upsert the user's draft of the item (the texts of its parts); the time it was saved.

    Raises DraftRejected for a malformed body, AttemptRefused when the item takes no more
    submissions (a draft could never be submitted)."""
    now = now or utcnow()
    problem = problem_for(user, item)
    texts = clean_answers(problem, answers)
    if len(json.dumps(texts)) > MAX_DRAFT_BYTES:
        raise DraftRejected(f"the draft is too large (at most {MAX_DRAFT_BYTES // 1024} KiB)")
    with db.transaction() as s:
        if not is_enrolled(s, user, item.problem_set):
            raise AttemptRefused("not_enrolled", "You are not a student of this course.")
        refusal = closed_reason(item, progress(user, [item])[item.id], now)
        if refusal is not None:
            raise refusal
        _upsert_draft(s, user, item, texts, now)
    return now


def _upsert_draft(s: Session, user: User, item: Item, texts: dict[str, str], now: datetime) -> None:
    """The user's one draft of the item, written over (or made) with `texts`, saved `now`."""
    stmt = _dialect_insert(s, Draft).values(
        item_id=item.id, user_id=user.id, answers=texts, updated_at=now)
    s.execute(stmt.on_conflict_do_update(
        index_elements=["item_id", "user_id"],
        set_={"answers": stmt.excluded.answers, "updated_at": stmt.excluded.updated_at}))


def keep_late_answers(user: User, item: Item, answers: Any, now: datetime | None = None) -> None:
    """Answers a submit brought after the due date (and its grace) are not graded, but kept
    as the student's draft, saved at their arrival: the instructor's page of the student's
    item shows them and when they came (a claim of "I sent it in time" can be checked),
    and the student's page keeps them. (A draft is otherwise saved only while the item is
    open: `save_draft`.)"""
    now = now or utcnow()
    texts = clean_answers(problem_for(user, item), answers)
    if len(json.dumps(texts)) > MAX_DRAFT_BYTES:
        return
    with db.transaction() as s:
        if not is_enrolled(s, user, item.problem_set):
            return
        _upsert_draft(s, user, item, texts, now)


@dataclass(frozen=True)
class UnsubmittedAnswers:
    """What a student typed into an item and never submitted (their draft): the texts by
    part id, when they were last saved, and whether that was after the due date (answers
    a submit brought too late are kept so: `keep_late_answers`)."""

    answers: dict[str, str]
    saved_at: datetime
    after_due: bool


def unsubmitted_answers(user: User, item: Item) -> UnsubmittedAnswers | None:
    """The student's draft of the item when it holds answers their submissions do not
    (`unsubmitted`); for the instructor's page of the student's item."""
    draft = db.session().scalars(
        select(Draft).where(Draft.item_id == item.id, Draft.user_id == user.id)).first()
    if draft is None:
        return None
    return unsubmitted(dict(draft.answers), draft.updated_at,
                       progress(user, [item])[item.id].latest, item.problem_set)


def unsubmitted(draft: Mapping[str, Any] | None, saved_at: datetime | None,
                latest: Submission | None, problem_set: ProblemSet) -> UnsubmittedAnswers | None:
    """A draft (its answers, when saved) as answers never submitted: when it holds some,
    was saved after the latest submission (or there is none) and is not that submission's
    texts; else None. For pages that have the draft and the submissions already."""
    saved = aware(saved_at)
    if not draft or saved is None or not any(str(v).strip() for v in draft.values()):
        return None
    if latest is not None and (aware(latest.created_at) >= saved
                               or dict(latest.answers) == dict(draft)):
        return None
    due = aware(problem_set.due_at)
    return UnsubmittedAnswers(dict(draft), saved, due is not None and saved >= due)


# ---------------------------------------------------------------- submitting


def _existing(s: Session, user: User, item: Item, attempt: int) -> Submission | None:
    return s.scalars(
        select(Submission)
        .where(
            Submission.item_id == item.id,
            Submission.user_id == user.id,
            Submission.attempt == attempt,
        )
        .options(selectinload(Submission.grades))
        .execution_options(populate_existing=True)
    ).first()


def _replay(submission: Submission, message: str) -> SubmitOutcome:
    return SubmitOutcome(submission, dict(submission.grade.result), replayed=True, message=message)


ALREADY_SUBMITTED = "This attempt was already submitted: here is its grade."


def submit(
    user: User,
    item: Item,
    answers: Mapping[str, Any],
    attempt: int,
    *,
    source: str = "web",
    now: datetime | None = None,
) -> SubmitOutcome:
    """Grade the answers for attempt number `attempt` and record them with their grade.

    Raises AttemptRefused (not enrolled, not published, not open, past due, no attempts
    left, full marks, out of sequence). An attempt number already used returns that
    submission (replayed, with a message); answers that cannot be read return
    `invalid` (the format errors) and record nothing."""
    now = now or utcnow()
    problem_set = item.problem_set
    if type(attempt) is not int or attempt < 1:
        raise AttemptRefused("out_of_sequence", "The attempt number is missing: reload the page.")
    # Grading is pure: do it before the transaction so the write lock (SQLite's BEGIN
    # IMMEDIATE) is held only for the checks and the insert.
    problem = problem_for(user, item)
    follow_through = problem_set.follow_through
    db.session().commit()  # end the read that loaded the set before grading unlocked
    texts = {p.id: str(answers.get(p.id, "") or "") for p in problem.parts}
    result = kinds.grade(problem, texts, follow_through=follow_through)
    with db.transaction() as s:
        if not is_enrolled(s, user, problem_set):
            raise AttemptRefused("not_enrolled", "You are not a student of this course.")
        if not problem_set.published:
            raise AttemptRefused("not_published", "This problem set is not published.")
        # One read of the attempts so far: every rule below judges the same state (a
        # concurrent submit that commits after it is caught by the insert's ON CONFLICT).
        state = progress(user, [item])[item.id]
        used = state.attempts_used
        if attempt <= used:  # a double click, a retry or a stale tab: the first one stands
            existing = next((sub for sub in state.submissions if sub.attempt == attempt), None)
            if existing is not None:
                return _replay(existing, ALREADY_SUBMITTED)
        refusal = availability(problem_set, now, submission_grace(), submitting=True)
        if refusal is not None:
            raise refusal
        if state.full_marks:
            raise AttemptRefused("full_marks", "You already have full marks on this item.")
        if used >= problem_set.attempts_allowed:
            raise AttemptRefused(
                "no_attempts",
                f"No attempts left: you have used all {problem_set.attempts_allowed} attempts "
                "on this item.",
            )
        if attempt != used + 1:
            raise AttemptRefused(
                "out_of_sequence",
                f"This page is out of date (it submits attempt {attempt}, but the next attempt is "
                f"{used + 1}): reload the page and submit again.",
                attempt=attempt, next_attempt=used + 1,
            )
        if not result.valid:
            return SubmitOutcome(
                None,
                None,
                invalid=result,
                message="Some answers could not be read: no attempt was used.",
            )
        fraction = result.fraction
        inserted = s.execute(
            _dialect_insert(s, Submission)
            .values(
                public_id=new_public_id(),
                item_id=item.id,
                user_id=user.id,
                attempt=attempt,
                kind=item.kind,
                difficulty=item.difficulty,
                seed=problem.seed,
                answers=texts,
                source=source,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["item_id", "user_id", "attempt"])
            .returning(Submission.id)
        ).scalar_one_or_none()
        if inserted is None:  # a concurrent request recorded this attempt first
            existing = _existing(s, user, item, attempt)
            if existing is None:  # pragma: no cover - the unique index guarantees it
                raise RuntimeError("conflicting submission vanished")
            return _replay(existing, ALREADY_SUBMITTED)
        s.add(
            Grade(
                submission_id=inserted,
                score=fraction * item.points,
                fraction=fraction,
                result=result.to_json(),
                misconceptions=result.misconceptions,
                reason="submitted",
                created_at=now,
            )
        )
        from grader.services import passback  # LTI grade passback (outbox row, this transaction)

        passback.enqueue(s, user, item, inserted)  # a no-op for users without an LTI link
        s.execute(delete(Draft).where(Draft.item_id == item.id, Draft.user_id == user.id))
        s.flush()
        submission = s.scalars(
            select(Submission)
            .where(Submission.id == inserted)
            .options(selectinload(Submission.grades))
            .execution_options(populate_existing=True)
        ).one()
    return SubmitOutcome(submission, dict(submission.grade.result))


def current_result(submission: Submission) -> dict[str, Any]:
    """The submission's current grade (the latest: a regrade adds one) as GradeResult JSON."""
    return dict(submission.grade.result)


def seeds_differ(user: User, item: Item, submission: Submission) -> bool:
    """Whether a stored submission was made on another variant than the current one (an
    instructor changed the item): its feedback then belongs to that older problem."""
    return (submission.kind, submission.difficulty, submission.seed) != (
        item.kind,
        item.difficulty,
        seed_for(user, item),
    )
