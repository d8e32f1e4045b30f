"""The JSON API's routes under /api/v1: thin views that authenticate, read the body with
the operation's own model, call a service, and write JSON.

Auth: a course API key as `Authorization: Bearer cnnq_...` on every route except `ping`,
`openapi.json` and `docs` (no auth) and `solve`, `pool`, `kinds` (anonymous allowed, at
API_ANON_RATE_LIMIT per client address; with a key, at the key's API_RATE_LIMIT). Every
refusal is `{"error": {"path", "message"}}` with a 4xx status.
"""

from __future__ import annotations

import functools
import hashlib
import re
from typing import Any

from flask import Blueprint, Response, current_app, request
from pydantic import BaseModel
from werkzeug.exceptions import HTTPException

from grader import db
from grader.api import schemas as m
from grader.api.auth import caller_or_none, require_caller
from grader.api.common import course_set, course_student, set_item
from grader.api.docs import render_docs
from grader.api.errors import ApiError, canonical, json_response, parse, read_json
from grader.api.grading import Recorded, create_problem, get_problem, grade
from grader.api.limits import check_rate_limit
from grader.api.openapi import PREFIX, current_operation, document, operation
from grader.api.records import (
    course_sets_json,
    gradebook_json,
    set_json,
    student_record,
    variant_json,
)
from grader.api.submissions import submit
from grader.extensions import limiter
from problems import kinds
from problems.contract import pool_json, solve_json
from problems.errors import SpecError

bp = Blueprint("api", __name__, url_prefix=PREFIX)

MAX_IDEMPOTENCY_KEY = 255
_PRINTABLE = re.compile(r"^[\x20-\x7e]+$")

PARAMS = {
    "problem_id": "A problem's id, from POST /problems.",
    "set_id": "A problem set's id (as in its page's URL, or from GET /sets).",
    "item_id": "An item's id within the set (from GET /sets/{set_id}).",
    "student": "An enrolled student's email, or your own student id as given to POST "
               "/problems (its API grades only). An id holding `/` (a URL) may be sent as "
               "is or encoded (`%2F`).",
}
VARIANT_STUDENT = ("The email of a student enrolled in the key's course (any case); "
                   "another id is a 404: variants exist for enrolled students only.")

# One budget per API key (API_RATE_LIMIT) or, without a key, per client address
# (API_ANON_RATE_LIMIT), shared by every route of the blueprint and checked once, before
# the view (grader.api.limits, on Flask-Limiter's storage). Routes declared
# with rate_limited=False are exempt. The app-wide limiter leaves the API alone.
bp.before_request(check_rate_limit)
limiter.request_filter(lambda: request.blueprint == bp.name)


def api(method: str, path: str, **details: Any) -> Any:
    """Declare a documented, rate-limited (unless `rate_limited=False`) API route."""
    details.setdefault("params", {k: v for k, v in PARAMS.items() if "{" + k + "}" in path})
    register = operation(bp, method, path, **details)
    if "{" not in path:
        return register
    return lambda view: register(_plain_url_parts(view))


def _plain_url_parts(view: Any) -> Any:
    """A URL part holding a NUL (`%00`) names nothing (no id or email does, and PostgreSQL's
    text cannot even hold one to compare): 404 naming the part, after the key is checked
    as the view would."""

    @functools.wraps(view)
    def checked(**parts: str) -> Any:
        for name, value in parts.items():
            if "\x00" in value:
                if current_operation().auth == "key":
                    require_caller()
                raise ApiError(404, name, "no such id in the API key's course: it holds a "
                               "NUL character (%00)")
        return view(**parts)

    return checked


# ---------------------------------------------------------------- edges


@bp.errorhandler(ApiError)
def _api_error(err: ApiError) -> Response:
    return err.response()


@bp.errorhandler(HTTPException)
def _http_error(err: HTTPException) -> Response:
    status = err.code or 500
    if status == 413:
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        message = f"the body is too large (at most {limit:,} bytes)" if limit else "the body is too large"
        return ApiError(413, "", message).response()
    # The exception's own headers (a 405's `Allow`), not its HTML Content-Type.
    headers = {k: v for k, v in err.get_headers() if k.lower() != "content-type"}
    return ApiError(status, "", err.description or err.name, headers=headers).response()


def read_body() -> tuple[Any, BaseModel]:
    """The JSON body, validated by the request model of this route's documented operation."""
    op = current_operation()
    assert op.request is not None and op.validated_by == "pydantic"
    value = read_json()
    return value, parse(op.request, value)


def idempotency_key() -> str:
    """The `Idempotency-Key` header (required, given once; 1 to 255 printable ASCII
    characters, no comma)."""
    value = request.headers.get("Idempotency-Key")
    if value is None or not value.strip():
        raise ApiError(
            400, "Idempotency-Key",
            "this request needs an Idempotency-Key header: a unique id of your choice (a UUID "
            "is fine), sent again unchanged when you retry",
        )
    if len(value) > MAX_IDEMPOTENCY_KEY:
        raise ApiError(400, "Idempotency-Key",
                       f"is {len(value)} characters long (at most {MAX_IDEMPOTENCY_KEY})")
    if not _PRINTABLE.match(value):
        raise ApiError(400, "Idempotency-Key", "must be printable ASCII text")
    if "," in value:
        # Servers join a header sent twice with commas: which key was meant is unknown.
        raise ApiError(400, "Idempotency-Key", "holds a comma: send one Idempotency-Key "
                       "header, without commas (a header sent twice arrives joined by one)")
    return value


def request_hash(value: Any) -> str:
    """What a retry must repeat exactly: method, path and the body's canonical JSON."""
    text = f"{request.method} {request.path}\n{canonical(value)}"
    return hashlib.sha256(text.encode()).hexdigest()


def recorded(result: Recorded) -> Response:
    return json_response(result.text, result.status, result.headers)


def _spec(run: Any) -> Response:
    caller_or_none()  # a bad key is refused even where none is needed
    value = read_json()
    try:
        return json_response(run(value))
    except SpecError as err:
        raise ApiError(422, err.path, err.message) from None


# ---------------------------------------------------------------- open routes


@api("GET", "/ping", summary="Liveness", tag="Service", auth="none", response=m.PingOut,
     rate_limited=False,
     description="Answers `{\"ok\": true}` without touching the database.")
def ping() -> Response:
    return json_response({"ok": True})


@api("GET", "/openapi.json", summary="This API's OpenAPI 3.1 document", tag="Service",
     auth="none", rate_limited=False,
     description="Generated from the request and response models the routes use.")
def openapi_json() -> Response:
    return json_response(document())


@api("GET", "/docs", summary="Readable documentation", tag="Service", auth="none",
     media_type="text/html", rate_limited=False,
     description="This document as an HTML page.")
def docs() -> Any:
    return render_docs(document())


@api("GET", "/kinds", summary="The problem kinds", tag="Problems", auth="optional",
     response=m.KindsOut,
     description="Every problem kind (name, title, summary) and the difficulties.")
def list_kinds() -> Response:
    caller_or_none()
    return json_response({"kinds": kinds.catalogue(), "difficulties": list(kinds.DIFFICULTIES)})


SEED_MODEL = {
    "layout": "HWC", "input": [28, 28, 1],
    "layers": [{"type": "conv2d", "filters": 32, "kernel": 3},
               {"type": "maxpool2d", "kernel": 2},
               {"type": "flatten"}, {"type": "dense", "units": 10}],
}


@api("POST", "/solve", summary="Solve a layer stack", tag="Solver", auth="optional",
     request=m.LayerStack, validated_by="problems.spec", response=m.SolveAnswer,
     example=SEED_MODEL,
     description="The body is a layer stack in the spec's format; the answer gives each "
     "layer's output shape, parameters, MACs, activations and receptive field, and the "
     "totals. A stack that cannot be computed is a 422 naming the place "
     "(`layers[3].kernel`). Without a key: limited per client address.")
def solve() -> Response:
    return _spec(solve_json)


@api("POST", "/pool", summary="Pool a grid", tag="Solver", auth="optional",
     request=m.PoolBody, validated_by="problems.spec", response=m.PoolAnswer,
     example={"input": [[1, 3, 1, 0], [2, 8, 2, 4], [1, 3, 1, 5], [0, 0, 6, 2]],
              "op": "max", "kernel": 2, "stride": 2, "padding": 0},
     description="Max, average or min pooling of a 2-D or 3-D grid, with the winning cell "
     "of each window for max and min. Without a key: limited per client address.")
def pool() -> Response:
    return _spec(pool_json)


# ---------------------------------------------------------------- problems and grades


# The README's example: this seed gives a 16x16x1 input, a 5x5 convolution with 8 filters
# and a 2x2 max pooling, so parts shape_0 and shape_1, answered by GRADE_EXAMPLE (a test
# keeps the two true).
PROBLEM_EXAMPLE = {"kind": "output_shape", "difficulty": 1, "seed": 1, "student": "lms-user-4711"}
GRADE_EXAMPLE = {"answers": {"shape_0": "12x12x8", "shape_1": "6x6x8"}}


@api("POST", "/problems", summary="Make a problem", tag="Problems", request=m.ProblemRequest,
     response=m.ProblemOut, status=201,
     example=PROBLEM_EXAMPLE,
     description="A randomized problem of a kind and difficulty (or the variant of a given "
     "seed). The answer stays on the server; grade answers with POST "
     "/problems/{problem_id}/grade.")
def problems_create() -> Response:
    caller = require_caller()
    _, body = read_body()
    assert isinstance(body, m.ProblemRequest)
    return json_response(create_problem(caller, body), 201)


@api("GET", "/problems/{problem_id}", summary="A problem", tag="Problems",
     response=m.ProblemOut, errors=(404,),
     description="The statement and parts of a problem made with this course's keys.")
def problems_get(problem_id: str) -> Response:
    caller = require_caller()
    return json_response(get_problem(caller, problem_id))


@api("POST", "/problems/{problem_id}/grade", summary="Grade answers (recorded once)",
     tag="Problems", request=m.GradeRequest, response=m.GradeOut, status=201,
     idempotency_key=True, errors=(404,),
     example=GRADE_EXAMPLE,
     description="Grades the answers against the problem and records the grade once per "
     "Idempotency-Key. Every part of the problem (the `parts` of its POST /problems "
     "response) must be answered. A retry with the same key and body returns the first "
     "response byte for byte (`Idempotent-Replayed: true`) and records nothing new. An "
     "answer to no part is a 422 naming it; answers missing or unreadable are a 422 "
     "listing them under `format_errors`: nothing is recorded and the key stays unused. A "
     "revoked key gets its 401 before any other answer.")
def problems_grade(problem_id: str) -> Response:
    # The success path checks the key's revocation in the recording statement itself (no
    # query more); every other exit checks it first, so a revoked key learns nothing (not
    # even whether a problem exists) but its 401.
    caller = require_caller(revocation_checked_by_caller=True)
    try:
        key = idempotency_key()
        value, body = read_body()
        assert isinstance(body, m.GradeRequest)
        return recorded(grade(caller, problem_id, body, key, request_hash(value)))
    except (ApiError, HTTPException):
        caller_or_none()  # 401 if the key was revoked
        raise


# ---------------------------------------------------------------- the course


@api("GET", "/sets", summary="The course's problem sets", tag="Course", response=m.SetsOut,
     description="Every problem set of the key's course with its items (ids for the other "
     "routes).")
def sets_list() -> Response:
    caller = require_caller()
    with db.transaction():
        body = course_sets_json(caller)
    return json_response(body)


@api("GET", "/sets/{set_id}", summary="A problem set", tag="Course", response=m.SetOut,
     errors=(404,), description="A problem set of the key's course and its items.")
def sets_get(set_id: str) -> Response:
    caller = require_caller()
    with db.transaction():
        body = set_json(course_set(caller, set_id))
    return json_response(body)


@api("GET", "/sets/{set_id}/grades", summary="The set's gradebook", tag="Course",
     response=m.GradebookOut, errors=(404,),
     description="Every enrolled student against every item: the best score over the "
     "attempts, the attempts used, and the totals.")
def sets_grades(set_id: str) -> Response:
    caller = require_caller()
    with db.transaction():
        body = gradebook_json(course_set(caller, set_id))
    return json_response(body)


@api("GET", "/sets/{set_id}/items/{item_id}/variants/{student}",
     summary="A student's variant of an item", tag="Course", response=m.VariantOut,
     errors=(404,), params={**PARAMS, "student": VARIANT_STUDENT},
     description="The problem this student sees for the item (no answers) and their "
     "attempts: what to show before POSTing a submission.")
def variants_get(set_id: str, item_id: str, student: str) -> Response:
    caller = require_caller()
    with db.transaction():
        problem_set = course_set(caller, set_id)
        item = set_item(problem_set, item_id)
        user = course_student(caller, student, path="student", status=404)
        body = variant_json(problem_set, item, user)
    return json_response(body)


@api("POST", "/sets/{set_id}/items/{item_id}/submissions",
     summary="Submit a student's answers (recorded once)", tag="Course",
     request=m.SubmissionRequest, response=m.SubmissionOut, status=201,
     idempotency_key=True, errors=(404, 409),
     example={"student": "demo-student1@example.edu",
              "answers": {"pool_activations": "4096", "macs_without": "1769472",
                          "macs_with": "442368", "ratio": "4"}},
     description="Records a graded submission for an enrolled student, as if they had "
     "submitted in the browser (same attempts, due date and solution rules; source `api`), "
     "exactly once per Idempotency-Key, also under concurrent retries. Every part of the "
     "student's variant (GET .../variants/{student}) must be answered; a missing or "
     "unreadable one is a 422 naming it. `attempt` defaults "
     "to the student's next attempt. Refusals by the course's rules are a 409 with a "
     "`reason` (not_published, not_open, past_due, no_attempts, full_marks, "
     "out_of_sequence); nothing is recorded and the key stays unused.")
def submissions_create(set_id: str, item_id: str) -> Response:
    caller = require_caller()
    key = idempotency_key()
    value, body = read_body()
    assert isinstance(body, m.SubmissionRequest)
    return recorded(submit(caller, set_id, item_id, body, key, request_hash(value)))


@api("GET", "/students/{student}/submissions", summary="A student's record", tag="Course",
     response=m.StudentRecordOut, errors=(404,),
     description="An enrolled student's submissions in the key's course (by email), and the "
     "API grades recorded for that student id (the email, or your own id).")
def students_submissions(student: str) -> Response:
    caller = require_caller()
    with db.transaction():
        body = student_record(caller, student)
    return json_response(body)

