"""Course submissions through the API, exactly once per (key, Idempotency-Key).

`attempts.submit` owns its own transaction (grade, then insert Submission + Grade with ON
CONFLICT on (item, user, attempt)), so the key cannot be written inside it. Instead:

1. **Reserve** (own short transaction): insert an `ApiIdempotency` intent, `pending`, that
   pins the attempt number and holds the answers. `(api_key, Idempotency-Key)` and
   `(item, user, attempt)` are both unique, so one key maps to one attempt and two keys
   never claim the same attempt.
2. **Submit**: `attempts.submit(user, item, answers, attempt, source="api")`. Its own
   `(item, user, attempt)` uniqueness makes it exactly-once: a second call for the same
   attempt returns the first submission (`replayed`).
3. **Complete** (own short transaction): `UPDATE ... SET status='done', response=...
   WHERE status='pending'`; the one request whose update lands answers "fresh", every
   other one replays the stored response.

A crash between the steps leaves a `pending` intent; the retry (or any request that meets
it) finishes it from what it holds, so nothing is lost and nothing is recorded twice. An
answer set that cannot be read, or a submission the rules refuse, releases the intent:
nothing is recorded and the key is not used. If the attempt was taken by another route
(the student's browser) in between, the intent is released and, when the caller let us
pick the attempt, the next one is reserved instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update

from grader import db
from grader.api.common import course_set, course_student, dialect_insert, iso, set_item
from grader.api.errors import ApiError, dumps
from grader.api.grading import Recorded, answer_texts, format_errors
from grader.api.models import ApiIdempotency
from grader.api.schemas import SubmissionRequest
from grader.models import Item, ProblemSet, Submission, User, utcnow
from grader.services import attempts
from grader.services.api_keys import Caller
from problems import kinds

# Each round either records, replays, refuses, or sees another request take the attempt it
# wanted (and then finishes that request's intent): many clients at once need a few rounds.
MAX_ROUNDS = 20
SOURCE = "api"


class _AttemptTaken(Exception):
    """The reserved attempt was recorded by another route first (not by this intent)."""


@dataclass(frozen=True)
class _Intent:
    id: int
    request_hash: str
    status: str
    response_json: str | None
    response_status: int | None
    item_id: int
    user_id: int
    attempt: int
    answers: dict[str, str]


_COLUMNS = (
    ApiIdempotency.id, ApiIdempotency.request_hash, ApiIdempotency.status,
    ApiIdempotency.response_json, ApiIdempotency.response_status, ApiIdempotency.item_id,
    ApiIdempotency.user_id, ApiIdempotency.attempt, ApiIdempotency.answers,
)


def _intent(row: Any) -> _Intent | None:
    return None if row is None else _Intent(*row)


def _own_intent(caller: Caller, idempotency_key: str) -> _Intent | None:
    with db.transaction() as s:
        return _intent(s.execute(select(*_COLUMNS).where(
            ApiIdempotency.api_key_id == caller.key_id,
            ApiIdempotency.idempotency_key == idempotency_key,
        )).first())


def _conflict() -> ApiError:
    return ApiError(
        422, "Idempotency-Key",
        "this Idempotency-Key was already used by this API key for another submission "
        "(another body, set or item): use a new key for a new request",
    )


def submission_json(submission: Submission, item: Item, user: User,
                    problem_set: ProblemSet) -> dict[str, Any]:
    """The response for a recorded submission: built from the stored rows only, so whoever
    completes an intent writes the same response."""
    grade = submission.grade
    result = dict(grade.result)
    return {
        "submission_id": submission.public_id,
        "set_id": problem_set.public_id,
        "item_id": item.public_id,
        "student": user.email,
        "attempt": submission.attempt,
        "attempts_allowed": problem_set.attempts_allowed,
        "score": round(float(grade.score), 6),
        "max_score": float(item.points),
        "fraction": round(float(grade.fraction), 6),
        "valid": result.get("valid", True),
        "parts": result.get("parts", []),
        "misconceptions": list(grade.misconceptions or []),
        "recorded_at": iso(submission.created_at),
    }


def _release(intent_id: int) -> None:
    """Drop a pending intent: nothing was recorded under it, so its key is free again."""
    with db.transaction() as s:
        s.execute(delete(ApiIdempotency).where(
            ApiIdempotency.id == intent_id, ApiIdempotency.status == "pending"))


def _refusal(err: attempts.AttemptRefused) -> ApiError:
    path = "attempt" if err.reason in ("no_attempts", "out_of_sequence", "full_marks") else ""
    if err.reason == "not_enrolled":
        path = "student"
    message = err.message
    if err.reason == "out_of_sequence" and err.next_attempt is not None:
        # The service's words are for a browser page ("reload the page").
        message = (f"attempt {err.attempt} is out of sequence: the student's next attempt is "
                   f"{err.next_attempt}; send that number, or leave out `attempt` to use it")
    return ApiError(409, path, message, {"reason": err.reason})


def _complete(intent: _Intent) -> Recorded:
    """Submit what a pending intent holds and store the response (see the module doc)."""
    s = db.session()
    user = s.get(User, intent.user_id)
    item = s.get(Item, intent.item_id)
    if user is None or item is None:  # pragma: no cover - cascades remove the intent too
        _release(intent.id)
        raise ApiError(409, "", "the student or the item no longer exists")
    try:
        outcome = attempts.submit(user, item, intent.answers, intent.attempt, source=SOURCE)
    except attempts.AttemptRefused as err:
        _release(intent.id)
        raise _refusal(err) from None
    if outcome.invalid is not None:
        _release(intent.id)
        raise format_errors(outcome.invalid)
    submission = outcome.submission
    assert submission is not None
    # Only this intent can have recorded an API submission of this attempt (the intents'
    # (item, user, attempt) is unique); anything else came from another route.
    if outcome.replayed and (submission.source != SOURCE
                             or dict(submission.answers) != intent.answers):
        _release(intent.id)
        raise _AttemptTaken()
    text = dumps(submission_json(submission, item, user, item.problem_set))
    with db.transaction() as s:
        landed = s.execute(
            update(ApiIdempotency)
            .where(ApiIdempotency.id == intent.id, ApiIdempotency.status == "pending")
            .values(status="done", response_status=201, response_json=text,
                    submission_id=submission.id, completed_at=utcnow())
        ).rowcount
        if not landed:
            stored = s.execute(
                select(ApiIdempotency.status, ApiIdempotency.response_json)
                .where(ApiIdempotency.id == intent.id)
            ).first()
    if landed:
        return Recorded(text, 201)
    if stored is None or stored.status != "done":  # pragma: no cover - released meanwhile
        raise ApiError(409, "", "a concurrent request changed this submission: retry")
    return Recorded(stored.response_json, 201, replayed=True)


def _roll_forward(intent: _Intent) -> None:
    """Finish another key's pending intent that holds the attempt we want (its own retry
    would do the same); whatever it comes to is stored for that key, not returned here."""
    try:
        _complete(intent)
    except (ApiError, _AttemptTaken):
        pass


def _reserve(caller: Caller, idempotency_key: str, request_hash: str, user: User,
             item: Item, attempt: int | None, texts: dict[str, str]) -> tuple[int | None, int]:
    """Insert a pending intent; (its id or None on a conflict, the attempt tried)."""
    with db.transaction() as s:
        if attempt is None:
            used = s.scalar(select(func.count()).select_from(Submission).where(
                Submission.item_id == item.id, Submission.user_id == user.id))
            attempt = int(used or 0) + 1
        inserted = s.execute(
            dialect_insert(s, ApiIdempotency)
            .values(api_key_id=caller.key_id, idempotency_key=idempotency_key,
                    request_hash=request_hash, item_id=item.id, user_id=user.id,
                    attempt=attempt, answers=texts, status="pending", created_at=utcnow())
            .on_conflict_do_nothing()
            .returning(ApiIdempotency.id)
        ).scalar_one_or_none()
    return inserted, attempt


def _holder_of(item: Item, user: User, attempt: int) -> _Intent | None:
    with db.transaction() as s:
        return _intent(s.execute(select(*_COLUMNS).where(
            ApiIdempotency.item_id == item.id, ApiIdempotency.user_id == user.id,
            ApiIdempotency.attempt == attempt,
        )).first())


def submit(caller: Caller, set_id: str, item_id: str, request: SubmissionRequest,
           idempotency_key: str, request_hash: str) -> Recorded:
    """Record a course student's answers to an item once per (key, Idempotency-Key)."""
    with db.transaction():
        problem_set = course_set(caller, set_id)
        item = set_item(problem_set, item_id)
        user = course_student(caller, request.student)
    for _ in range(MAX_ROUNDS):
        intent = _own_intent(caller, idempotency_key)
        if intent is not None:
            if intent.request_hash != request_hash:
                raise _conflict()
            if intent.status == "done":
                return Recorded(intent.response_json or "", intent.response_status or 201,
                                replayed=True)
            try:
                return _complete(intent)
            except _AttemptTaken:
                if request.attempt is not None:
                    raise _taken(intent.attempt) from None
                continue
        problem = attempts.problem_for(user, item)
        texts = answer_texts(problem, request.answers)
        result = kinds.grade(problem, texts, follow_through=problem_set.follow_through)
        if not result.valid:  # judged before anything is written: nothing to undo
            raise format_errors(result)
        with db.transaction():  # closed (due, no attempts left, full marks): refuse now
            refusal = attempts.closed_reason(item, attempts.progress(user, [item])[item.id])
        if refusal is not None:
            if _own_intent(caller, idempotency_key) is not None:
                continue  # closed by this very request, sent concurrently: replay it
            raise _refusal(refusal)
        inserted, attempt = _reserve(caller, idempotency_key, request_hash, user, item,
                                     request.attempt, texts)
        if inserted is None:
            if _own_intent(caller, idempotency_key) is not None:
                continue  # a concurrent retry of this request reserved first: join it
            holder = _holder_of(item, user, attempt)
            if holder is not None and holder.status == "pending":
                _roll_forward(holder)
            if request.attempt is not None:
                raise _taken(attempt)
            continue
        intent = _own_intent(caller, idempotency_key)
        if intent is None:  # pragma: no cover - released by a concurrent refusal
            continue
        try:
            return _complete(intent)
        except _AttemptTaken:
            if request.attempt is not None:
                raise _taken(attempt) from None
    raise ApiError(409, "", "the student's attempts on this item are changing under many "
                   "concurrent requests: retry with the same Idempotency-Key")


def _taken(attempt: int) -> ApiError:
    return ApiError(
        409, "attempt",
        f"attempt {attempt} was already recorded by another request (another Idempotency-Key "
        "or the student's browser): nothing was recorded; omit `attempt` to submit the "
        "student's next attempt",
        {"reason": "out_of_sequence"},
    )
