"""Problems made through the API and their grades.

A problem is `(kind, difficulty, seed)` stored under a random id; its answers never leave
the server before grading. A problem row never changes, so each process keeps the rows it
has read (`_Problems`). Grading is pure and happens first; the grade is then recorded by
ONE statement in its own transaction:

    INSERT INTO api_grades (...) SELECT ... FROM api_keys JOIN api_problems
    WHERE the key is not revoked and the problem is the key's course's
    ON CONFLICT (api_key_id, idempotency_key) DO NOTHING RETURNING id

so a known problem is graded and recorded with one round trip to the database, and the
key's revocation is checked atomically with the recording. The unique index decides which
of several concurrent retries records; when nothing is inserted, the slow path finds out
why (a retry: the winner's stored response is replayed byte for byte; a revoked key: 401;
a problem gone: 404). The grading path runs prebuilt Core statements
(grader/api/connection.py): it is the API's hot path.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from flask import current_app
from sqlalchemy import Dialect, bindparam, select

from grader import db
from grader.api import connection
from grader.api.auth import not_found, refuse_if_revoked
from grader.api.common import iso
from grader.api.errors import ApiError, dumps, join_path
from grader.api.models import ApiGrade, ApiKey, ApiProblem
from grader.api.schemas import GradeRequest, ProblemRequest
from grader.models import new_public_id, utcnow
from grader.services.api_keys import Caller
from problems import kinds
from problems.kinds import MAX_SEED
from problems.kinds.base import GradeResult, Problem


@dataclass(frozen=True)
class Recorded:
    """A response to send: its exact text, status, and whether it is a stored replay."""

    text: str
    status: int
    replayed: bool = False

    @property
    def headers(self) -> dict[str, str]:
        return {"Idempotent-Replayed": "true"} if self.replayed else {}


@lru_cache(maxsize=4096)
def variant(kind: str, difficulty: int, seed: int) -> Problem:
    """The problem `(kind, difficulty, seed)`: pure, so cached (generating costs ~0.1 ms)."""
    return kinds.generate(kind, difficulty, seed)


def problem_json(row: ApiProblem, problem: Problem) -> dict[str, Any]:
    """What a student may see: the statement and parts, never the answers or the seed."""
    shown = problem.public()
    return {
        "id": row.public_id,
        "kind": problem.kind,
        "difficulty": problem.difficulty,
        "title": shown["title"],
        "statement": shown["statement"],
        "parts": shown["parts"],
        "max_points": shown["max_points"],
        "student": row.student,
        "created_at": iso(row.created_at),
    }


def create_problem(caller: Caller, request: ProblemRequest) -> dict[str, Any]:
    """Make and store a problem for the key's course; its public JSON."""
    seed = request.seed if request.seed is not None else secrets.randbelow(MAX_SEED + 1)
    problem = variant(request.kind, request.difficulty, seed)
    with db.transaction() as s:
        row = ApiProblem(
            course_id=caller.course_id, api_key_id=caller.key_id, kind=request.kind,
            difficulty=request.difficulty, seed=seed, student=request.student,
            created_at=utcnow(),
        )
        s.add(row)
    return problem_json(row, problem)


def get_problem(caller: Caller, problem_id: str) -> dict[str, Any]:
    """A problem of the key's course as its public JSON; 404 otherwise."""
    with db.transaction() as s:
        row = s.scalar(select(ApiProblem).where(
            ApiProblem.public_id == problem_id, ApiProblem.course_id == caller.course_id))
    if row is None:
        raise not_found("problem_id", "problem with this id", f"problem {problem_id[:40]!r}")
    return problem_json(row, variant(row.kind, row.difficulty, row.seed))


def answer_texts(problem: Problem, answers: dict[str, str]) -> dict[str, str]:
    """Every part's text (missing ones empty); 422 naming an answer to no part."""
    ids = [p.id for p in problem.parts]
    for part_id in answers:
        if part_id not in ids:
            raise ApiError(
                422, join_path(["answers", part_id]),
                f"{part_id!r} is not a part of this problem (its parts: {', '.join(ids)})",
            )
    return {pid: answers.get(pid, "") for pid in ids}


def format_errors(result: GradeResult) -> ApiError:
    """A 422 listing every answer that could not be read (nothing recorded, nothing spent)."""
    bad = [
        {"path": join_path(["answers", p.id]), "message": p.format_error}
        for p in result.parts if p.format_error is not None
    ]
    count = len(bad)
    message = (
        f"{count} answer{'s' if count != 1 else ''} could not be read: nothing was recorded "
        f"and the Idempotency-Key was not used. {bad[0]['message']}"
    )
    return ApiError(422, bad[0]["path"], message, {"format_errors": bad})


def _idempotency_conflict() -> ApiError:
    return ApiError(
        422, "Idempotency-Key",
        "this Idempotency-Key was already used by this API key to grade another request "
        "(another body or problem): use a new key for a new request",
    )


_PRIOR = select(ApiGrade.request_hash, ApiGrade.response).where(
    ApiGrade.api_key_id == bindparam("key_id"),
    ApiGrade.idempotency_key == bindparam("idempotency_key"),
)
_PROBLEM = select(
    ApiProblem.id, ApiProblem.course_id, ApiProblem.kind, ApiProblem.difficulty,
    ApiProblem.seed, ApiProblem.student,
).where(ApiProblem.public_id == bindparam("problem_id"))
_GRADE_COLUMNS = ("public_id", "idempotency_key", "request_hash", "student", "answers",
                  "score", "max_score", "response", "created_at")
_INSERTS: dict[str, connection.Prepared] = {}
_MAX_PROBLEMS = 50_000  # problem rows remembered per process (then forgotten all at once)


@dataclass(frozen=True)
class _ProblemRow:
    id: int
    course_id: int
    kind: str
    difficulty: int
    seed: int
    student: str | None


def _problems() -> dict[str, _ProblemRow]:
    """This app's (so this database's) problem rows read so far, by public id."""
    return current_app.extensions.setdefault("api_problem_rows", {})


def _problem_row(problem_id: str, course_id: int) -> _ProblemRow:
    """The problem `problem_id` of the course; 404 for another course's or none."""
    rows = _problems()
    row = rows.get(problem_id)
    if row is None:
        found = connection.first(_PROBLEM, {"problem_id": problem_id})
        if found is not None:
            row = _ProblemRow(*found)
            if len(rows) >= _MAX_PROBLEMS:
                rows.clear()
            rows[problem_id] = row
    if row is None or row.course_id != course_id:
        raise not_found("problem_id", "problem with this id", f"problem {problem_id[:40]!r}")
    return row


def _insert_grade(dialect: Dialect) -> connection.Prepared:
    """The recording statement of the module's docstring, prepared once per dialect."""
    if dialect.name not in _INSERTS:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        table = ApiGrade.__table__
        values = select(
            *(bindparam(name, type_=table.c[name].type) for name in _GRADE_COLUMNS),
            ApiKey.id, ApiProblem.id,
        ).select_from(
            ApiKey.__table__.join(ApiProblem.__table__, ApiProblem.course_id == ApiKey.course_id)
        ).where(
            ApiKey.id == bindparam("key_id"), ApiKey.revoked_at.is_(None),
            ApiProblem.id == bindparam("problem_row_id"),
        )
        _INSERTS[dialect.name] = connection.Prepared.of(
            insert(ApiGrade)
            .from_select([*_GRADE_COLUMNS, "api_key_id", "problem_id"], values)
            .on_conflict_do_nothing(index_elements=["api_key_id", "idempotency_key"])
            .returning(ApiGrade.id),
            dialect,
        )
    return _INSERTS[dialect.name]


def grade(caller: Caller, problem_id: str, request: GradeRequest, idempotency_key: str,
          request_hash: str) -> Recorded:
    """Grade and record an answer set once per (key, Idempotency-Key); a retry with the
    same request replays the first response, another request under the key is a 422.

    `caller`'s revocation need not have been checked: recording checks it."""
    row = _problem_row(problem_id, caller.course_id)
    student = request.student if request.student is not None else row.student
    problem = variant(row.kind, row.difficulty, row.seed)
    try:
        if row.student is not None and student != row.student:
            raise ApiError(422, "student", "this problem was made for another student")
        result = kinds.grade(problem, answer_texts(problem, request.answers))
        if not result.valid:
            raise format_errors(result)
    except ApiError as err:
        raise _refusal(caller, idempotency_key, err) from None
    now = utcnow()
    grade_id = new_public_id()
    result_json = result.to_json()
    text = dumps({
        "grade_id": grade_id,
        "problem_id": problem_id,
        "student": student,
        **result_json,
        "recorded_at": iso(now),
    })
    inserted = connection.first_prepared(_insert_grade(connection.dialect()), {
        "public_id": grade_id, "key_id": caller.key_id, "problem_row_id": row.id,
        "idempotency_key": idempotency_key, "request_hash": request_hash,
        "student": student, "answers": request.answers,
        "score": result_json["score"], "max_score": result_json["max_score"],
        "response": text, "created_at": now,
    })
    if inserted is not None:
        return Recorded(text, 201)
    return _not_recorded(caller, problem_id, idempotency_key, request_hash)


def _prior(caller: Caller, idempotency_key: str) -> Any:
    """What the key recorded under this Idempotency-Key (request hash, response), or None."""
    return connection.first(
        _PRIOR, {"key_id": caller.key_id, "idempotency_key": idempotency_key})


def _refusal(caller: Caller, idempotency_key: str, err: ApiError) -> ApiError:
    """`err` for a request that cannot be graded, unless its Idempotency-Key already
    recorded another request (this one was never recorded): then that is the 422."""
    return _idempotency_conflict() if _prior(caller, idempotency_key) is not None else err


def _not_recorded(caller: Caller, problem_id: str, idempotency_key: str,
                  request_hash: str) -> Recorded:
    """Why the INSERT recorded nothing: the key was revoked (401), the key already
    recorded this Idempotency-Key (a replay, or 422 for another request), or the problem
    is gone (404)."""
    refuse_if_revoked(caller)
    seen = _prior(caller, idempotency_key)
    if seen is None:
        _problems().pop(problem_id, None)
        raise not_found("problem_id", "problem with this id", f"problem {problem_id[:40]!r}")
    if seen.request_hash != request_hash:
        raise _idempotency_conflict()
    return Recorded(seen.response, 201, replayed=True)
