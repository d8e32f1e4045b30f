"""Property-based fuzzing of the JSON API with schemathesis, against its own OpenAPI document,
in-process over WSGI on the `app` fixture (SQLite, and PostgreSQL when TEST_DATABASE_URL is
set); then hostile requests a generator rarely makes, written by hand.

Every response must: not be a 5xx; use a documented status, content type, headers and body
schema; and, for a refusal, be `{"error": {"path", "message"}}` naming the place. Around every
request the recorded rows are counted: only a fresh 201 may add one (a grade, a submission, a
problem), and no request leaves a half-done submission intent behind.

Generated ids are aimed at real objects (a `map_case` hook, see `World.aim`) so the grading
and submission routes are reached past their 404s, with fuzzed answer texts on real parts of
problems of every kind, and sometimes the right answers, so grades are recorded too.

The schema is loaded once at import, from the /api/v1/openapi.json of an app made by the same
factory (never connected to a database): `schema.parametrize()` needs it at collection time.
Requests go to the fixture's app (`case.call_and_validate(app=app)`), and a test checks that
it serves the same document.

Bounded for CI: at most MAX_EXAMPLES generated cases per operation and phase, derandomized (the
same cases on every run), no deadline.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import os
import tempfile
import zlib
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from test_api_helpers import (
    count,
    error_of,
    make_key,
    make_set,
    post,
    right_answers,
    student_problem,
)

from grader import create_app, db
from grader.api.errors import canonical
from grader.api.grading import variant
from grader.api.models import ApiGrade, ApiIdempotency, ApiKey, ApiProblem
from grader.models import Submission
from grader.services import api_keys
from problems import kinds
from problems.kinds.base import Problem

MAX_EXAMPLES = 50
PREFIX = "/api/v1"

# A schema-valid request may still be refused with 422 where the document says why: a layer
# stack or grid that cannot be computed (solve, pool), and answers that cannot be read, answer
# no part, or reuse an Idempotency-Key with another body (grade, submissions).
SEMANTIC_422 = ["solve", "pool", "problems_grade", "submissions_create"]
CONFIG = {
    "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
    "phases": {"stateful": {"enabled": False}},
    "operations": [{
        "include-operation-id": SEMANTIC_422,
        "checks": {"positive_data_acceptance": {
            "expected-statuses": ["2xx", 401, 404, 409, 422, 429]}},
    }],
}


def _document_app() -> Any:
    """An app of the same factory, to read the document from (it opens no database)."""
    never_opened = os.path.join(tempfile.gettempdir(), "cnnquiz-openapi-only.sqlite3")
    return create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{never_opened}",
                       "SECRET_KEY": "openapi-only"})


_APP = _document_app()
DOCUMENT = _APP.test_client().get(f"{PREFIX}/openapi.json").get_json()
schema = schemathesis.openapi.from_wsgi(f"{PREFIX}/openapi.json", _APP,
                                        config=schemathesis.Config.from_dict(CONFIG))


# ---------------------------------------------------------------- the course under test


def _pick(value: Any, n: int, salt: str = "") -> int:
    """A stable choice in range(n) from a generated value (the same on every run)."""
    text = salt + repr(value)
    return zlib.crc32(text.encode("utf-8", "surrogatepass")) % n


def _integral(value: Any) -> Any:
    """`2.0` → `2`, recursively. JSON Schema counts 2.0 as an integer; this API's JSON is
    strict (docs/spec: "3.0 is refused"), and test_api.py checks that refusal by hand."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_integral(v) for v in value]
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    return value


@dataclass
class World:
    """A course with a key, a published set, enrolled students, and a problem of every kind."""

    key: str
    problems: dict[str, Problem]  # API problem id -> its variant
    problem_students: dict[str, str | None]
    set_id: str
    items: list[str]
    variants: dict[tuple[str, str], Problem]  # (item id, student email) -> variant
    students: list[str]
    ids: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ids = {
            "problem_id": list(self.problems),
            "set_id": [self.set_id],
            "item_id": self.items,
            "student": [*self.students, "lms-42"],
        }

    def aim(self, case: Any) -> Any:
        """Point a generated case at real objects two times in three (see the module doc)."""
        for name, value in list((case.path_parameters or {}).items()):
            if name in self.ids and _pick(value, 3, name) != 0:
                choices = self.ids[name]
                case.path_parameters[name] = choices[_pick(value, len(choices), "which")]
        op = case.operation.definition.raw.get("operationId")
        body = case.body
        if not isinstance(body, dict) or not isinstance(body.get("answers"), dict):
            return case
        if op == "problems_grade":
            problem = self.problems.get(case.path_parameters.get("problem_id"))
            if problem is not None:
                case.body = self._answers(body, problem)
                owner = self.problem_students[case.path_parameters["problem_id"]]
                if owner is not None and _pick(body, 2, "owner"):
                    case.body["student"] = owner
        elif op == "submissions_create" and case.path_parameters.get("set_id") == self.set_id:
            if _pick(body, 3, "student"):
                case.body["student"] = self.students[_pick(body, len(self.students), "who")]
            problem = self.variants.get(
                (case.path_parameters.get("item_id"), case.body.get("student")))
            if problem is not None:
                case.body = self._answers(case.body, problem)
                if _pick(body, 2, "attempt"):
                    case.body.pop("attempt", None)
        return case

    @staticmethod
    def _answers(body: dict[str, Any], problem: Problem) -> dict[str, Any]:
        """The generated answer texts put on the problem's real parts, or the right answers
        with one part's text fuzzed (or none: then the answer set scores full marks)."""
        texts = [v for v in body["answers"].values() if isinstance(v, str)]
        parts = [p.id for p in problem.parts]
        how = _pick(body, 3, "answers")
        if how == 0 or not parts:
            return body
        if how == 1 and texts:
            answers = {pid: texts[i % len(texts)] for i, pid in enumerate(parts)}
        else:
            answers = right_answers(problem)
            if texts:
                answers[parts[_pick(body, len(parts), "part")]] = texts[0]
        return {**body, "answers": answers}


CURRENT: dict[str, World] = {}


@schema.hook
def map_case(context: Any, case: Any) -> Any:
    world = CURRENT.get("world")
    return world.aim(case) if world is not None else case


@pytest.fixture
def world(app, course, student, other_student) -> Any:
    """The course under test (CNN101, two students), its key, set and problems."""
    app.config["API_RATE_LIMIT"] = "1000000 per minute"  # the fuzz run is not about 429s
    app.config["API_ANON_RATE_LIMIT"] = "1000000 per minute"
    key = make_key(app, course)
    built = make_set(app, course, [
        {"kind": "output_shape", "difficulty": 2, "points": 10},
        {"kind": "pooling_grid", "difficulty": 1, "points": 5},
    ], attempts_allowed=20)
    client = app.test_client()
    problems: dict[str, Problem] = {}
    owners: dict[str, str | None] = {}
    for i, kind in enumerate(kinds.KINDS):
        who = "lms-42" if i % 3 == 0 else None
        body = {"kind": kind, "difficulty": 1 + i % 3, "seed": 1000 + i}
        made = post(client, "/problems", {**body, **({"student": who} if who else {})}, key)
        assert made.status_code == 201, made.get_data(as_text=True)
        problems[made.get_json()["id"]] = variant(kind, body["difficulty"], body["seed"])
        owners[made.get_json()["id"]] = who
    users = [student, other_student]
    variants = {(item_id, user.email): student_problem(built, user, index)
                for index, (item_id, _, _) in enumerate(built["items"]) for user in users}
    found = World(key=key, problems=problems, problem_students=owners, set_id=built["id"],
                  items=[i for i, _, _ in built["items"]], variants=variants,
                  students=[u.email for u in users])
    CURRENT["world"] = found
    yield found
    CURRENT.clear()


# ---------------------------------------------------------------- checks


def _counts(app) -> dict[str, int]:
    with app.app_context():
        s = db.session()
        out = {name: s.scalar(select(func.count()).select_from(model)) for name, model in
               (("grades", ApiGrade), ("submissions", Submission), ("problems", ApiProblem))}
        out["pending"] = s.scalar(select(func.count()).select_from(ApiIdempotency)
                                  .where(ApiIdempotency.status == "pending"))
        return out


def error_names_the_place(ctx: Any, response: Any, case: Any) -> bool | None:
    """A refusal is `{"error": {"path", "message"}}`; the path names what is wrong where
    that is one place (the header, the URL part)."""
    if response.status_code < 400:
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(f"a {response.status_code} without a JSON body") from None
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error.get("path"), str), body
    assert isinstance(error.get("message"), str) and error["message"].strip(), body
    status, path = response.status_code, error["path"]
    if status == 401:
        assert path == "Authorization", body
    elif status == 415:
        assert path == "Content-Type", body
    elif status == 404:
        assert path in (case.path_parameters or {}), body
    elif status == 422 and not error["message"].startswith(("expected a JSON object",
                                                             "expected an object")):
        assert path, body  # only the body as a whole has the empty path
    return None


FRESH = {"problems_create": "problems", "problems_grade": "grades",
         "submissions_create": "submissions"}


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_the_api_answers_every_generated_request_as_documented(case, app, world):
    case.body = _integral(case.body)
    before = _counts(app)
    response = case.call_and_validate(
        app=app,
        headers={"Authorization": f"Bearer {world.key}"},
        additional_checks=[error_names_the_place],
    )
    after = _counts(app)
    grown = FRESH.get(case.operation.definition.raw.get("operationId"))
    fresh = response.status_code == 201 and "idempotent-replayed" not in response.headers
    expected = {**before, **({grown: before[grown] + 1} if grown and fresh else {})}
    assert after == expected, (case.operation.label, response.status_code, before, after)
    assert after["pending"] == 0


def test_the_fuzzed_document_is_the_one_the_app_serves(client):
    assert client.get(f"{PREFIX}/openapi.json").get_json() == DOCUMENT


# ---------------------------------------------------------------- by hand


def _grade_path(world: World) -> tuple[str, dict[str, str]]:
    """A real problem's grade URL and the right answers (a valid body, to spoil)."""
    pid = next(p for p, who in world.problem_students.items() if who is None)
    return f"/problems/{pid}/grade", right_answers(world.problems[pid])


NESTED = b"[" * 100_000 + b"]" * 100_000


def _hostile(answers: dict[str, str]) -> list[tuple[str, bytes, str, int, str, str]]:
    """(id, body, Content-Type, status, error path, words in the message)."""
    good = json.dumps({"answers": answers})
    first = next(iter(answers))
    return [
        ("invalid-utf8", b'{"answers": {"' + first.encode() + b'": "\xff\xfe"}}',
         "application/json", 400, "", "UTF-8"),
        ("10-MB", b'{"answers": {"x": "' + b"7" * (10 * 2**20) + b'"}}', "application/json",
         413, "", "too large"),
        ("nested-100k", NESTED, "application/json", 400, "", "nested too deeply"),
        ("nested-in-a-field", b'{"answers": ' + NESTED + b"}", "application/json", 400, "",
         "nested too deeply"),
        ("NaN", f'{{"answers": {{"{first}": NaN}}}}'.encode(), "application/json", 422,
         f"answers.{first}", "NaN"),
        ("Infinity", b'{"answers": {}, "student": -Infinity}', "application/json", 422,
         "student", "Infinity"),
        ("overflowing-float", b'{"answers": {}, "student": 1e400}', "application/json", 422,
         "student", "valid string"),
        ("duplicate-key", b'{"answers": {}, "answers": ' + good[12:].encode(),
         "application/json", 422, "answers", "twice"),
        ("duplicate-part", f'{{"answers": {{"{first}": "1", "{first}": "2"}}}}'.encode(),
         "application/json", 422, f"answers.{first}", "twice"),
        ("text-plain", good.encode(), "text/plain", 415, "Content-Type", "application/json"),
        ("form", b"answers=1", "application/x-www-form-urlencoded", 415, "Content-Type",
         "application/json"),
        ("no-content-type", good.encode(), "", 415, "Content-Type", "none"),
        ("huge-integer", b'{"answers": {}, "student": 1' + b"0" * 5000 + b"}",
         "application/json", 422, "student", "too long (5,001 digits)"),
        ("big-integer", b'{"answers": {}, "student": ' + str(10**40).encode() + b"}",
         "application/json", 422, "student", "valid string"),
        ("integer-answer", f'{{"answers": {{"{first}": {10**30}}}}}'.encode(),
         "application/json", 422, f"answers.{first}", "valid string"),
        ("not-an-object", b"[]", "application/json", 422, "", "expected a JSON object"),
        ("empty", b"", "application/json", 400, "", "empty"),
    ]


def _hostile_ids() -> list[str]:
    return [h[0] for h in _hostile({"a": "1"})]


@pytest.mark.parametrize("which", _hostile_ids())
def test_hostile_grading_bodies_are_refused_naming_the_place_and_record_nothing(
        app, client, world, which):
    path, answers = _grade_path(world)
    _, body, content_type, status, where, words = next(
        h for h in _hostile(answers) if h[0] == which)
    headers = {"Authorization": f"Bearer {world.key}", "Idempotency-Key": "hostile"}
    if content_type:
        headers["Content-Type"] = content_type
    response = client.post(PREFIX + path, data=body, headers=headers)
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    error = error_of(response)
    assert error["path"] == where and words in error["message"], error
    assert count(app, ApiGrade) == 0
    # The key stays free: the same key with the good body records once.
    again = post(client, path, {"answers": answers}, world.key, "hostile")
    assert again.status_code == 201, again.get_data(as_text=True)
    assert count(app, ApiGrade) == 1


@pytest.mark.parametrize("which", ["duplicate-key", "NaN", "text-plain", "nested-in-a-field",
                                   "invalid-utf8"])
def test_hostile_submission_bodies_record_nothing(app, client, world, which):
    item_id = world.items[0]
    email = world.students[0]
    answers = right_answers(world.variants[(item_id, email)])
    _, body, content_type, status, _, _ = next(h for h in _hostile(answers) if h[0] == which)
    if which == "duplicate-key":
        body = json.dumps({"student": email}).encode()[:-1] + b', "student": "x", "answers": {}}'
    else:
        body = body.replace(b'{"answers"', b'{"student": "' + email.encode() + b'", "answers"', 1)
    response = client.post(f"{PREFIX}/sets/{world.set_id}/items/{item_id}/submissions",
                           data=body, headers={"Authorization": f"Bearer {world.key}",
                                               "Idempotency-Key": "hostile",
                                               "Content-Type": content_type})
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert error_of(response)["path"] in ("", "Content-Type", "student") or which == "NaN"
    assert count(app, Submission) == 0 and count(app, ApiIdempotency) == 0


def _revoked_key(app, course) -> str:
    token = make_key(app, course, "Revoked")
    with app.app_context():
        public_id = api_keys.parse_token(token)[0]
        key = db.session().scalar(select(ApiKey).where(ApiKey.public_id == public_id))
        api_keys.revoke(key)
    return token


FORGED = {
    "well-formed-unknown": lambda world: "Bearer cnnq_0123456789abcdef_" + "A" * 43,
    "wrong-secret": lambda world: "Bearer " + world.key[:-4] + "AAAA",
    "truncated": lambda world: "Bearer " + world.key[:-1],
    "another-scheme": lambda world: "Basic " + world.key,
    "bearer-without-token": lambda world: "Bearer ",
    "non-ascii-token": lambda world: "Bearer cnnq_é" + world.key[6:],
    "non-ascii-secret": lambda world: "Bearer " + world.key[:-1] + "é",
    "control-characters": lambda world: "Bearer cnnq_\x01\x7f",
    "very-long": lambda world: "Bearer " + "A" * 8000,
}


@pytest.mark.parametrize("how", [*FORGED, "revoked"])
def test_forged_and_revoked_keys_are_a_401_and_record_nothing(app, client, course, world, how):
    if how == "revoked":
        authorization = "Bearer " + _revoked_key(app, course)
    else:
        authorization = FORGED[how](world)
    path, answers = _grade_path(world)
    # Sent as raw header bytes (UTF-8), as a client on the wire would.
    environ = {"HTTP_AUTHORIZATION": authorization.encode().decode("latin-1")}
    for response in (
        client.post(PREFIX + path, data=json.dumps({"answers": answers}),
                    content_type="application/json", headers={"Idempotency-Key": "forged"},
                    environ_overrides=environ),
        client.get(f"{PREFIX}/sets", environ_overrides=environ),
        client.post(f"{PREFIX}/solve", data=b'{"input": [4]}', content_type="application/json",
                    environ_overrides=environ),
    ):
        assert response.status_code == 401, response.get_data(as_text=True)
        assert error_of(response)["path"] == "Authorization"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert count(app, ApiGrade) == 0


@pytest.mark.parametrize(("field", "value", "words"), [
    ("difficulty", 10**40, "less than or equal to 3"),
    ("difficulty", -(10**40), "greater than or equal to 1"),
    ("seed", 10**400, "less than or equal to"),
    ("seed", 2**63, "less than or equal to"),
    ("difficulty", 1e300, "valid integer"),
])
def test_absurd_numbers_are_a_422_naming_the_field(app, client, world, field, value, words):
    body = {"kind": "output_shape", "difficulty": 1, field: value}
    response = post(client, "/problems", body, world.key)
    assert response.status_code == 422, response.get_data(as_text=True)
    error = error_of(response)
    assert error["path"] == field and words in error["message"], error
    assert count(app, ApiProblem) == len(world.problems)


def _urls(world: World) -> list[tuple[str, str]]:
    item = world.items[0]
    return [
        ("GET", "/problems/%00"), ("POST", "/problems/%00/grade"), ("GET", "/sets/%00"),
        ("GET", "/sets/%00/grades"),
        ("GET", f"/sets/{world.set_id}/items/%00/variants/{world.students[0]}"),
        ("GET", f"/sets/{world.set_id}/items/{item}/variants/student1%00@example.edu"),
        ("POST", f"/sets/a%00b/items/{item}/submissions"),
        ("GET", "/students/%00/submissions"),
    ]


def test_a_nul_in_a_url_part_is_a_404_naming_it(app, client, world):
    """PostgreSQL's text cannot hold a NUL: comparing one was a 500 there."""
    for method, url in _urls(world):
        headers = {"Authorization": f"Bearer {world.key}", "Idempotency-Key": "nul"}
        response = client.open(PREFIX + url, method=method, headers=headers,
                               data=b'{"answers": {}, "student": "s@x.edu"}',
                               content_type="application/json")
        assert response.status_code == 404, (url, response.get_data(as_text=True))
        assert error_of(response)["path"] in ("problem_id", "set_id", "item_id", "student")
        # Without a key, the key is what is refused first, as everywhere else.
        anonymous = client.open(PREFIX + url, method=method, data=b"{}",
                                content_type="application/json")
        assert anonymous.status_code == 401, url
    assert count(app, ApiGrade) == 0 and count(app, Submission) == 0


@pytest.mark.parametrize(("path", "body", "where"), [
    ("/problems", {"kind": "output_shape", "difficulty": 1, "student": "a\x00b"}, "student"),
    ("grade", {"answers": {}, "student": "lms\x00"}, "student"),
    ("submit", {"answers": {}, "student": "student1@example.edu\x00"}, "student"),
])
def test_a_nul_in_a_stored_text_is_a_422_naming_the_field(app, client, world, path, body,
                                                          where):
    if path == "grade":
        path = _grade_path(world)[0]
    elif path == "submit":
        path = f"/sets/{world.set_id}/items/{world.items[0]}/submissions"
    response = post(client, path, body, world.key, "nul")
    assert response.status_code == 422, response.get_data(as_text=True)
    error = error_of(response)
    assert error["path"] == where and "NUL" in error["message"], error
    assert count(app, ApiProblem) == len(world.problems)
    assert count(app, ApiGrade) == 0 and count(app, Submission) == 0


@pytest.mark.parametrize(("path", "raw", "where"), [
    ("/problems", b'{"kind": "output_shape", "difficulty": 1, "student": "a\\ud800"}',
     "student"),
    ("/problems", b'{"kind": "output_shape", "difficulty": 1, "\\udfff": 1}', '["\udfff"]'),
    ("grade", b'{"answers": {"PART": "\\udc00x"}}', "answers.PART"),
    ("grade", b'{"answers": {"PART": "\xed\xa0\x80"}}', "answers.PART"),
    ("/solve", b'{"input": [4, 4, 1], "layers": [{"type": "\\ud800"}]}', "layers[0].type"),
    ("/pool", b'{"input": [[1]], "op": "\\ud800"}', "op"),
])
def test_a_lone_surrogate_is_a_422_naming_the_place(app, client, world, path, raw, where):
    """A lone surrogate is no text: echoing one in an error message was a 500."""
    if path == "grade":
        path, answers = _grade_path(world)
        part = next(iter(answers))
        raw, where = raw.replace(b"PART", part.encode()), where.replace("PART", part)
    response = post(client, path, raw, world.key, "surrogate")
    assert response.status_code == 422, response.get_data(as_text=True)
    error = error_of(response)
    assert error["path"] == where and "surrogate" in error["message"], error
    # A pair is one character, and fine.
    assert post(client, "/problems", {"kind": "output_shape", "difficulty": 1,
                                      "student": "\U0001F600"}, world.key).status_code == 201


def test_a_wrong_method_names_the_allowed_ones(client):
    response = client.delete(f"{PREFIX}/problems")
    assert response.status_code == 405
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"POST"}
    allowed = response.headers["Allow"]  # the body names them in the header's order
    assert response.get_json() == {"error": {
        "path": "", "message": f"DELETE is not allowed here (allowed: {allowed}; the routes "
                               "are listed at /api/v1/docs)"}}


def test_an_unknown_api_route_is_the_apis_own_404(client):
    response = client.get(f"{PREFIX}/problem")
    assert response.status_code == 404 and response.headers["Cache-Control"] == "no-store"
    assert response.get_json() == {"error": {
        "path": "", "message": "no API route at '/api/v1/problem': the routes are listed at "
                               "/api/v1/docs"}}


@pytest.mark.parametrize("encoding", ["gzip", "br, gzip"])
def test_a_compressed_body_is_a_415_naming_the_encoding(app, client, world, encoding):
    path, answers = _grade_path(world)
    response = client.post(PREFIX + path, data=gzip.compress(json.dumps(
        {"answers": answers}).encode()), headers={
        "Authorization": f"Bearer {world.key}", "Idempotency-Key": "gz",
        "Content-Type": "application/json", "Content-Encoding": encoding})
    assert response.status_code == 415
    assert error_of(response)["path"] == "Content-Encoding"
    assert "uncompressed" in error_of(response)["message"]
    assert count(app, ApiGrade) == 0
    identity = post(client, "/solve", {"input": [4, 4, 1], "layers": []})
    assert identity.status_code == 200


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
    | st.text(st.characters(blacklist_categories=("Cs",))),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(st.characters(blacklist_categories=("Cs",)), max_size=8), inner,
                      max_size=4),
    max_leaves=20,
)


@given(JSON_VALUES)
@settings(max_examples=400, deadline=None)
def test_request_hashes_cover_the_text_the_json_module_wrote(value):
    """Request hashes are stored: a retry after an upgrade must hash to the same text. The
    canonical text orjson writes now is the json module's, which wrote it before, for every
    value a hashed body can hold (text with control and non-ASCII characters, keys in any
    order, 64-bit integers)."""
    assert canonical(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"),
                                          sort_keys=True)


def test_request_hashes_of_huge_integers_fall_back_to_the_json_module():
    assert canonical({"b": 2**70, "a": [-(2**65)]}) == f'{{"a":[{-(2**65)}],"b":{2**70}}}'


def test_a_chunked_body_is_graded_and_a_short_one_refused(app, client, world):
    """A body without Content-Length (chunked) is read to its end; one shorter than its
    Content-Length (the client left) is a 400, recording nothing."""
    path, answers = _grade_path(world)
    body = json.dumps({"answers": answers}).encode()
    response = client.post(f"{PREFIX}{path}", input_stream=io.BytesIO(body),
                           content_type="application/json",
                           headers={"Authorization": f"Bearer {world.key}",
                                    "Idempotency-Key": "chunked-1",
                                    "Transfer-Encoding": "chunked"},
                           environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 201, response.get_data(as_text=True)
    before = count(app, ApiGrade)
    response = client.post(f"{PREFIX}{path}", input_stream=io.BytesIO(body[:-5]),
                           content_type="application/json",
                           headers={"Authorization": f"Bearer {world.key}",
                                    "Idempotency-Key": "short-1",
                                    "Content-Length": str(len(body))})
    assert response.status_code == 400, response.get_data(as_text=True)
    assert error_of(response)["message"]
    assert count(app, ApiGrade) == before


@pytest.mark.parametrize("route", ["/solve", "grade"])
def test_a_chunked_body_over_the_limit_is_a_413_not_cut_and_parsed(app, client, world, route):
    """Without Content-Length the body is read one byte past MAX_CONTENT_LENGTH to know it
    is too large; werkzeug alone would cut it at the limit and parse the valid prefix."""
    limit = app.config["MAX_CONTENT_LENGTH"]
    if route == "grade":
        path, answers = _grade_path(world)
        head = json.dumps({"answers": answers})
    else:
        path, head = "/solve", '{"input": [8, 8, 3], "layers": []}'
    before = count(app, ApiGrade)
    for size, status in ((limit + 1, 413), (limit, 201 if route == "grade" else 200)):
        body = (head + " " * (size - len(head) - 1) + ("x" if status == 413 else " ")).encode()
        assert len(body) == size
        response = client.post(f"{PREFIX}{path}", input_stream=io.BytesIO(body),
                               content_type="application/json",
                               headers={"Authorization": f"Bearer {world.key}",
                                        "Idempotency-Key": f"chunked-{size}",
                                        "Transfer-Encoding": "chunked"},  # no Content-Length
                               environ_overrides={"wsgi.input_terminated": True})
        assert response.status_code == status, response.get_data(as_text=True)[:300]
        if status == 413:
            assert "too large" in error_of(response)["message"]
    assert count(app, ApiGrade) == before + (route == "grade")
