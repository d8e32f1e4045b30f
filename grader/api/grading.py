"""Problems made through the API and their grades.

A problem is `(kind, difficulty, seed)` stored under a random id; its answers never leave
the server before grading. Grading is pure and happens first; the grade is then recorded
by ONE statement, `INSERT ... ON CONFLICT (api_key_id, idempotency_key) DO NOTHING
RETURNING id`: the unique index decides which of several concurrent retries records, the
others read the winner's stored response and replay it byte for byte. The grading path
runs prebuilt Core statements (grader/api/connection.py): it is the API's hot path.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, select

from grader import db
from grader.api import connection
from grader.api.auth import not_found
from grader.api.common import iso
from grader.api.errors import ApiError, dumps, join_path
from grader.api.models import ApiGrade, ApiProblem
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
        "this Idempotency-Key was already used with a different request (another body or "
        "URL): use a new key for a new request",
    )


_PRIOR = select(ApiGrade.request_hash, ApiGrade.response).where(
    ApiGrade.api_key_id == bindparam("key_id"),
    ApiGrade.idempotency_key == bindparam("idempotency_key"),
)
# The problem and, in the same statement, what this key already recorded under the
# Idempotency-Key (a retry's case): one round trip for the common path.
_PROBLEM_AND_PRIOR = select(
    ApiProblem.id, ApiProblem.kind, ApiProblem.difficulty, ApiProblem.seed, ApiProblem.student,
    _PRIOR.with_only_columns(ApiGrade.request_hash).scalar_subquery().label("prior_hash"),
    _PRIOR.with_only_columns(ApiGrade.response).scalar_subquery().label("prior_response"),
).where(ApiProblem.public_id == bindparam("problem_id"),
        ApiProblem.course_id == bindparam("course_id"))
_INSERTS: dict[str, Any] = {}


def _insert_grade(dialect: str) -> Any:
    """`INSERT INTO api_grades ... ON CONFLICT (api_key_id, idempotency_key) DO NOTHING
    RETURNING id`, built once per dialect."""
    if dialect not in _INSERTS:
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        _INSERTS[dialect] = (
            insert(ApiGrade)
            .on_conflict_do_nothing(index_elements=["api_key_id", "idempotency_key"])
            .returning(ApiGrade.id)
        )
    return _INSERTS[dialect]


def grade(caller: Caller, problem_id: str, request: GradeRequest, idempotency_key: str,
          request_hash: str) -> Recorded:
    """Grade and record an answer set once per (key, Idempotency-Key); a retry with the
    same request replays the first response, another request under the key is a 422."""
    prior_args = {"key_id": caller.key_id, "idempotency_key": idempotency_key}
    with connection.read() as conn:
        row = conn.execute(_PROBLEM_AND_PRIOR, {
            **prior_args, "problem_id": problem_id, "course_id": caller.course_id}).first()
    if row is None:
        raise not_found("problem_id", "problem with this id", f"problem {problem_id[:40]!r}")
    if row.prior_hash is not None:
        if row.prior_hash != request_hash:
            raise _idempotency_conflict()
        return Recorded(row.prior_response, 201, replayed=True)
    student = request.student if request.student is not None else row.student
    if row.student is not None and student != row.student:
        raise ApiError(422, "student", "this problem was made for another student")

    problem = variant(row.kind, row.difficulty, row.seed)
    texts = answer_texts(problem, request.answers)
    result = kinds.grade(problem, texts)
    if not result.valid:
        raise format_errors(result)
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
    with connection.write() as conn:
        inserted = conn.execute(_insert_grade(conn.dialect.name), {
            "public_id": grade_id, "api_key_id": caller.key_id,
            "idempotency_key": idempotency_key, "request_hash": request_hash,
            "problem_id": row.id, "student": student, "answers": request.answers,
            "result": result_json, "score": result_json["score"],
            "max_score": result_json["max_score"], "response": text, "created_at": now,
        }).scalar_one_or_none()
    if inserted is None:  # a concurrent retry recorded first: its response stands
        with connection.read() as conn:
            seen = conn.execute(_PRIOR, prior_args).one()
    if inserted is not None:
        return Recorded(text, 201)
    if seen.request_hash != request_hash:
        raise _idempotency_conflict()
    return Recorded(seen.response, 201, replayed=True)
